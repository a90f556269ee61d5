"""mhzoo.export: TFLite export (float, PTQ, QAT), metadata, fidelity and hardware compatibility."""
