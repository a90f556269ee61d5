"""mhzoo.benchmarks: the multi-hardware latency harness (targets, store, MN-Norm, reports)."""
