"""Latency cost models (numpy only): the TuNAS linear model on the one feature implementation,
an additive block lookup table, a kernel-level additive model compiled into linear weights,
simulated targets' exact models, quality metrics, multi-hardware MN-Norm cost, few-shot models
for new devices, datasets, and the cost-model folder the search reads.

::

    from mhzoo.search.cost import LinearCostModel, load_dataset, quality
    data = load_dataset("lat.csv")
    train, test = data.rows(":1000"), data.rows("1000:")
    model = LinearCostModel.fit(data.space, train.genotypes, train.y("cpu_fp32"), "cpu_fp32")
    quality(test.y("cpu_fp32"), model.predict(test.genotypes))
    model.save("cpu_fp32.json")
"""

from typing import Any

from mhzoo.search.cost.base import CostModel, load_model, model_kinds
from mhzoo.search.cost.data import Dataset, load_dataset, write_dataset_csv
from mhzoo.search.cost.features import (
    feature_matrix,
    feature_size,
    features_from_masks,
    genotype_features,
    masks_of,
)
from mhzoo.search.cost.fewshot import few_shot_curve
from mhzoo.search.cost.folder import load_cost_models
from mhzoo.search.cost.kernel import KernelCostModel
from mhzoo.search.cost.linear import LinearCostModel
from mhzoo.search.cost.lut import BlockLUTModel
from mhzoo.search.cost.metrics import kendall_tau, quality, scatter_plot, spearman_rho
from mhzoo.search.cost.multi import MultiHardwareCost

__all__ = ["BlockLUTModel", "CostModel", "Dataset", "KernelCostModel", "LinearCostModel",
           "MultiHardwareCost",
           "feature_matrix", "feature_size", "features_from_masks", "few_shot_curve",
           "genotype_features", "kendall_tau", "load_cost_models", "load_dataset", "load_model",
           "masks_of", "model_kinds", "quality", "scatter_plot", "spearman_rho",
           "write_dataset_csv"]


def __getattr__(name: str) -> Any:
    # moved in 0.x: latency measurement lives in mhzoo.search.latency (cost/ is numpy only)
    if name == "reference_factors":
        import warnings

        warnings.warn("mhzoo.search.cost.reference_factors moved to "
                      "mhzoo.search.latency.reference_factors", DeprecationWarning, stacklevel=2)
        from mhzoo.search.latency.reference import reference_factors

        return reference_factors
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
