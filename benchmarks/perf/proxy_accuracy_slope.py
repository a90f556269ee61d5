"""The ``cpu-proxy`` supernet's accuracy-for-latency exchange rate around a search's result:
what the reward slope ``beta`` (paper eq. 6-8) must outweigh for the argmax to stay at the
MN-Norm target.

With the absolute reward ``Q + beta * |c / c0 - 1|``, a controller sitting above the target
moves to a one-decision neighbour that costs ``d = (c' - c) / c0`` more (relative to the
target) whenever its accuracy gain exceeds ``|beta| * d``. This script restores a finished
search's supernet, evaluates its argmax and every one-decision neighbour on the same
search-validation images (paired, so the split's noise cancels in the differences) and
reports the exchange rates ``gain / d`` of the costlier neighbours that gain accuracy.

    python benchmarks/perf/proxy_accuracy_slope.py --run runs/search18_max \\
        --cost-models benchmarks/data/costmodels/multi_hardware_cpu_fp32.json \\
        --cost-models benchmarks/data/costmodels/simulated/multi_hardware_sim_edgetpu.json \\
        --cost-models benchmarks/data/costmodels/simulated/multi_hardware_sim_npu.json \\
        --data ../shared/data/cifar10 --images 2000 --report proxy_accuracy_slope

Reads only the search-validation split (the controller's reward split), never the test split.
The supernet's batch norm is stateless (batch statistics, as in the search), so the accuracy
depends a little on the chunk size: 500 images here against 64 per sampled path in the search.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def _setup(run: Path, cost_models: list[str], data: str
           ) -> tuple[Any, Any, list[int], list[str]]:
    import tensorflow as tf

    from mhzoo.benchmarks.normalization import mn_norm_scales
    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.request import SearchRequest, prepare_search
    from mhzoo.search.tunas.step import SearchStep

    rec = json.loads((run / "run.json").read_text())["request"]
    result = json.loads((run / "search_result.json").read_text())
    req = SearchRequest(reward=rec["reward"]["name"], cost_models=tuple(cost_models),
                        data=str(Path(data).resolve()),
                        mn_norm_target=rec["reward"]["mn_norm_target"], seed=rec["seed"],
                        overrides={"beta": rec["config"]["beta"]},  # a run of an older preset
                        progress=False, plots=False)
    p = prepare_search(req)
    cost = InGraphCost(p.models)
    step = SearchStep(p.space, cost, p.make_reward(cost), p.config, tf.distribute.get_strategy(),
                      num_classes=p.source.num_classes, global_batch=rec["global_batch"],
                      total_steps=rec["total_steps"],
                      steps_per_epoch=p.n_train // rec["global_batch"],
                      norm_scales=mn_norm_scales(p.factors, None), seed=rec["seed"])
    from mhzoo.search import runs

    mine = p.record(1, rec["global_batch"], rec["total_steps"])
    warnings = []
    for key in runs.SEARCH.identity or ():  # the same search the run recorded, or stop
        diff = runs.first_difference(runs.without_notes(rec.get(key)),
                                     runs.without_notes(mine.get(key)), key)
        if diff and key in ("cost_models", "factors"):  # the costs are re-predicted: say so
            warnings.append(f"the neighbours' costs use other cost models than the run ({diff})")
        elif diff:
            raise ValueError(f"these inputs rebuild another search than {run} ({diff})")
    latest = tf.train.latest_checkpoint(str(run / "checkpoints"))
    if latest is None:
        raise ValueError(f"no checkpoint in {run / 'checkpoints'}")
    step.checkpoint().restore(latest).assert_existing_objects_matched()
    return p, step, list(result["proxy_genotype"]["indices"]), warnings


def _images(p: Any, n: int) -> tuple[Any, Any]:
    from mhzoo.search.training import data as data_lib

    r = p.config.shared
    ds = data_lib.make_dataset(p.source, mask=p.valid_mask, training=False, batch_size=250,
                               image_size=r.image_size, augmentation=r.augmentation,
                               crop_fraction=r.crop_fraction, pad=r.pad)
    xs, ys = [], []
    for x, y in ds:
        keep = y.numpy() >= 0
        xs.append(x.numpy()[keep])
        ys.append(y.numpy()[keep])
        if sum(len(v) for v in ys) >= n:
            break
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def measure(run: Path, cost_models: list[str], data: str, n_images: int) -> dict[str, Any]:
    """Accuracy and predicted MN-Norm (of the reward's kind) of the argmax and its neighbours."""
    import tensorflow as tf

    p, step, best, warnings = _setup(run, cost_models, data)
    x, y = _images(p, n_images)
    xt, yt = tf.constant(x), tf.constant(y, tf.int64)
    kind = "mn_norm_max" if p.request.objective.name == "max" else "mn_norm_avg"
    target = float(p.request.mn_norm_target)

    @tf.function
    def evaluate(flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        hits = tf.constant(0.0)
        for i in range(0, len(y), 500):
            logits = step.supernet(xt[i:i + 500], flat, training=False)
            hits += tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), yt[i:i + 500]),
                                          tf.float32))
        return hits / float(len(y)), step._costs(flat[None])[kind][0]

    def score(indices: list[int]) -> tuple[float, float]:
        flat = tf.concat(step.supernet.masks_of(indices), 0)
        acc, c = evaluate(flat)
        return float(acc), float(c)

    acc0, c0 = score(best)
    rows = []
    for d, dec in enumerate(p.space.decisions):
        for choice in range(len(dec.choices)):
            if choice == best[d]:
                continue
            alt = list(best)
            alt[d] = choice
            acc, c = score(alt)
            rows.append({"decision": d, "name": dec.path, "choice": choice,
                         "d_cost": (c - c0) / target, "d_acc": acc - acc0})
    return {"warnings": warnings,
            "argmax": {"accuracy": acc0, kind: c0, "target": target}, "kind": kind,
            "images": len(y), "neighbours": rows}


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    """Exchange rates of the neighbours whose cost differs by more than 0.5 % of the target:
    accuracy gained per unit of extra cost (costlier ones) and accuracy lost per unit of cost
    saved (cheaper ones). With ``|beta|`` above a cheaper neighbour's loss rate the controller
    prefers that neighbour; below a costlier one's gain rate, the costlier one."""
    rows = res["neighbours"]
    up = [r for r in rows if r["d_cost"] > 0.005]
    rates = np.asarray([r["d_acc"] / r["d_cost"] for r in up])
    gain = rates[rates > 0]
    down = [r for r in rows if r["d_cost"] < -0.005]
    loss = np.asarray([r["d_acc"] / r["d_cost"] for r in down])  # accuracy lost per cost saved

    def q(a: np.ndarray, v: float) -> float:
        return float(np.quantile(a, v)) if len(a) else float("nan")

    tiers = {}
    for lo in (0.005, 0.02, 0.05):  # small savings' rates are noise-dominated: tiered
        sub = np.asarray([r["d_acc"] / r["d_cost"] for r in rows if r["d_cost"] < -lo])
        tiers[f"saving_over_{lo:g}"] = {
            "n": len(sub), "p10": q(sub, 0.1), "p25": q(sub, 0.25), "median": q(sub, 0.5),
            **{f"below_{b:g}": int((sub < b).sum()) for b in (0.07, 0.3)}}
    # what leaving the argmax costs, either way (the shared weights co-adapt to the settled
    # path), and which moves pay under the absolute reward at a slope beta, kink included:
    # dR = d_acc + beta * (|r0 + d - 1| - |r0 - 1|), r0 = the argmax's cost / target
    r0 = res["argmax"][res["kind"]] / res["argmax"]["target"]
    far_down = [r for r in rows if r["d_cost"] < -0.02]
    far_up = [r for r in rows if r["d_cost"] > 0.02]

    def pays(beta: float, group: list[dict[str, Any]]) -> int:
        return sum(r["d_acc"] + beta * (abs(r0 + r["d_cost"] - 1) - abs(r0 - 1)) > 0
                   for r in group)

    leave = {"cheaper_over_0.02": {"n": len(far_down), "losing": sum(r["d_acc"] < 0
                                                                      for r in far_down),
                                   "median_d_acc": q(np.asarray([r["d_acc"] for r in far_down]),
                                                     0.5)},
             "costlier_over_0.02": {"n": len(far_up), "losing": sum(r["d_acc"] < 0
                                                                     for r in far_up),
                                    "median_d_acc": q(np.asarray([r["d_acc"] for r in far_up]),
                                                      0.5)}}
    paying = {f"{b:g}": {"cheaper_over_0.02": pays(b, far_down),
                         "costlier_over_0.02": pays(b, far_up)}
              for b in (-0.07, -0.15, -0.3, -0.5)}
    return {"argmax_cost_over_target": r0, "leave": leave, "paying_moves": paying,
            "cheaper_tiers": tiers, "costlier": len(up), "costlier_gaining": len(gain),
            "rate_median": q(gain, 0.5), "rate_p90": q(gain, 0.9),
            "rate_max": float(gain.max()) if len(gain) else float("nan"),
            "cheaper": len(down), "loss_rate_min": q(loss, 0.0),
            "loss_rate_p10": q(loss, 0.1), "loss_rate_median": q(loss, 0.5),
            "noise_sd": float(np.sqrt(2 * 0.3 * 0.7 / res["images"]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="finished search run folder")
    ap.add_argument("--cost-models", action="append")
    ap.add_argument("--data")
    ap.add_argument("--resummarize", type=Path, default=None,
                    help="a JSON this script wrote: summarize it again (no measuring)")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--report", default=None, help="write results/REPORT.json and .md")
    a = ap.parse_args(argv)
    if a.resummarize is not None:
        res = json.loads(a.resummarize.read_text())
    else:
        if a.run is None or not a.cost_models or a.data is None:
            print("error: give --run, --cost-models and --data (or --resummarize)",
                  file=sys.stderr)
            return 2
        if not (a.run / "search_result.json").is_file():
            print(f"error: {a.run} has no search_result.json (not a finished search)",
                  file=sys.stderr)
            return 2
        t0 = time.time()
        try:
            res = measure(a.run, a.cost_models, a.data, a.images)
        except ValueError as exc:  # one line, exit 2
            print(f"error: {exc}", file=sys.stderr)
            return 2
        res["seconds"] = round(time.time() - t0, 1)
        res["command"] = " ".join(["python benchmarks/perf/proxy_accuracy_slope.py",
                                   *(argv if argv is not None else sys.argv[1:])])
    res["summary"] = summarize(res)
    s = res["summary"]
    lines = [f"argmax: accuracy {res['argmax']['accuracy']:.4f}, {res['kind']} "
             f"{res['argmax'][res['kind']]:.3f} (target {res['argmax']['target']})",
             f"neighbours: {len(res['neighbours'])}, costlier {s['costlier']}, of which gaining "
             f"accuracy {s['costlier_gaining']}",
             f"exchange rate gain / d (accuracy per unit of cost / target): median "
             f"{s['rate_median']:.3f}, p90 {s['rate_p90']:.3f}, max {s['rate_max']:.3f}",
             f"cheaper neighbours: {s['cheaper']}; accuracy lost per unit of cost saved: min "
             f"{s['loss_rate_min']:.3f}, p10 {s['loss_rate_p10']:.3f}, median "
             f"{s['loss_rate_median']:.3f}",
             *[f"cheaper by more than {k.split('_')[-1]} of the target: {v['n']} neighbours, "
               f"loss rate p10 {v['p10']:.3f}, p25 {v['p25']:.3f}, median {v['median']:.3f}; "
               f"below 0.07: {v['below_0.07']}, below 0.3: {v['below_0.3']}"
               for k, v in s["cheaper_tiers"].items()],
             f"leaving the argmax (neighbours more than 2 % of the target away): cheaper "
             f"{s['leave']['cheaper_over_0.02']['losing']} of "
             f"{s['leave']['cheaper_over_0.02']['n']} lose accuracy, median "
             f"{100 * s['leave']['cheaper_over_0.02']['median_d_acc']:+.2f} points; costlier "
             f"{s['leave']['costlier_over_0.02']['losing']} of "
             f"{s['leave']['costlier_over_0.02']['n']} lose, median "
             f"{100 * s['leave']['costlier_over_0.02']['median_d_acc']:+.2f} points",
             "moves that raise the absolute reward at slope beta (kink at the target "
             f"included; argmax at {s['argmax_cost_over_target']:.3f} x the target): "
             + "; ".join(f"beta {b}: {v['cheaper_over_0.02']} cheaper, "
                         f"{v['costlier_over_0.02']} costlier"
                         for b, v in s["paying_moves"].items()),
             *[f"warning: {w}" for w in res.get("warnings", [])],
             f"accuracy difference noise, unpaired bound (s.d., p=0.3, {res['images']} "
             f"images): {s['noise_sd']:.4f} (the paired difference is smaller)"]
    print("\n".join(lines))
    if a.report:
        from mhzoo.atomic import atomic_write_text

        RESULTS.mkdir(exist_ok=True)
        atomic_write_text(RESULTS / f"{a.report}.json", json.dumps(res, indent=1) + "\n")
        atomic_write_text(RESULTS / f"{a.report}.md", "\n".join(
            ["# Proxy accuracy-for-cost exchange rate around a search's argmax", "",
             "Machine: AMD EPYC 2-core (2026-12-06), idle; the supernet restored from the "
             "run's last checkpoint, evaluated on the first search-validation images "
             "(never the test split).", "",
             "```", res.get("command", ""), "```", "", *[f"- {x}" for x in lines], "",
             "Reading: leaving the settled argmax costs accuracy in either direction (the "
             "shared weights co-adapt to the path the controller samples), about the same "
             "whether the neighbour is cheaper or costlier: accuracy does not trade against "
             "cost here, it holds the controller where it is. To pull an argmax that sits "
             "above the target back, the slope times the excess must beat that penalty: "
             "|beta| x 0.05 > ~0.015 needs |beta| >= 0.3 to hold the 5 % tolerance. The "
             "paying-moves counts show it with the reward's kink.", ""]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
