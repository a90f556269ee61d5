"""Recompute the README's deterministic figures (counts, space sizes, rule facts).

Everything here is computed, not timed, so it is the same on every machine:

- Multi-AVG 0.75 under the TuNAS rounding rule (``divisible_by=32``) and the default rule;
- the search spaces' decision counts and sizes (log10, distinct / raw product);
- how many compatibility rule entries are marked ``"unverified"``;
- the Edge TPU single-subgraph CPU share of MobileNetV3 Large (int8_full, 96x96 input).

    python benchmarks/perf/readme_facts.py [--out benchmarks/perf/results/readme_facts.md]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def count_unverified(node: object) -> int:
    """Number of dict entries carrying an ``"unverified"`` key, anywhere in a JSON tree."""
    if isinstance(node, dict):
        return int("unverified" in node) + sum(count_unverified(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_unverified(v) for v in node)
    return 0


def edgetpu_cpu_share(input_size: int = 96) -> dict:
    """Edge TPU CPU share of an int8_full MobileNetV3 Large export (random weights)."""
    import mhzoo
    from mhzoo.benchmarks.exporting import captured_output
    from mhzoo.export import to_tflite

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, input_size, input_size, 3)).astype(np.float32)
    with captured_output(), tempfile.TemporaryDirectory() as tmp:
        model = mhzoo.build("mobilenet_v3_large", input_shape=(input_size, input_size, 3))
        res = to_tflite(model, Path(tmp) / "v3l.tflite", quant="int8_full",
                        representative_data=images, fidelity_images=2)
    return res.compatibility.targets["edgetpu"].cpu_share


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "readme_facts.md")
    args = ap.parse_args()

    import mhzoo
    from mhzoo.search import get_space, list_spaces

    lines = ["# README facts, recomputed", "",
             "`python benchmarks/perf/readme_facts.py` (computed, not timed: the same on every "
             "machine).", "", "## Multi-AVG 0.75", "",
             "| rule | params (M) | MAdds (M) |", "|---|---:|---:|"]
    for label, kw in (("divisible_by=32 (TuNAS)", {"divisible_by": 32}), ("default", {})):
        prof = mhzoo.profile("multi_avg", 0.75, **kw)
        lines.append(f"| {label} | {prof.params_m:.3f} | {prof.madds_m:.1f} |")
    lines += ["", "## Search spaces", "",
              "| space | decisions | size log10 (distinct) | raw product log10 |",
              "|---|---:|---:|---:|"]
    for name in list_spaces():
        sp = get_space(name)
        lines.append(f"| {name} | {len(sp.decisions)} | {sp.size_log10:.1f} | "
                     f"{sp.raw_size_log10:.1f} |")
    rules = REPO / "export" / "rules"
    n_unverified = sum(count_unverified(json.loads(p.read_text()))
                       for p in sorted(rules.glob("*.json")))
    lines += ["", f"## Compatibility rules: {n_unverified} entries marked \"unverified\"", ""]
    share = edgetpu_cpu_share(96)
    lines += ["## Edge TPU single subgraph, mobilenet_v3_large int8_full at 96x96", "",
              f"- first op on the CPU: {share['first_cpu_op']['op']}",
              f"- share of ops on the CPU: {100 * share['ops']:.1f} %",
              f"- share of MAdds on the CPU: {100 * share['madds']:.1f} %", ""]
    text = "\n".join(lines)
    from mhzoo.atomic import atomic_write_text

    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
