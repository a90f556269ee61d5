"""One layer through ZigZag: cycles of a :class:`~mhzoo.benchmarks.simulated.layers.SimLayer`
on a simulated target's hardware and mapping files.

ZigZag (``zigzag-dse``, KU Leuven, MIT licence) searches the spatial and temporal mapping of
one layer on an accelerator description and returns its latency in cycles. Here it runs
without its result dumps: parse the layer and the target files, pick the spatial mapping(s),
search temporal mappings with LOMA (deterministic; ``lpf_limit`` sets its search depth), keep
the lowest-latency evaluation. ZigZag picks a mapping entry by layer name first, then falls
back to ``default``: layers are named ``depthwise``, ``conv`` (regular k x k, k > 1) or
``pointwise`` (1x1 and dense), with ``_k<kernel>`` appended where the target's mapping file has
an entry of that name (e.g. ``depthwise_k3``: arrays whose depthwise packing depends on the
kernel), see :func:`mapping_entry`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from mhzoo.benchmarks.simulated.layers import SimLayer, UnsupportedLayerError

__all__ = ["DEPTHWISE_MAPPING", "mapping_entries", "mapping_entry", "zigzag_cycles", "zigzag_layer",
           "zigzag_version"]

#: name of the mapping entry used for depthwise layers
DEPTHWISE_MAPPING = "depthwise"


@functools.cache
def zigzag_version() -> str:
    """Version of the installed ``zigzag-dse`` (``ValueError`` when it is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zigzag-dse")
    except PackageNotFoundError:
        raise ValueError("the simulator needs zigzag-dse (pip install zigzag-dse six)") from None


@contextlib.contextmanager
def _quiet_zigzag() -> Iterator[None]:
    """ZigZag logs every stage at INFO and warns about defaulted mappings: keep it quiet."""
    log = logging.getLogger("zigzag")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


@functools.lru_cache(maxsize=64)
def _entry_names(mapping_yaml: str) -> frozenset[str]:
    import yaml

    data = yaml.safe_load(mapping_yaml)
    if not isinstance(data, list):
        return frozenset()
    return frozenset(str(e["name"]) for e in data if isinstance(e, dict) and "name" in e)


def mapping_entry(layer: SimLayer, entries: Iterable[str] = ()) -> str:
    """The mapping entry a layer asks for (ZigZag falls back to ``default`` when the file has
    no entry of that name): ``depthwise``, ``conv`` (a regular k x k conv, k > 1) or
    ``pointwise`` (1x1 convs and dense layers); ``<that>_k<kernel>`` instead when ``entries``
    (the names in the mapping file) has it."""
    if layer.depthwise:
        base = DEPTHWISE_MAPPING
    else:
        base = "conv" if layer.kernel > 1 else "pointwise"
    per_kernel = f"{base}_k{layer.kernel}"
    return per_kernel if per_kernel in set(entries) else base


def mapping_entries(mapping: str) -> frozenset[str]:
    """Names of the entries of a ZigZag mapping file (read each call: an edited file counts)."""
    from pathlib import Path

    return _entry_names(Path(mapping).read_text())


def zigzag_layer(layer: SimLayer, precision: dict[str, int],
                 entries: Iterable[str] = ()) -> dict[str, Any]:
    """ZigZag's workload dict of one conv layer (loop dims B, K, G, OX, OY, C, FX, FY);
    ``entries``: the mapping file's entry names (see :func:`mapping_entry`)."""
    if layer.kind != "conv":
        raise UnsupportedLayerError(f"layer type {layer.kind!r} is not costed by ZigZag")
    oh, ow = layer.out_hw
    g = layer.groups
    t, b, left, r = layer.pad
    return {
        "id": 0,
        "name": mapping_entry(layer, entries),
        "operator_type": "Conv",
        "equation": "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]",
        "dimension_relations": [f"ix={layer.stride}*ox+1*fx", f"iy={layer.stride}*oy+1*fy"],
        "loop_dims": ["B", "K", "G", "OX", "OY", "C", "FX", "FY"],
        "loop_sizes": [1, layer.c_out // g, g, ow, oh, layer.c_in // g, layer.kernel,
                       layer.kernel],
        "operand_precision": {k: int(v) for k, v in precision.items()},
        "operand_source": {"I": 0, "W": 0},
        "pr_loop_dims": ["IX", "IY"],
        "pr_loop_sizes": [layer.w, layer.h],
        "padding": [[left, r], [t, b]],
    }


def zigzag_cycles(layer: SimLayer, hardware: str, mapping: str, precision: dict[str, int], *,
                  lpf_limit: int = 6, nb_spatial_mappings: int = 3) -> int:
    """Latency in cycles of one conv layer (ZigZag's ``latency_total2``: computation plus the
    on- and off-loading of the layer's data from DRAM).

    Args:
        layer: a ``conv`` layer.
        hardware, mapping: paths of the target's ZigZag hardware and mapping YAML files.
        precision: operand precisions in bits, ``{"W", "I", "O", "O_final"}``.
        lpf_limit: LOMA's search depth (loop prime factors).
        nb_spatial_mappings: spatial mappings tried where the mapping file leaves a choice.
    """
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
    from zigzag.stages.main import MainStage
    from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
    from zigzag.stages.mapping.temporal_mapping_generator_stage import (
        TemporalMappingGeneratorStage,
    )
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
    from zigzag.stages.parser.workload_parser import WorkloadParserStage
    from zigzag.stages.results.reduce_stages import MinimalLatencyStage
    from zigzag.stages.workload_iterator import WorkloadStage

    stages = [WorkloadParserStage, AcceleratorParserStage, WorkloadStage, MinimalLatencyStage,
              SpatialMappingGeneratorStage, MinimalLatencyStage, TemporalMappingGeneratorStage,
              CostModelStage]
    with _quiet_zigzag():
        workload = [zigzag_layer(layer, precision, mapping_entries(mapping))]
        main = MainStage(stages, accelerator=str(hardware), workload=workload,
                         mapping=str(mapping), loma_lpf_limit=int(lpf_limit),
                         loma_show_progress_bar=False,
                         nb_mappings_generated=int(nb_spatial_mappings),
                         enable_mix_spatial_mapping_generation=False,
                         access_same_data_considered_as_no_access=True,
                         temporal_mapping_type=TemporalMappingType("uneven"))
        answers = main.run()
    if not answers:
        raise UnsupportedLayerError(f"ZigZag found no mapping for layer {layer.key}")
    cycles = float(answers[0][0].latency_total2)
    return round(cycles)
