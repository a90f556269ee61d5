"""Latency cost models (numpy): TuNAS linear model, additive block lookup table, quality
metrics, multi-hardware MN-Norm cost and few-shot models for new devices.

::

    from mhzoo.search.cost import LinearCostModel, load_dataset, quality
    data = load_dataset("lat.csv")
    train, test = data.rows(":1000"), data.rows("1000:")
    model = LinearCostModel.fit(data.space, train.genotypes, train.y("cpu_fp32"), "cpu_fp32")
    quality(test.y("cpu_fp32"), model.predict(test.genotypes))
    model.save("cpu_fp32.json")
"""

from mhzoo.search.cost.base import CostModel, load_model, model_kinds
from mhzoo.search.cost.data import Dataset, load_dataset, write_dataset_csv
from mhzoo.search.cost.fewshot import few_shot_curve
from mhzoo.search.cost.linear import (
    LinearCostModel,
    feature_matrix,
    features_from_masks,
    masks_of,
)
from mhzoo.search.cost.lut import BlockLUTModel
from mhzoo.search.cost.multi import MultiHardwareCost, reference_factors
from mhzoo.search.cost.quality import kendall_tau, quality, scatter_plot, spearman_rho

__all__ = ["BlockLUTModel", "CostModel", "Dataset", "LinearCostModel", "MultiHardwareCost",
           "feature_matrix", "features_from_masks", "few_shot_curve", "kendall_tau",
           "load_dataset", "load_model", "masks_of", "model_kinds", "quality",
           "reference_factors", "scatter_plot", "spearman_rho", "write_dataset_csv"]
