"""The study's report (DIR/report/, written as one folder): the paper's Table 2 layout (every
model's test accuracy, latency per target, MN-Norm avg / max), Table 3 (search cost: the
multi-hardware searches against the single-hardware ones), Study B's cross-device and
left-out-device tables, Figure 1 (accuracy vs MN-Norm avg and max, random architectures as a
band), Figure 5 (accuracy vs latency per target) or Figure 6 (left-out devices), and each of
the paper's claims stated with its numbers, whichever way it came out.

MN-Norm is :func:`mhzoo.benchmarks.normalization.mn_norm` with the study's reference factors.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from mhzoo.atomic import atomic_dir
from mhzoo.benchmarks.normalization import mn_norm

__all__ = ["write_report"]


def _fmt(v: Any, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _ms(v: float) -> str:
    """A latency in ms: three decimals below 1 ms (the simulated TPU's ~0.2 ms), else two."""
    return _fmt(v, 3 if v < 1 else 2)


def _acc(ctx: Any, name: str, second: list[str]) -> dict[str, Any]:
    seeds = [0, 1] if name in second else [0]
    vals = [100 * float(ctx.ledger.value(f"train/{name}_s{s}")["test_top1"]) for s in seeds]
    return {"top1": statistics.mean(vals), "seeds": vals,
            "spread": (max(vals) - min(vals)) if len(vals) > 1 else None}


def mn_norm_factors(lat: dict[str, Any], targets: list[str]) -> dict[str, float]:
    """C_i of the study's MN-Norm: MobileNetV1 1.0 timed in the latency stage's own passes
    (``reference_ms``) where it was, else the cost-model folder's factor (Study B: the median
    architecture per device)."""
    ref = lat.get("reference_ms") or {}
    return {t: float(ref.get(t, lat["factors_ms"][t])) for t in targets}


def _rows(ctx: Any, entries: list[dict[str, Any]], second: list[str], lat: dict[str, Any],
          targets: list[str]) -> list[dict[str, Any]]:
    factors = mn_norm_factors(lat, targets)
    rows = []
    for e in entries:
        ms = {t: lat["latency_ms"][e["name"]][t] for t in targets}
        mn = mn_norm(ms, factors)
        a = _acc(ctx, e["name"], second)
        rows.append({"model": e["name"], "kind": e["kind"], "top1": a["top1"],
                     "top1_seeds": a["seeds"], "top1_spread": a["spread"], "latency_ms": ms,
                     "mn_norm_avg": mn.avg, "mn_norm_max": mn.max,
                     "genotype": e["genotype"], "matched_to": e.get("matched_to")})
    return rows


def _label(t: str, simulated: list[str]) -> str:
    return f"{t} (sim)" if t in simulated else t


def _table2(rows: list[dict[str, Any]], targets: list[str], simulated: list[str]) -> list[str]:
    head = ["model", "kind", "top-1 % (test)", *[f"{_label(t, simulated)} ms" for t in targets],
            "MN-Norm avg", "MN-Norm max"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        acc = _fmt(r["top1"])
        if r["top1_spread"] is not None:
            acc += f" ({', '.join(_fmt(v) for v in r['top1_seeds'])})"
        out.append("| " + " | ".join([r["model"], r["kind"], acc,
                                      *[_ms(r["latency_ms"][t]) for t in targets],
                                      _fmt(r["mn_norm_avg"], 3), _fmt(r["mn_norm_max"], 3)])
                   + " |")
    return out


def _table3(ctx: Any, rows: list[dict[str, Any]], targets: list[str], simulated: list[str]
            ) -> tuple[list[str], list[dict[str, Any]]]:
    """Search cost: one multi-hardware search against one single-hardware search per target
    (the single-hardware row is the best single result by MN-Norm avg; its cost is one search
    per target of the hardware set, the paper's accounting)."""
    by = {r["model"]: r for r in rows}
    singles = [r for r in rows if r["model"].startswith("single_")]
    def stage_h(name: str) -> float:
        e = ctx.ledger.stages.get(name) or {}
        own = (e.get("value") or {}).get("search_seconds")  # the search's clock, all runs
        if own is not None:
            return float(own) / 3600
        return (e.get("seconds", 0.0) + e.get("interrupted_seconds", 0.0)) / 3600

    hours = {r["model"]: stage_h(f"search/{r['model']}") for r in rows
             if r["kind"] == "searched"}
    mean_single_h = statistics.mean([hours[r["model"]] for r in singles]) if singles else None
    recs = []
    if singles:
        best = min(singles, key=lambda r: r["mn_norm_avg"])
        recs.append({"search": f"single-hardware best ({best['model']})",
                     "units": len(targets), "hours": None if mean_single_h is None else
                     mean_single_h * len(targets), "row": best})
    for m in ("avg", "max"):
        if m in by:
            recs.append({"search": f"multi-hardware eq. {7 if m == 'avg' else 8} ({m})",
                         "units": 1, "hours": hours.get(m), "row": by[m]})
    head = ["search", "cost (searches)", "cost (h here)", "top-1 %",
            *[f"{_label(t, simulated)} ms" for t in targets], "MN-Norm avg", "MN-Norm max"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in recs:
        r = c["row"]
        out.append("| " + " | ".join([c["search"], str(c["units"]), _fmt(c["hours"]),
                                      _fmt(r["top1"]), *[_ms(r["latency_ms"][t])
                                                         for t in targets],
                                      _fmt(r["mn_norm_avg"], 3), _fmt(r["mn_norm_max"], 3)])
                   + " |")
    if singles:
        out.append("")
        out.append(f"Single-hardware cost counted as one search per target ({len(targets)}); "
                   f"{len(singles)} were run here, {mean_single_h:.2f} h each on average. "
                   "The single-hardware row is the one with the lowest MN-Norm avg"
                   + (f"; its top-1 is {recs[0]['row']['top1'] - by['max']['top1']:+.1f} "
                      "points from the eq. 8 model's" if "max" in by else "") + ".")
    return out, [{"search": c["search"], "units": c["units"], "hours": c["hours"],
                  "model": c["row"]["model"]} for c in recs]


#: relative latency difference below which two models tie on a target (the spread of the
#: CPU timing passes; simulated targets are exact, the tie rule is the same for simplicity)
LATENCY_TIE = 0.02


def accuracy_noise(rows: list[dict[str, Any]], within: float) -> float:
    """Accuracy points below which two models are not told apart: the study's band or the
    largest seed spread measured, whichever is larger."""
    spreads = [r["top1_spread"] for r in rows if r.get("top1_spread") is not None]
    return max([within, *spreads])


def _compared(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the claims compare: searched models and baselines (random ones are the
    reference of their own claim)."""
    return [r for r in rows if r["kind"] in ("searched", "baseline")]


def _verdict(held: bool | None) -> str:
    return {True: "HELD", False: "did NOT hold", None: "INCONCLUSIVE"}[held]


def _claim(claim: str, held: bool | None, numbers: dict[str, Any], note: str = ""
           ) -> dict[str, Any]:
    return {"claim": claim, "verdict": _verdict(held), "held": held is True,
            "numbers": numbers, "note": note}


def _faster(x: float, y: float) -> bool:
    """``x`` is faster than ``y`` by more than the tie."""
    return x < y * (1 - LATENCY_TIE)


def _best_multi(rows: list[dict[str, Any]], name: str, key: str, noise: float
                ) -> dict[str, Any] | None:
    """Claim: the eq. 7 / 8 model has the best MN-Norm avg / max among the models at least as
    accurate as it (within the noise)."""
    by = {r["model"]: r for r in rows}
    if name not in by:
        return None
    m = by[name]
    label = {"mn_norm_max": "MN-Norm max", "mn_norm_avg": "MN-Norm avg"}[key]
    compared = [r for r in _compared(rows) if r is not m]
    peers = [r for r in compared if r["top1"] >= m["top1"] - noise]
    beaters = [r for r in peers if _faster(r[key], m[key])]
    ties = [r for r in peers if not _faster(r[key], m[key]) and not _faster(m[key], r[key])]
    held = False if beaters else (None if ties else True)
    multi = {"avg", "max", "multi_avg", "multi_max"}
    note = ""
    if beaters:
        note = f"lower {label}: " + ", ".join(r["model"] for r in beaters)
        if all(r["model"] in multi for r in beaters):
            note += " (multi-hardware models only)"
    elif ties:
        note = f"within {LATENCY_TIE:.0%} of: " + ", ".join(r["model"] for r in ties)
    elif not peers:
        note = f"no other model is as accurate within {noise:.1f} points"
    eq = 8 if name == "max" else 7
    return _claim(f"the eq. {eq} ({name}) model has the best {label} among the "
                  f"models at least as accurate (within {noise:.1f} points)", held,
                  {name: {"top1": m["top1"], key: m[key]},
                   **{r["model"]: {"top1": r["top1"], key: r[key]} for r in peers}}, note)


def _dominators(r: dict[str, Any], compared: list[dict[str, Any]], t: str
                ) -> list[dict[str, Any]]:
    """Models faster than ``r`` on ``t`` and at least as accurate (point estimates)."""
    return [x for x in compared if x is not r and x["top1"] >= r["top1"]
            and _faster(x["latency_ms"][t], r["latency_ms"][t])]


def _single(r: dict[str, Any], rows: list[dict[str, Any]], targets: list[str],
            factors: dict[str, float], noise: float) -> dict[str, Any]:
    """Claim: the eq. 6 model for T is on the accuracy-latency front on T (no model faster and
    at least as accurate) and off it elsewhere (dominated on another target, or a worse MN-Norm
    max over the other targets than both multi-hardware searches)."""
    t = r["model"].removeprefix("single_")
    compared = _compared(rows)
    own = _dominators(r, compared, t)
    others = [u for u in targets if u != t]
    off = {u: [x["model"] for x in _dominators(r, compared, u)] for u in others}
    off = {u: v for u, v in off.items() if v}

    def max_elsewhere(x: dict[str, Any]) -> float:
        return mn_norm({u: x["latency_ms"][u] for u in others},
                       {u: factors[u] for u in others}).max

    multis = [x for x in rows if x["model"] in ("avg", "max")]
    worse_than_multis = bool(multis) and all(
        _faster(max_elsewhere(x), max_elsewhere(r)) for x in multis)
    clear_own = [x for x in own if x["top1"] >= r["top1"] + noise]
    if not own and (off or worse_than_multis):
        held: bool | None = True
    elif clear_own or (not own and not off and not worse_than_multis):
        held = False
    else:  # beaten on its own target only within the accuracy noise
        held = None
    return _claim(
        f"the single-hardware model for {t} is on the accuracy-latency front on {t} and off it "
        "elsewhere", held,
        {"top1": r["top1"], "latency_ms": r["latency_ms"],
         "faster_and_as_accurate_on_own_target": [x["model"] for x in own],
         "faster_and_as_accurate_elsewhere": off,
         "mn_norm_max_elsewhere": max_elsewhere(r),
         "multi_mn_norm_max_elsewhere": {x["model"]: max_elsewhere(x) for x in multis}},
        "" if held is not None else f"beaten on {t} within {noise:.1f} points of accuracy")


def _random(rows: list[dict[str, Any]], noise: float) -> list[dict[str, Any]]:
    """Claims: each searched model against the random architecture(s) drawn at its predicted
    MN-Norm, then all of them together."""
    rnd = [r for r in rows if r["kind"] == "random"]
    if not rnd:
        return []
    out = []
    diffs = []
    for r in (x for x in rows if x["kind"] == "searched"):
        matched = [x for x in rnd if x.get("matched_to") == r["model"]]
        note = "" if matched else "no random architecture was drawn for it: all of them"
        matched = matched or rnd
        diff = r["top1"] - statistics.mean(x["top1"] for x in matched)
        diffs.append(diff)
        held = True if diff > noise else (False if diff < -noise else None)
        out.append(_claim(
            f"searched model {r['model']} is more accurate than the random architecture(s) "
            "drawn at its predicted MN-Norm", held,
            {"top1": r["top1"], "mn_norm_avg": r["mn_norm_avg"], "mn_norm_max": r["mn_norm_max"],
             "matched_random": {x["model"]: {"top1": x["top1"], "mn_norm_avg": x["mn_norm_avg"],
                                             "mn_norm_max": x["mn_norm_max"]} for x in matched},
             "difference_points": diff},
            note or ("" if held is not None else f"within {noise:.1f} points")))
    wins = sum(d > noise for d in diffs)
    losses = sum(d < -noise for d in diffs)
    mean = statistics.mean(diffs)
    # a clear majority either way; most pairs inside the noise is no result
    held = True if wins > len(diffs) / 2 else (False if losses > len(diffs) / 2 else None)
    out.append(_claim("searched models above their matched random architectures", held,
                      {"above": wins, "below": losses, "within_noise": len(diffs) - wins - losses,
                       "mean_difference_points": mean, "noise_points": noise}))
    return out


def one_seed_close_pairs(rows: list[dict[str, Any]], second: list[str], within: float
                         ) -> list[tuple[str, str, float]]:
    """Pairs of compared models within ``within`` points at seed 0 where at least one model
    has no second seed (the study's cap): their order is not established."""
    acc = {r["model"]: r["top1_seeds"][0] for r in _compared(rows)}
    names = sorted(acc)
    return [(a, b, abs(acc[a] - acc[b])) for i, a in enumerate(names) for b in names[i + 1:]
            if abs(acc[a] - acc[b]) < within and not (a in second and b in second)]


def _claims(rows: list[dict[str, Any]], targets: list[str], within: float,
            factors: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The paper's comparative claims checked on the rows, each HELD / did NOT hold /
    INCONCLUSIVE (a difference inside the accuracy noise or the latency tie)."""
    factors = factors or {t: 1.0 for t in targets}
    noise = accuracy_noise(rows, within)
    out = [c for c in (_best_multi(rows, "max", "mn_norm_max", noise),
                       _best_multi(rows, "avg", "mn_norm_avg", noise)) if c]
    out += [_single(r, rows, targets, factors, noise) for r in rows
            if r["kind"] == "searched" and r["model"].startswith("single_")]
    return out + _random(rows, noise)


def _figure1(rows: list[dict[str, Any]], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, xl in ((axes[0], "mn_norm_avg", "MN-Norm avg"),
                        (axes[1], "mn_norm_max", "MN-Norm max")):
        rnd = [r for r in rows if r["kind"] == "random"]
        if rnd:
            xs = [r[key] for r in rnd]
            lo, hi = min(r["top1"] for r in rnd), max(r["top1"] for r in rnd)
            ax.fill_between([min(xs), max(xs)], [lo, lo], [hi, hi], color="0.85",
                            label="random (min-max)")
            ax.scatter(xs, [r["top1"] for r in rnd], color="0.5", s=12)
        for r in rows:  # a dotted line from each searched model to its matched random one
            for x in rnd:
                if x.get("matched_to") == r["model"]:
                    ax.plot([r[key], x[key]], [r["top1"], x["top1"]], ls=":", lw=0.8,
                            color="0.55")
        for r in rows:
            if r["kind"] == "random":
                continue
            yerr = None if r["top1_spread"] is None else r["top1_spread"] / 2
            ax.errorbar(r[key], r["top1"], yerr=yerr, fmt="o" if r["kind"] == "searched"
                        else ("s" if r["kind"] == "baseline" else "^"), capsize=3)
            ax.annotate(r["model"], (r[key], r["top1"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel(xl)
        ax.set_ylabel("test top-1 %")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figure5(rows: list[dict[str, Any]], targets: list[str], simulated: list[str], path: Any,
             title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(targets)
    cols = min(n, 4)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(3.6 * cols,
                                                                    3.3 * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax, t in zip(axes.flat, targets, strict=False):
        for r in rows:
            mk = {"searched": "o", "baseline": "s", "random": ".", "generalisation": "^"}
            ax.scatter(r["latency_ms"][t], r["top1"], marker=mk[r["kind"]],
                       color="0.5" if r["kind"] == "random" else None)
            if r["kind"] != "random":
                ax.annotate(r["model"], (r["latency_ms"][t], r["top1"]), fontsize=6,
                            xytext=(2, 2), textcoords="offset points")
        ax.set_title(_label(t, simulated), fontsize=9)
        ax.set_xlabel("latency ms")
        ax.set_ylabel("test top-1 %")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _generalisation(rows: list[dict[str, Any]], lat: dict[str, Any], plan: dict[str, Any]
                    ) -> tuple[list[str], list[dict[str, Any]]]:
    """Figure 6's numbers: each 5-device search scored on its two left-out devices, ranked
    (ties share a rank) against the single-hardware and all-device results there."""
    by = {r["model"]: r for r in rows}
    out = ["| left out (a, b) | result | searched over | top-1 % | a ms | b ms | "
           "MN-Norm avg (left out) | MN-Norm max (left out) | rank on left out (max) |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    recs = []
    for a, b in plan.get("left_out") or []:
        f = mn_norm_factors(lat, [a, b])
        pool = [r for r in rows if r["kind"] in ("searched", "generalisation")
                and (r["kind"] == "searched" or r["model"].endswith(f"_wo_{a}_{b}"))]
        scored = {r["model"]: mn_norm({t: r["latency_ms"][t] for t in (a, b)}, f) for r in pool}
        order = sorted(scored, key=lambda k: scored[k].max)
        for m in order:
            rank = 1 + sum(_faster(scored[k].max, scored[m].max) for k in order)
            if m.endswith(f"_wo_{a}_{b}"):
                over = "5 devices"
            elif m in ("avg", "max"):
                over = "all 7 (left-out ones included)"
            elif m.removeprefix("single_") in (a, b):
                over = "one (a left-out device)"
            else:
                over = "one"
            ms = by[m]["latency_ms"]
            out.append(f"| {a}, {b} | {m} | {over} | {by[m]['top1']:.2f} | {ms[a]:.2f} | "
                       f"{ms[b]:.2f} | {scored[m].avg:.3f} | {scored[m].max:.3f} "
                       f"| {rank}/{len(order)} |")
            recs.append({"left_out": [a, b], "model": m, "searched_over": over,
                         "latency_ms": {a: ms[a], b: ms[b]},
                         "mn_norm_avg": scored[m].avg, "mn_norm_max": scored[m].max,
                         "rank_max": rank, "top1": by[m]["top1"]})
    return out, recs


def _generalisation_claims(recs: list[dict[str, Any]], plan: dict[str, Any]
                           ) -> list[dict[str, Any]]:
    """Claim (paper Figure 6): a model searched over five devices beats, on the two left out,
    the single-hardware models searched for neither of them (MN-Norm max there)."""
    out = []
    for a, b in plan.get("left_out") or []:
        sel = [r for r in recs if r["left_out"] == [a, b]]
        mine = [r for r in sel if r["searched_over"] == "5 devices"]
        singles = [r for r in sel if r["searched_over"] == "one"]
        if not mine or not singles:
            continue
        g = mine[0]
        best = min(singles, key=lambda r: r["mn_norm_max"])
        if _faster(g["mn_norm_max"], best["mn_norm_max"]):
            held: bool | None = True
        elif _faster(best["mn_norm_max"], g["mn_norm_max"]):
            held = False
        else:
            held = None
        out.append(_claim(
            f"the model searched without {a} and {b} has a lower MN-Norm max on them than the "
            "single-hardware models searched for neither", held,
            {g["model"]: {"mn_norm_max": g["mn_norm_max"], "top1": g["top1"]},
             **{r["model"]: {"mn_norm_max": r["mn_norm_max"], "top1": r["top1"]}
                for r in singles},
             "all_devices": {r["model"]: {"mn_norm_max": r["mn_norm_max"], "top1": r["top1"]}
                             for r in sel if r["searched_over"].startswith("all 7")}},
            "" if held is not None else f"within {LATENCY_TIE:.0%}"))
    return out


#: Figure 6's marker and colour per kind of result
FIGURE6_MARKERS = {"searched over 5 devices": ("^", "tab:red"),
                   "searched over all 7": ("o", "tab:blue"),
                   "single-hardware": ("s", "tab:gray")}


def _figure6(recs: list[dict[str, Any]], path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = sorted({tuple(r["left_out"]) for r in recs})
    fig, axes = plt.subplots(1, max(1, len(pairs)), figsize=(5 * max(1, len(pairs)), 4),
                             squeeze=False)
    for ax, p in zip(axes.flat, pairs, strict=False):
        sel = [r for r in recs if tuple(r["left_out"]) == p]
        for r in sel:
            kind = ("searched over 5 devices" if r["searched_over"] == "5 devices" else
                    "searched over all 7" if r["searched_over"].startswith("all 7") else
                    "single-hardware")
            ax.scatter(r["mn_norm_max"], r["top1"], marker=FIGURE6_MARKERS[kind][0],
                       color=FIGURE6_MARKERS[kind][1])
            ax.annotate(r["model"], (r["mn_norm_max"], r["top1"]), fontsize=6,
                        xytext=(2, 2), textcoords="offset points")
        ax.set_title(f"left out: {p[0]}, {p[1]}", fontsize=9)
        ax.set_xlabel("MN-Norm max on the left-out devices")
        ax.set_ylabel("test top-1 %")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], ls="", marker=m, color=c, label=k)
               for k, (m, c) in FIGURE6_MARKERS.items()]
    axes.flat[0].legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _source_lines(lat: dict[str, Any]) -> list[str]:
    """Study B: which rows' latencies are the data set's measurements and which its cost
    models' predictions (the cost models the searches optimised)."""
    src = lat.get("source") or {}
    if not src:
        return []
    measured = [m for m, h in src.items() if "measured" in h]
    predicted = [m for m in src if m not in measured]
    return [f"Latency measured (a row of the device data): {', '.join(measured) or 'none'}; "
            f"predicted by the device cost models: {', '.join(predicted) or 'none'}.", ""]


def _regenerate_lines(ctx: Any) -> list[str]:
    """The ``mhzoo regenerate multi_max`` run (when the study ran its eq. 8 search that way)."""
    reg = ctx.ledger.value("regenerate/multi_max")
    if not reg:
        return []
    m = reg.get("measured") or {}
    search_s = (ctx.ledger.value("search/max") or {}).get("search_seconds")
    return ["## mhzoo regenerate multi_max on these targets", "",
            "The `max` row above is this run's search (trained again with the study's recipe "
            "for the tables); regenerate's own chain retrained it at width 1.0 "
            "(the training preset, the study's epochs), exported float / int8 TFLite and "
            "benchmarked it beside the zoo (its folder: "
            f"`{reg.get('folder')}/report.md`).", "", "```", str(reg.get("command")), "```", "",
            f"- MN-Norm target {reg.get('mn_norm_target')}, retraining epochs "
            f"{reg.get('epochs')}",
            f"- converged: {reg.get('converged')}; test top-1 of its retraining "
            f"{_fmt(None if reg.get('test_top1') is None else 100 * reg['test_top1'])} % on "
            f"{reg.get('test_images')} test images; measured MN-Norm avg "
            f"{_fmt(m.get('mn_norm_avg'), 3)}, max {_fmt(m.get('mn_norm_max'), 3)}",
            f"- search {_fmt(search_s, 0)} s (its own clock, over every resumed run); the rest "
            f"of the chain, seconds: {json.dumps(reg.get('stage_seconds'))}", ""]


def stage_time_lines(stages: dict[str, dict[str, Any]]) -> list[str]:
    """The report's stage-time table: each finished stage's wall seconds (interrupted runs
    included), a note for stages that ran side by side one core each, and the total both as
    the sum of stage seconds and as elapsed time (the union of the finished runs' intervals
    plus every interrupted run's seconds; the two differ where stages overlapped)."""
    done = {k: e for k, e in stages.items() if "finished" in e}
    lines = ["| stage | seconds | note |", "|---|---:|---|"]
    spans = []
    for k, e in done.items():
        sec = float(e.get("seconds", 0)) + float(e.get("interrupted_seconds", 0))
        notes = [e["note"]] if e.get("note") else []
        if e.get("interrupted_seconds"):
            notes.append(f"{e['interrupted_seconds']:.0f} s of it in interrupted runs")
        lines.append(f"| {k} | {sec:.1f} | {'; '.join(notes)} |")
        if "started_unix" in e:
            spans.append((float(e["started_unix"]),
                          float(e["started_unix"]) + float(e.get("seconds", 0))))
    total = sum(float(e.get("seconds", 0)) + float(e.get("interrupted_seconds", 0))
                for e in done.values())
    lines.append(f"| **sum of stages** | **{total:.0f}** ({total / 3600:.2f} h) | |")
    # (interrupted runs: their own processes, counted whole)
    busy = _union_seconds(spans) + sum(float(e.get("interrupted_seconds", 0))
                                       for e in done.values())
    if spans and busy < total - 1:
        lines.append(f"| **elapsed while a stage ran** | **{busy:.0f}** ({busy / 3600:.2f} h) | "
                     "stages that ran side by side counted once |")
    return lines


def _union_seconds(spans: list[tuple[float, float]]) -> float:
    """Total length of the union of ``(start, end)`` intervals."""
    out, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        out += b - max(a, end)
        end = b
    return out


def write_report(ctx: Any, plan: dict[str, Any], entries: list[dict[str, Any]],
                 second: list[str]) -> dict[str, Any]:
    """DIR/report/ (one atomic folder): tables, figures, claims, summary.json."""
    spec = ctx.spec
    lat = json.loads(ctx.path("latency.json").read_text())
    targets = list(plan["targets"])
    simulated = list(lat.get("simulated") or [])
    rows = _rows(ctx, entries, second, lat, targets)
    title = (f"Study {spec.name}{' (tiny)' if spec.tiny else ''}: {spec.space}, "
             f"{len(targets)} targets")
    t2 = _table2(rows, targets, simulated)
    t3, t3rec = _table3(ctx, rows, targets, simulated)
    factors = mn_norm_factors(lat, targets)
    claims = _claims(rows, targets, spec.seeds_within, factors)
    factor_line = f"MN-Norm factors C_i (ms): {json.dumps(factors)}"
    if lat.get("reference_ms"):
        drift = {t: round(factors[t] / lat["factors_ms"][t], 3) for t in targets}
        factor_line += (" (MobileNetV1 1.0 timed in the same passes as the models; the cost-model "
                        f"folders' factors the searches used: {json.dumps(lat['factors_ms'])}, "
                        f"this run / folder: {json.dumps(drift)})")
    lines = [f"# {title}", "",
             f"Machine {lat.get('machine')}; latency at {lat['input_size']} px: "
             + "; ".join(f"{t}: {h}" for t, h in lat["how"].items()) + ".",
             factor_line + ".",
             f"Single-hardware targets ({plan['rule']['rule']}): {', '.join(plan['singles'])}.",
             f"MN-Norm target of every search: {plan.get('mn_norm_target', spec.mn_norm_target)}"
             f" ({plan.get('mn_norm_target_rule', 'the study number')}; eq. 6 searches: that "
             "times their own C_T).",
             f"Every model trained with one recipe ({spec.train_preset}, "
             f"{json.dumps(dict(spec.train_overrides))}, width {spec.train_width}); "
             "accuracy on the test split no search read; latency and MN-Norm of the "
             f"deployment decoding at {lat['input_size']} px (width 1.0).",
             "Rows: `avg` / `max` are this study's eq. 7 / eq. 8 searches, `single_T` its eq. 6 "
             "search for T, `random_k` random architectures of the space drawn at a searched "
             "model's predicted MN-Norm, `multi_avg` / `multi_max` the paper's published "
             "models; a second seed's accuracies are in brackets.", "",
             "## Table 2 layout: every model", "", *t2, "", *_source_lines(lat),
             "## Table 3 layout: search cost", "", *t3, "", *_regenerate_lines(ctx)]
    gen: list[dict[str, Any]] = []
    with atomic_dir(ctx.path("report")) as tmp:
        _figure1(rows, tmp / "figure1_accuracy_vs_mn_norm.png", title)
        _figure5(rows, targets, simulated, tmp / "figure5_accuracy_vs_latency.png", title)
        if plan.get("left_out"):
            g, gen = _generalisation(rows, lat, plan)
            claims += _generalisation_claims(gen, plan)
            lines += ["## Figure 6: searched over five devices, scored on the two left out", "",
                      *g, ""]
            _figure6(gen, tmp / "figure6_left_out.png", title)
        noise = accuracy_noise(rows, spec.seeds_within)
        lines += ["## The paper's claims here", "",
                  f"Accuracy noise: {noise:.1f} points (the larger of the study's "
                  f"{spec.seeds_within:g}-point band and the largest two-seed spread); latency "
                  f"ties within {LATENCY_TIE:.0%}. INCONCLUSIVE: the difference that decides "
                  "the claim is inside one of them."]
        lonely = one_seed_close_pairs(rows, second, spec.seeds_within)
        lines += [f"Second seeds: {', '.join(second) or 'none'}. Close pairs left on one seed "
                  "(the cap of second seeds): "
                  + (", ".join(f"{a} / {b} ({d:.1f})" for a, b, d in lonely) or "none") + ".",
                  ""]
        for c in claims:
            lines.append(f"- {c['verdict']}: {c['claim']}: "
                         f"{json.dumps(c['numbers'], default=str)}"
                         + (f" ({c['note']})" if c.get("note") else ""))
        lines += ["", "## Stage times (s)", "", *stage_time_lines(ctx.ledger.stages)]
        (tmp / "study.md").write_text("\n".join(lines) + "\n")
        csv = ["model,kind,top1_accuracy_pct," + ",".join(f"{t}_ms" for t in targets)
               + ",mn_norm_avg,mn_norm_max"]
        csv += [",".join([r["model"], r["kind"], _fmt(r["top1"]),
                          *[_fmt(r["latency_ms"][t], 4) for t in targets],
                          _fmt(r["mn_norm_avg"], 4), _fmt(r["mn_norm_max"], 4)]) for r in rows]
        (tmp / "table2.csv").write_text("\n".join(csv) + "\n")
        summary = {"study": spec.name, "tiny": spec.tiny, "targets": targets,
                   "mn_norm_target": plan.get("mn_norm_target"),
                   "regenerate": ctx.ledger.value("regenerate/multi_max"),
                   "rows": rows, "table3": t3rec, "claims": claims, "generalisation": gen,
                   "singles": plan["singles"], "second_seeds": second,
                   "stage_seconds": {k: e.get("seconds") for k, e in ctx.ledger.stages.items()}}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return {"rows": len(rows), "claims_held": sum(bool(c["held"]) for c in claims),
            "claims_inconclusive": sum(c["verdict"] == "INCONCLUSIVE" for c in claims),
            "claims": len(claims)}
