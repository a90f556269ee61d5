"""Issue 18 acceptance point 1: latency-only sanity of the real ``cpu-proxy`` preset.

With the accuracy term constant, the search's own controller (``mhzoo.search.tunas.controller``),
reward (eq. 7 / eq. 8) and in-graph cost, and the ``cpu-proxy`` preset's controller settings
(steps, samples per step, RL learning rate, delay, warm-ups), on the full ``multi_hardware``
space with the committed CPU cost models: for one target at the 10th and one at the 50th
percentile of random architectures' MN-Norm (computed from the same models over seeded
uniform samples), the argmax architecture must land within +-3 % of the target with a mean top
probability >= 0.9 (``mhzoo.search.tunas.convergence.report``, tolerance 0.03). No supernet.

Writes ``benchmarks/perf/results/latency_only_acceptance.md`` and ``.json`` (the command, the
cost models' digests, the factors, the percentiles, one row per case and seed). Nothing here is
a timing figure.

::

    python benchmarks/perf/latency_only_acceptance.py [--seeds 0,1,2,3] [--samples 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[2]
COSTS = ROOT / "benchmarks" / "data" / "costmodels"
OUT = ROOT / "benchmarks" / "perf" / "results" / "latency_only_acceptance"


def factors_ms() -> tuple[dict[str, float], str]:
    """MN-Norm factors and where they come from (reference_ms.json beside the cost models when
    committed, else the cpu-proxy search record's MobileNetV1 latencies on this machine)."""
    from mhzoo.search.cost.folder import read_reference

    ref = read_reference(COSTS)
    if ref is not None:
        return ({t: float(v) for t, v in ref["factors_ms"].items()},
                str((COSTS / "reference_ms.json").relative_to(ROOT)))
    src = ROOT / "benchmarks/perf/results/search_cpu_proxy.json"
    rec = json.loads(src.read_text())
    return {t: float(v) for t, v in rec["factors_ms"].items()}, str(src.relative_to(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2,3", help="controller seeds (comma list)")
    ap.add_argument("--samples", type=int, default=20000,
                    help="random architectures for the percentiles")
    ap.add_argument("--preset", default="cpu-proxy")
    ap.add_argument("--out", default=str(OUT), help="output path without suffix")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds must be integers separated by commas, got {args.seeds!r}")
    if not seeds:
        ap.error("--seeds is empty")
    if args.samples < 100:
        ap.error("--samples must be >= 100")

    from mhzoo.atomic import atomic_write_text
    from mhzoo.search import get_space
    from mhzoo.search.cost.folder import load_cost_models, model_digest
    from mhzoo.search.tunas.config import get_search_preset
    from mhzoo.search.tunas.latency_only import (
        TOLERANCE,
        percentile_targets,
        random_mn_norm,
        run_case,
        summary_row,
    )
    from mhzoo.search.tunas.step import controller_settings

    space = get_space("multi_hardware")
    files = [COSTS / "multi_hardware_cpu_fp32.json", COSTS / "multi_hardware_cpu_int8.json"]
    models = load_cost_models(files, space)
    factors, factors_from = factors_ms()
    config = get_search_preset(args.preset)
    values = random_mn_norm(space, models, factors, samples=args.samples, seed=1)
    targets = percentile_targets(values, [10, 50])
    rows = []
    for mode in ("avg", "max"):
        for pct in ("p10", "p50"):
            for seed in seeds:
                rep = run_case(space, models, factors, mode=mode, target=targets[mode][pct],
                               config=config, seed=seed)
                row = {"mode": mode, "eq": 7 if mode == "avg" else 8, "percentile": pct,
                       **summary_row(rep)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    command = "python " + " ".join(shlex.quote(a) for a in [
        str(Path(__file__).resolve().relative_to(ROOT)), *(argv if argv is not None
                                                          else sys.argv[1:])])
    ok = [r for r in rows if r["converged"]]
    data = {"command": command, "preset": args.preset, "settings": controller_settings(config),
            "cost_models": model_digest(models), "factors_ms": factors,
            "factors_from": factors_from, "percentile_samples": args.samples,
            "targets": targets, "tolerance": TOLERANCE, "rows": rows,
            "passed": len(ok), "total": len(rows)}
    out = Path(args.out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(data, indent=1) + "\n")
    lines = [
        "# Latency-only acceptance of the `cpu-proxy` preset (issue 18, point 1)", "",
        f"Command (repository root): `{command}`", "",
        f"Controller settings of `{args.preset}` (one replica): "
        + ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in data["settings"].items())
        + f". Cost models: `{files[0].name}`, `{files[1].name}` (committed; digests in the "
          f".json). MN-Norm factors {factors} from `{factors_from}`. Accuracy constant (1.0); "
          "the product's Controller, reward (eq. 7 / 8, beta -0.07) and in-graph cost; no "
          "supernet.", "",
        f"Targets: percentiles of {args.samples:,} uniformly random architectures' predicted "
        "MN-Norm (seed 1): "
        + "; ".join(f"eq. {7 if m == 'avg' else 8} p10 {t['p10']:.4f}, p50 {t['p50']:.4f}"
                    for m, t in targets.items()) + ".", "",
        f"Acceptance: argmax MN-Norm within +-{TOLERANCE:.0%} of the target and mean top "
        "probability (decisions active in the argmax) >= 0.9. "
        f"**{len(ok)} / {len(rows)} cases x seeds pass.**", "",
        "| eq. | target | seed | mean top (active) | mean top (all) | argmax MN-Norm | target "
        "| error | samples mean | samples within 3 % | converged |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['eq']} | {r['percentile']} | {r['seed']} | {r['mean_top_active']:.3f} | "
            f"{r['mean_top_all']:.3f} | {r['argmax']:.4f} | {r['target']:.4f} | "
            f"{r['argmax_rel_err']:+.2%} | {r['samples_mean']:.4f} | "
            f"{r['samples_within_tol']:.3f} | {'yes' if r['converged'] else '**no**'} |")
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    print(f"{len(ok)}/{len(rows)} converged -> {out.with_suffix('.md')}")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
