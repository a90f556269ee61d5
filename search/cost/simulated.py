"""Exact cost models of simulated targets (``sim_edgetpu``, ``sim_npu``, ...): one job, compile
the simulator's latency into the TuNAS linear model's weights.

A simulated model's latency is the sum of its layers' cycles from the target's lookup table
(:func:`mhzoo.benchmarks.simulate_spec`) over the clock, and a block's layers depend only on the
block and its input (resolution, width, the spec's padding). So each feature column's weight is
the simulated cost of the block that column emits
(:func:`mhzoo.search.cost.linear.column_blocks`), and the bias is the rest (fixed slots, head):
the :class:`~mhzoo.search.cost.linear.LinearCostModel` predicts exactly ``simulate_spec`` for
every genotype, nothing is fitted. The model records the ZigZag version and the target files'
hash it was compiled with; :func:`check_simulated_model` refuses it when either changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mhzoo.search.cost.features import feature_matrix
from mhzoo.search.cost.linear import LinearCostModel, column_blocks
from mhzoo.search.space import Space
from mhzoo.spec import ArchSpec, Conv

__all__ = ["block_layers", "check_simulated_model", "simulated_cost_model"]


def block_layers(block: Any, res: int, cin: int, padding: str = "same") -> list[Any]:
    """The simulator's layers (:class:`mhzoo.benchmarks.simulated.SimLayer`) of one block with
    input ``res`` x ``res`` x ``cin``, as :func:`mhzoo.benchmarks.simulated.spec_layers` makes
    them inside a whole spec with ``padding``."""
    from mhzoo.benchmarks.simulated import spec_layers

    plain = replace(block, endpoint=False) if hasattr(block, "endpoint") else block
    # an ArchSpec starts with a conv: a 1x1 identity-width probe, then keep block 1's layers
    probe = ArchSpec("block", (Conv(cin, 1, 1, "relu"), plain), padding=padding)
    return [lay for lay in spec_layers(probe, res, None, in_channels=cin)
            if lay.name.startswith("block1_")]


def simulated_cost_model(space: Space, target: str, *, compute: bool = True,
                         machine: str = "") -> LinearCostModel:
    """The exact linear cost model of simulated ``target`` on ``space`` (module docstring).

    ``compute=False``: only the lookup tables (shipped and cached), a ``KeyError`` naming a
    layer missing from them; ``True``: missing layers are simulated with ZigZag (slow) and
    cached.
    """
    from mhzoo.benchmarks.simulated import get_sim_target, layer_cycles, simulate_spec
    from mhzoo.benchmarks.simulated.engine import zigzag_version

    st = get_sim_target(target)
    size = int(space.options.get("input_size") or 224)
    classes = int(getattr(space, "num_classes", 1000))
    ref = space.genotype([0] * len(space.decisions))
    padding = space.decode(ref).padding
    blocks: list[list[Any]] = []

    def block_id(block: Any, res: int, cin: int) -> float:  # called once per distinct block
        blocks.append(block_layers(block, res, cin, padding))
        return float(len(blocks))

    ids = column_blocks(space, block_id, 1, size)[:, 0].astype(int)
    cycles = layer_cycles([lay for bl in blocks for lay in bl], st, compute=compute)
    scale = st.clock_mhz * 1e3
    cost = np.array([0.0] + [sum(cycles[lay.key] for lay in bl) / scale for bl in blocks])
    w = cost[ids]
    total = simulate_spec(space.decode(ref), st, input_size=size, num_classes=classes,
                          compute=compute).ms
    bias = total - float(feature_matrix(space, [ref])[0] @ w)
    info = {"simulated": True,
            "compiled_from": {"kind": "simulated",
                              "sim_target": {k: v for k, v in st.to_dict().items()
                                             if k != "folder"},  # no machine-local path
                              "zigzag_version": zigzag_version(), "blocks": len(blocks)}}
    return LinearCostModel(space, st.name, w, bias, machine=machine, info=info)


def check_simulated_model(model: Any) -> None:
    """``ValueError`` (one line) when ``model`` was compiled for a simulated target with
    another ZigZag version or other target files than the installed ones (refit it); nothing
    for other models."""
    src = (getattr(model, "info", None) or {}).get("compiled_from") or {}
    if not isinstance(src, dict) or src.get("kind") != "simulated":
        return
    from mhzoo.benchmarks.simulated import get_sim_target
    from mhzoo.benchmarks.simulated.engine import zigzag_version

    have = (src.get("sim_target") or {}).get("target_sha256")
    if src.get("zigzag_version") != zigzag_version():
        raise ValueError(f"simulated cost model of {model.target} was compiled with ZigZag "
                         f"{src.get('zigzag_version')}, installed {zigzag_version()}: refit it "
                         "(mhzoo search costmodel fit --kind simulated)")
    if have != get_sim_target(model.target).sha256:
        raise ValueError(f"simulated cost model of {model.target} was compiled from other target "
                         "files than the installed ones: refit it "
                         "(mhzoo search costmodel fit --kind simulated)")
