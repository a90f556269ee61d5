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


def _acc(ctx: Any, name: str, second: list[str]) -> dict[str, Any]:
    seeds = [0, 1] if name in second else [0]
    vals = [100 * float(ctx.ledger.value(f"train/{name}_s{s}")["test_top1"]) for s in seeds]
    return {"top1": statistics.mean(vals), "seeds": vals,
            "spread": (max(vals) - min(vals)) if len(vals) > 1 else None}


def _rows(ctx: Any, entries: list[dict[str, Any]], second: list[str], lat: dict[str, Any],
          targets: list[str]) -> list[dict[str, Any]]:
    factors = {t: lat["factors_ms"][t] for t in targets}
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
                                      *[_fmt(r["latency_ms"][t]) for t in targets],
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
                                      _fmt(r["top1"]), *[_fmt(r["latency_ms"][t])
                                                         for t in targets],
                                      _fmt(r["mn_norm_avg"], 3), _fmt(r["mn_norm_max"], 3)])
                   + " |")
    if singles:
        out.append("")
        out.append(f"Single-hardware cost counted as one search per target ({len(targets)}); "
                   f"{len(singles)} were run here, {mean_single_h:.2f} h each on average.")
    return out, [{"search": c["search"], "units": c["units"], "hours": c["hours"],
                  "model": c["row"]["model"]} for c in recs]


def _claims(rows: list[dict[str, Any]], targets: list[str], within: float) -> list[dict[str, Any]]:
    """The paper's three comparative claims, checked on the rows."""
    by = {r["model"]: r for r in rows}
    out: list[dict[str, Any]] = []
    compared = [r for r in rows if r["kind"] in ("searched", "baseline")]
    if "max" in by:
        m = by["max"]
        near = [r for r in compared if r is not m and abs(r["top1"] - m["top1"]) <= within]
        beaten = [r["model"] for r in near if r["mn_norm_max"] < m["mn_norm_max"]]
        out.append({"claim": "the eq. 8 (max) model has the best MN-Norm max among models of "
                             f"similar accuracy (within {within:g} points)",
                    "held": not beaten and bool(near),
                    "numbers": {"max": {"top1": m["top1"], "mn_norm_max": m["mn_norm_max"]},
                                **{r["model"]: {"top1": r["top1"],
                                                "mn_norm_max": r["mn_norm_max"]}
                                   for r in near}},
                    "note": "no other model within the accuracy band" if not near else
                            (f"lower MN-Norm max: {', '.join(beaten)}" if beaten else "")})
    searched = [r for r in rows if r["kind"] == "searched"]
    for r in rows:
        if not r["model"].startswith("single_") or r["kind"] != "searched":
            continue
        t = r["model"].removeprefix("single_")
        own = sorted(searched, key=lambda x: x["latency_ms"][t])
        rank_own = [x["model"] for x in own].index(r["model"]) + 1
        others = [u for u in targets if u != t]
        worst_elsewhere = [u for u in others
                           if max(searched, key=lambda x: x["latency_ms"][u]) is r]
        out.append({"claim": f"the single-hardware model for {t} is fastest on {t} and the "
                             "slowest elsewhere (among the searched models)",
                    "held": rank_own == 1 and bool(worst_elsewhere),
                    "numbers": {"rank_on_own_target": rank_own, "of": len(searched),
                                "slowest_of_searched_on": worst_elsewhere,
                                "latency_ms": r["latency_ms"]}})
    rnd = [r for r in rows if r["kind"] == "random"]
    if rnd:
        band = (min(r["top1"] for r in rnd), max(r["top1"] for r in rnd))
        wins = []
        for r in searched:
            # the random architectures drawn at this model's predicted MN-Norm (avg and max
            # within the study's tolerance); the band of all of them when none was (old runs)
            matched = [x for x in rnd if x.get("matched_to") == r["model"]] or rnd
            ref = statistics.mean(x["top1"] for x in matched)
            diff = r["top1"] - ref
            wins.append(diff > 0)
            out.append({"claim": f"searched model {r['model']} is more accurate than the random "
                                 "architecture(s) drawn at its MN-Norm",
                        "held": diff > 0,
                        "numbers": {"top1": r["top1"],
                                    "matched_random": {x["model"]: x["top1"] for x in matched},
                                    "difference_points": diff, "random_band": list(band),
                                    "random_mean": statistics.mean(x["top1"] for x in rnd)},
                        "note": f"within {within:g} points: not a clear result"
                                if abs(diff) < within else ""})
        out.append({"claim": "searched models above their matched random architectures",
                    "held": sum(wins) > len(wins) / 2,
                    "numbers": {"above": sum(wins), "of": len(wins)}})
    return out


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
    against the single-hardware and all-device results there."""
    by = {r["model"]: r for r in rows}
    out = ["| left out (a, b) | result | searched over | a ms | b ms | MN-Norm avg (left out) | "
           "MN-Norm max (left out) | rank on left out (max) |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    recs = []
    for a, b in plan.get("left_out") or []:
        f = {t: lat["factors_ms"][t] for t in (a, b)}
        pool = [r for r in rows if r["kind"] in ("searched", "generalisation")
                and (r["kind"] == "searched" or r["model"].endswith(f"_wo_{a}_{b}"))]
        scored = {r["model"]: mn_norm({t: r["latency_ms"][t] for t in (a, b)}, f) for r in pool}
        order = sorted(scored, key=lambda k: scored[k].max)
        for m in order:
            over = "5 devices" if m.endswith(f"_wo_{a}_{b}") else (
                "all 7" if m in ("avg", "max") else "one")
            ms = by[m]["latency_ms"]
            out.append(f"| {a}, {b} | {m} | {over} | {ms[a]:.2f} | {ms[b]:.2f} | "
                       f"{scored[m].avg:.3f} | {scored[m].max:.3f} "
                       f"| {order.index(m) + 1}/{len(order)} |")
            recs.append({"left_out": [a, b], "model": m, "searched_over": over,
                         "latency_ms": {a: ms[a], b: ms[b]},
                         "mn_norm_avg": scored[m].avg, "mn_norm_max": scored[m].max,
                         "rank_max": order.index(m) + 1, "top1": by[m]["top1"]})
    return out, recs


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
            mk = "^" if r["searched_over"] == "5 devices" else (
                "o" if r["searched_over"] == "all 7" else "s")
            ax.scatter(r["mn_norm_max"], r["top1"], marker=mk)
            ax.annotate(r["model"], (r["mn_norm_max"], r["top1"]), fontsize=6,
                        xytext=(2, 2), textcoords="offset points")
        ax.set_title(f"left out: {p[0]}, {p[1]}", fontsize=9)
        ax.set_xlabel("MN-Norm max on the left-out devices")
        ax.set_ylabel("test top-1 %")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    claims = _claims(rows, targets, spec.seeds_within)
    lines = [f"# {title}", "",
             f"Machine {lat.get('machine')}; latency at {lat['input_size']} px: "
             + "; ".join(f"{t}: {h}" for t, h in lat["how"].items()) + ".",
             f"MN-Norm factors C_i (ms): {json.dumps(lat['factors_ms'])}.",
             f"Single-hardware targets ({plan['rule']['rule']}): {', '.join(plan['singles'])}.",
             f"MN-Norm target of every search: {plan.get('mn_norm_target', spec.mn_norm_target)}"
             f" ({plan.get('mn_norm_target_rule', 'the study number')}; eq. 6 searches: that "
             "times their own C_T).",
             f"Every model trained with one recipe ({spec.train_preset}, "
             f"{json.dumps(dict(spec.train_overrides))}, width {spec.train_width}); "
             "accuracy on the test split no search read.", "",
             "## Table 2 layout: every model", "", *t2, "",
             "## Table 3 layout: search cost", "", *t3, "", *_regenerate_lines(ctx)]
    gen: list[dict[str, Any]] = []
    with atomic_dir(ctx.path("report")) as tmp:
        _figure1(rows, tmp / "figure1_accuracy_vs_mn_norm.png", title)
        _figure5(rows, targets, simulated, tmp / "figure5_accuracy_vs_latency.png", title)
        if plan.get("left_out"):
            g, gen = _generalisation(rows, lat, plan)
            lines += ["## Figure 6: searched over five devices, scored on the two left out", "",
                      *g, ""]
            _figure6(gen, tmp / "figure6_left_out.png", title)
        lines += ["## The paper's claims here", ""]
        for c in claims:
            lines.append(f"- {'HELD' if c['held'] else 'did NOT hold'}: {c['claim']}: "
                         f"{json.dumps(c['numbers'], default=str)}"
                         + (f" ({c['note']})" if c.get("note") else ""))
        lines += ["", "## Stage times (s)", "", "| stage | seconds |", "|---|---:|"]
        lines += [f"| {k} | {e.get('seconds', 0) + e.get('interrupted_seconds', 0):.1f} |"
                  for k, e in ctx.ledger.stages.items() if "finished" in e]
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
            "claims": len(claims)}
