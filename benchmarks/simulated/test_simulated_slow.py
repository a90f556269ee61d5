"""Simulation-heavy checks of the simulated targets (minutes of ZigZag): marked ``slow``.

    python -m pytest benchmarks/simulated/test_simulated_slow.py -m slow -q

* shipped tables: a seeded sample of entries recomputed with ZigZag gives the same cycles;
* a whole network given to ZigZag as one workload (its own per-layer loop, summed by its
  SumStage) costs exactly the sum of the table's layers: nothing is shared between layers,
  so a per-layer lookup table is exact.
"""

from __future__ import annotations

import random

import pytest

from mhzoo.benchmarks.simulated import engine as E
from mhzoo.benchmarks.simulated import (
    get_sim_target,
    shipped_sim_targets,
    simulate_spec,
    spec_layers,
)
from mhzoo.benchmarks.simulated.layers import parse_layer_key
from mhzoo.builder import resolve_spec
from mhzoo.widths import scale_spec

SIM = tuple(shipped_sim_targets())  # every target that ships a table
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", SIM)
def test_shipped_entries_recompute_identically(name):
    st = get_sim_target(name)
    shipped, _ = st.tables()
    assert shipped is not None and len(shipped) > 800
    keys = random.Random(0).sample(sorted(shipped.entries), 12)
    for key in keys:
        got = E.zigzag_cycles(parse_layer_key(key), str(st.hardware), str(st.mapping),
                              st.precision, lpf_limit=st.lpf_limit(parse_layer_key(key)))
        assert got == shipped.entries[key], key


def _network_cycles(layers, st) -> int:
    """All conv layers of a model as ZigZag workloads, through ZigZag's SumStage: one workload
    per search depth the target uses (one for most targets; sim_tpu searches its depthwise
    layers at a reduced depth, see ``SimTarget.lpf_limit``)."""
    by_depth: dict[int, list] = {}
    for lay in layers:
        by_depth.setdefault(st.lpf_limit(lay), []).append(lay)
    return sum(_workload_cycles(lays, st, depth) for depth, lays in sorted(by_depth.items()))


def _workload_cycles(layers, st, lpf_limit: int) -> int:
    """Layers as one ZigZag workload at one search depth, summed by ZigZag's SumStage."""
    from zigzag.mapping.temporal_mapping import TemporalMappingType
    from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage
    from zigzag.stages.main import MainStage
    from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
    from zigzag.stages.mapping.temporal_mapping_generator_stage import (
        TemporalMappingGeneratorStage,
    )
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
    from zigzag.stages.parser.workload_parser import WorkloadParserStage
    from zigzag.stages.results.reduce_stages import MinimalLatencyStage, SumStage
    from zigzag.stages.workload_iterator import WorkloadStage

    workload = []
    entries = E.mapping_entries(str(st.mapping))  # per-kernel entries (sim_tpu) as the table's
    for i, lay in enumerate(layers):
        d = E.zigzag_layer(lay, st.precision, entries)
        d["id"] = i
        d["operand_source"] = {"I": i, "W": i}
        workload.append(d)
    stages = [WorkloadParserStage, AcceleratorParserStage, SumStage, WorkloadStage,
              MinimalLatencyStage, SpatialMappingGeneratorStage, MinimalLatencyStage,
              TemporalMappingGeneratorStage, CostModelStage]
    main = MainStage(stages, accelerator=str(st.hardware), workload=workload,
                     mapping=str(st.mapping), loma_lpf_limit=lpf_limit,
                     loma_show_progress_bar=False,
                     nb_mappings_generated=st.engine.get("nb_spatial_mappings", 3),
                     enable_mix_spatial_mapping_generation=False,
                     access_same_data_considered_as_no_access=True,
                     temporal_mapping_type=TemporalMappingType("uneven"))
    return round(main.run()[0][0].latency_total2)


@pytest.mark.parametrize("name", SIM)
def test_whole_network_in_zigzag_equals_the_sum_of_table_layers(name):
    st = get_sim_target(name)
    spec = scale_spec(resolve_spec("multi_max"), 1.0)
    layers = [lay for lay in spec_layers(spec) if lay.kind == "conv"]
    res = simulate_spec(spec, name, compute=False)
    conv_sum = sum(c for lay, c in zip(res.layers, res.layer_cycles, strict=True)
                   if lay.kind == "conv")
    assert _network_cycles(layers, st) == conv_sum
