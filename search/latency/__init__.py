"""Latency data for cost models: collection of many architectures through the benchmark harness
(:mod:`.collection`; local targets timed, simulated ``sim_*`` targets simulated), shards and
merged stores (:mod:`.shards`), the MN-Norm reference factors
measured here (:mod:`.reference`) and the thread CPU-time clock (:mod:`.cputime`)."""

from mhzoo.search.latency.collection import (
    CLOCKS,
    FAST_CONFIG,
    CollectSummary,
    collect,
    sample_genotypes,
)
from mhzoo.search.latency.cputime import measure_tflite_cpu_time
from mhzoo.search.latency.reference import reference_factors
from mhzoo.search.latency.shards import merge_stores, parse_shard, shard_of, store_dataset

__all__ = ["CLOCKS", "FAST_CONFIG", "CollectSummary", "collect", "measure_tflite_cpu_time",
           "merge_stores", "parse_shard", "reference_factors", "sample_genotypes", "shard_of",
           "store_dataset"]
