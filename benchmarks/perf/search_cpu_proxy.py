"""The ``cpu-proxy`` multi-hardware search on this machine (issue 11 acceptance), end to end.

1. ``mhzoo search run`` (preset cpu-proxy: CIFAR-10, 32 px, stem stride 1) with eq. 8 (or any
   reward) over the local targets' cost models -> ``DIR/search_<reward>/search_result.json``;
2. the result's measured latency at the deployment size (224 px) on every target, through the
   same timer and writer as the cost models' collection, and its measured MN-Norm against the
   predicted one (acceptance: within 10 %);
3. optionally (``--retrain N``) the result and N random architectures of the space whose
   *predicted* MN-Norm is within 5 % of the result's, each retrained with the training proxy
   recipe under the same time budget, and their test top-1 (the test split, which the search
   never reads) side by side;
4. optionally (``--single``) one single-hardware search (eq. 6) per target, for a Table 2 / 3
   style comparison (search cost = wall time of each search).

Writes ``benchmarks/perf/results/search_cpu_proxy.md`` (and ``.json``), with each search's
convergence verdict (issue 18 acceptance: converged, mean top probability >= 0.9, the argmax's
predicted MN-Norm within 5 % of the target, measured within 10 % of predicted). Every stage is
resumable: rerun the same command after an interruption.

::

    python benchmarks/perf/search_cpu_proxy.py --cost-models benchmarks/data/costmodels \\
        --data ../shared/data/cifar10 --out /tmp/search_cpu_proxy [--retrain 3] [--single]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[2]


def measure(spec, targets, store, size):
    """Latency (ms) of a concrete spec per target: direct writer, thread CPU time (the cost
    models' collection protocol, mhzoo.search.latency.collection)."""
    from mhzoo.benchmarks.measure import measure_spec
    from mhzoo.search.latency.collection import FAST_CONFIG
    from mhzoo.search.latency.cputime import measure_tflite_cpu_time

    return {t: measure_spec(spec, t, store, input_size=size, writer="direct",
                            config=FAST_CONFIG, timer=measure_tflite_cpu_time
                            ).record.median_ms for t in targets}


def search(args, reward, out):
    from mhzoo.search.tunas.loop import run_search

    t0 = time.perf_counter()
    o = run_search(reward=reward, cost_models=args.cost_models, data=args.data, out_dir=out,
                   preset="cpu-proxy", factors=args.factors, mn_norm_target=args.mn_norm_target,
                   overrides={"steps": args.steps} if args.steps else None, seed=args.seed,
                   progress=True)
    return o.result, time.perf_counter() - t0


def similar_random(space, multi, target_f, key, n, seed, tol=0.05, tries=20000):
    rng = random.Random(seed)
    out = []
    for _ in range(tries):
        g = space.sample(rng)
        f = multi.predict([g])[0][key]
        if abs(f / target_f - 1) <= tol:
            out.append((g, f))
            if len(out) == n:
                break
    return out


def retrain(spec, data, out, budget_s, seed):
    from mhzoo.search.training.loop import train

    r = train(spec, data, out, preset="cifar10-proxy", time_budget=budget_s, seed=seed,
              progress=False)
    return r.metrics.get("test_top1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cost-models", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--reward", default="max")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--mn-norm-target", type=float, default=1.0,
                    help="MN-Norm target of the reward (the paper: 1; single:T: x C_T)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", type=int, default=0, help="random architectures to compare")
    ap.add_argument("--retrain-minutes", type=float, default=20.0)
    ap.add_argument("--single", action="store_true", help="eq. 6 search per target too")
    ap.add_argument("--report", type=Path,
                    default=ROOT / "benchmarks" / "perf" / "results" / "search_cpu_proxy.md")
    args = ap.parse_args()

    from mhzoo.atomic import atomic_write_text
    from mhzoo.benchmarks.normalization import mn_norm
    from mhzoo.search.cost import MultiHardwareCost
    from mhzoo.search.cost.folder import load_cost_models, read_reference
    from mhzoo.search.result import result_genotype, result_spec
    from mhzoo.search.space import get_space

    args.out.mkdir(parents=True, exist_ok=True)
    models = load_cost_models(args.cost_models, get_space("multi_hardware"))
    targets = list(models)
    space = next(iter(models.values())).space
    size = int(space.options["input_size"])
    store = args.out / "measured.sqlite"
    ref = read_reference(args.cost_models)
    if ref is not None:
        factors = {t: ref["factors_ms"][t] for t in targets}
    else:  # MobileNetV1 1.0 measured like the cost models' rows
        from mhzoo.registry import get_spec

        factors = measure(get_spec("mobilenet_v1"), targets, store, size)
    args.factors = factors
    multi = MultiHardwareCost(list(models.values()), factors)
    lines = [f"# cpu-proxy search on this machine ({time.strftime('%Y-%m-%d')})", "",
             f"command: `python benchmarks/perf/search_cpu_proxy.py {' '.join(sys.argv[1:])}`",
             f"targets: {', '.join(targets)}; MN-Norm factors (ms): {factors}", ""]
    summary: dict = {"targets": targets, "factors_ms": factors, "searches": {}}
    rewards = [args.reward] + ([f"single:{t}" for t in targets] if args.single else [])
    lines += ["| reward | search wall (min) | genotype | predicted ms | measured ms | "
              "pred. MN-Norm avg / max | meas. MN-Norm avg / max | meas./pred. | converged | "
              "mean top (active) | argmax vs target |",
              "|---|---:|---|---|---|---|---|---:|---|---:|---:|"]
    for rw in rewards:
        res, wall = search(args, rw, args.out / f"search_{rw.replace(':', '_')}")
        spec = result_spec(res)
        ms = measure(spec, targets, store, size)
        m = mn_norm(ms, factors)
        p = res["predicted"]
        key = "mn_norm_max" if rw == "max" else "mn_norm_avg"
        ratio = (m.max if rw == "max" else m.avg) / p[key]
        conv = res.get("convergence") or {}
        summary["searches"][rw] = {"wall_s": wall, "genotype": res["genotype_string"],
                                   "predicted": p, "measured_ms": ms,
                                   "measured_mn_norm": {"avg": m.avg, "max": m.max},
                                   "measured_over_predicted": ratio,
                                   "convergence": {k: conv.get(k) for k in (
                                       "converged", "thresholds", "mean_top_probability",
                                       "cost", "undecided")},
                                   "splits": res.get("splits")}
        top = (conv.get("mean_top_probability") or {}).get("active_in_argmax")
        err = (conv.get("cost") or {}).get("argmax_rel_err")
        fmt = ", ".join
        lines.append(
            f"| {rw} | {wall / 60:.1f} | `{res['genotype_string'].split(':', 1)[1]}` | "
            f"{fmt(f'{v:.2f}' for v in p['latency_ms'].values())} | "
            f"{fmt(f'{v:.2f}' for v in ms.values())} | "
            f"{p['mn_norm_avg']:.3f} / {p['mn_norm_max']:.3f} | {m.avg:.3f} / {m.max:.3f} | "
            f"{ratio:.3f} | {conv.get('converged')} | "
            f"{'-' if top is None else f'{top:.3f}'} | "
            f"{'-' if err is None else f'{err:+.1%}'} |")
    if args.retrain:
        main_res = json.loads((args.out / f"search_{args.reward}" / "search_result.json"
                               ).read_text())
        key = "mn_norm_max" if args.reward == "max" else "mn_norm_avg"
        f0 = main_res["predicted"][key]
        rows = [("searched", result_genotype(main_res), f0)]
        rows += [(f"random {i}", g, f) for i, (g, f) in enumerate(
            similar_random(space, multi, f0, key, args.retrain, args.seed))]
        lines += ["", f"Retrained with the cifar10-proxy recipe, {args.retrain_minutes:g} "
                  "minutes each (same budget):", "",
                  f"| architecture | predicted {key} | test top-1 |", "|---|---:|---:|"]
        summary["retrained"] = []
        for label, g, f in rows:
            folder = args.out / f"train_{label.replace(' ', '_')}"
            top1 = retrain(space.decode(g), args.data, folder, 60 * args.retrain_minutes,
                           args.seed)
            summary["retrained"].append({"label": label, "genotype": g.to_string(),
                                         key: f, "test_top1": top1})
            lines.append(f"| {label} | {f:.3f} | {top1:.4f} |")
    atomic_write_text(args.report, "\n".join(lines) + "\n")
    atomic_write_text(args.report.with_suffix(".json"), json.dumps(summary, indent=1,
                                                                   default=str) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
