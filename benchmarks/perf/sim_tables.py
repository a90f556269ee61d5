"""Build the shipped lookup tables of the simulated targets (the harness's own command,
``python -m mhzoo.benchmarks.simulated.build_lut``, with the search space's layers added).

::

    nice -n 10 python benchmarks/perf/sim_tables.py --target sim_edgetpu,sim_npu,sim_tpu --jobs 2
    nice -n 10 python benchmarks/perf/sim_tables.py --target sim_edgetpu --check 3 \\
        --check-output benchmarks/perf/results/sim_lut_check.json

The layers: the distinct layers of ``--samples`` seeded random ``multi_hardware``
architectures (224 px; their 879 distinct conv shapes saturate after a few thousand samples)
and the zoo's models (``build_lut.zoo_layers``). Resumable and atomic (see ``build_lut``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from mhzoo.benchmarks.simulated import list_sim_targets
from mhzoo.benchmarks.simulated.build_lut import main as build_main
from mhzoo.benchmarks.simulated.build_lut import zoo_layers
from mhzoo.benchmarks.simulated.layers import SimLayer, spec_layers
from mhzoo.search import get_space


def space_layers(space: str = "multi_hardware", samples: int = 5000, seed: int = 0,
                 input_size: int = 224) -> list[SimLayer]:
    """Distinct layers of ``samples`` seeded random architectures of a search space."""
    sp = get_space(space, input_size=input_size)
    rng = random.Random(seed)
    out: dict[str, SimLayer] = {}
    for _ in range(samples):
        for lay in spec_layers(sp.decode(sp.sample(rng)), input_size, 1000):
            out.setdefault(lay.key, lay)
    return list(out.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default=",".join(list_sim_targets()))
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--check", type=int, default=0)
    ap.add_argument("--check-output", default=None)
    ap.add_argument("--rebuild", action="store_true")
    a = ap.parse_args()
    layers = zoo_layers() + space_layers(samples=a.samples, seed=a.seed)  # zoo first
    keys = list(dict.fromkeys(lay.key for lay in layers if lay.kind == "conv"))
    with tempfile.TemporaryDirectory() as tmp:
        kf = Path(tmp) / "keys.txt"
        kf.write_text("\n".join(keys) + "\n")
        argv = ["--target", a.target, "--keys", str(kf), "--jobs", str(a.jobs)]
        if a.check:
            argv += ["--check", str(a.check)]
        if a.check_output:
            argv += ["--check-output", a.check_output]
        if a.rebuild:
            argv.append("--rebuild")
        return build_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
