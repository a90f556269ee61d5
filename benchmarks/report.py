"""Table-1 style reports: model, width, accuracy, params, MAdds, ms per target, MN-Norm avg/max.

Rendered as markdown (``×`` = unsupported, best value per column in bold, as in the paper),
as CSV in the layout of ``paper_table1_pixel4.csv`` (empty cell = unsupported) and as JSON (a
list of rows with ``model``, ``<target>_ms``, ``mn_norm_avg``, ``mn_norm_max``; ``null`` =
unsupported). Simulated targets (``sim_*``, :mod:`mhzoo.benchmarks.simulated`) are labelled
"simulated" in the markdown headers and notes and listed in each JSON row's
``simulated_targets``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mhzoo.benchmarks.importers import LatencyRow, LatencyTable, fmt_width
from mhzoo.benchmarks.normalization import mn_norm, normalization_factors
from mhzoo.benchmarks.targets import simulated_names

__all__ = ["DATASETS", "DEFAULT_REFERENCE", "Report", "ReportRow", "build_report",
           "choose_machine", "paper_dataset", "parse_reference", "render", "table_from_db",
           "table_from_records", "to_csv", "to_json", "to_markdown"]

#: The paper normalizes by MobileNetV1 (section 6.2); Table 1's footnote in the shared data
#: says width 1.0.
DEFAULT_REFERENCE = "mobilenet_v1@1.0"
DATASETS = ("paper-pixel4",)
#: input resolution of the paper's Table 1 accuracies (shared/reference/architectures.md:
#: "Input is 224x224x3")
TABLE1_INPUT_SIZE = 224
FORMATS = ("md", "csv", "json")
#: how every report names the simulated targets' columns (their CSV columns are named
#: ``sim_<name>_ms``, which says it too)
SIMULATED_NOTE = ("simulated, not measured (ZigZag analytical accelerator model, not calibrated "
                  "to a real chip)")


@dataclass
class ReportRow:
    """One line of the report."""

    model: str
    width: float | None
    top1_accuracy_pct: float | None
    params_m: float | None
    madds_m: float | None
    latency_ms: dict[str, float | None]
    mn_norm_avg: float | None
    mn_norm_max: float | None

    @property
    def label(self) -> str:
        """``model@width`` (or ``model``)."""
        return self.model if self.width is None else f"{self.model}@{fmt_width(self.width)}"


@dataclass
class Report:
    """Rows plus how MN-Norm was computed."""

    targets: list[str]
    rows: list[ReportRow]
    factors: dict[str, float] | None
    weights: dict[str, float] | None = None
    reference: str | None = None
    notes: list[str] = field(default_factory=list)


def parse_reference(text: str) -> tuple[str, float | None]:
    """``"mobilenet_v1@1.0"`` -> ``("mobilenet_v1", 1.0)``; ``"mobilenet_v1"`` -> width None."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reference model name")
    name, sep, w = text.strip().rpartition("@")
    if not sep:
        return text.strip(), None
    try:
        width = float(w)
    except ValueError:
        raise ValueError(f"bad width in reference {text!r}: {w!r} is not a number") from None
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"bad width in reference {text!r}")
    return name, width


def build_report(table: LatencyTable, *, reference: str | None = None,
                 factors: Mapping[str, float] | None = None,
                 weights: Mapping[str, float] | None = None,
                 paper_mn_norm: Mapping[str, tuple[float | None, float | None]] | None = None,
                 ) -> Report:
    """MN-Norm for every row of ``table``.

    Args:
        table: latencies (ms) per model and target.
        reference: ``MODEL[@WIDTH]`` row whose latencies are the normalization factors
            (default ``mobilenet_v1@1.0``, the paper's choice); exclusive with ``factors``.
        factors: explicit normalization factors per target (all targets of the table).
        weights: optional per-target importance (section 5.2, case 2).
        paper_mn_norm: ``label -> (avg, max)`` to print instead of computing (published
            figures whose factors are unknown).
    """
    if reference is not None and factors is not None:
        raise ValueError("give either a reference model or explicit normalization factors, "
                         "not both")
    notes: list[str] = []
    c: dict[str, float] | None = None
    ref_label = None
    if paper_mn_norm is None:
        if factors is not None:
            unknown = [t for t in factors if t not in table.targets]
            if unknown:
                raise ValueError(f"normalization factor for unknown target(s) "
                                 f"{', '.join(unknown)}; targets: {', '.join(table.targets)}")
            missing = [t for t in table.targets if t not in factors]
            if missing:
                raise ValueError(f"no normalization factor for target(s) {', '.join(missing)}; "
                                 "give one per target, e.g. --norm-factors "
                                 + ",".join(f"{t}=MS" for t in table.targets))
            c = {t: float(factors[t]) for t in table.targets}
            normalization_factors(c, what="normalization factor")  # validates > 0
            notes.append("MN-Norm factors (ms): "
                         + ", ".join(f"{t}={v:g}" for t, v in c.items()))
        else:
            name, width = parse_reference(reference or DEFAULT_REFERENCE)
            row = table.find(name, width)
            c = normalization_factors({t: row.latency_ms.get(t) for t in table.targets})
            ref_label = row.label
            notes.append(f"MN-Norm reference: {row.label} (its latency on each target is the "
                         "normalization factor, paper eq. 4-5)")
        if weights:
            notes.append("hardware weights: " + ", ".join(f"{t}={v:g}"
                                                          for t, v in weights.items()))
    rows: list[ReportRow] = []
    for r in table.rows:
        if paper_mn_norm is not None:
            avg, mx = paper_mn_norm.get(r.label, (None, None))
        else:
            assert c is not None
            m = mn_norm(r.latency_ms, c, weights)
            avg, mx = m.avg, m.max
        rows.append(ReportRow(model=r.model, width=r.width, top1_accuracy_pct=r.top1_accuracy_pct,
                              params_m=r.params_m, madds_m=r.madds_m,
                              latency_ms=dict(r.latency_ms), mn_norm_avg=avg, mn_norm_max=mx))
    return Report(targets=list(table.targets), rows=rows, factors=c,
                  weights=dict(weights) if weights else None, reference=ref_label, notes=notes)


# ---------------------------------------------------------------------------- data sources

def paper_dataset(name: str) -> tuple[LatencyTable, dict[str, tuple[float | None, float | None]]]:
    """A published latency table and its printed MN-Norm columns.

    ``"paper-pixel4"``: Table 1 of the paper (Pixel 4), from :mod:`mhzoo.paper`.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    from mhzoo.paper import PAPER_TARGETS, TABLE1

    rows, printed = [], {}
    for r in TABLE1:
        row = LatencyRow(model=r.model, latency_ms=dict(r.latency_ms), width=r.width_multiplier,
                         top1_accuracy_pct=r.top1_accuracy_pct, params_m=r.params_m,
                         madds_m=r.madds_m)
        rows.append(row)
        printed[row.label] = (r.mn_norm_avg, r.mn_norm_max)
    return LatencyTable(targets=list(PAPER_TARGETS), rows=rows), printed


def table_from_records(records: Iterable[Any], targets: Sequence[str], *,
                       models: Sequence[tuple[str, float]] | None = None,
                       input_size: int | None = None, with_counts: bool = True) -> LatencyTable:
    """Latency table from stored rows (one machine): one row per (model, width).

    Args:
        records: stored rows (:class:`~mhzoo.benchmarks.store.LatencyRecord`).
        targets: the latency columns.
        models: ``(name, width)`` rows to include, in order (default: all, as stored).
        input_size: use only rows measured at this input size (rows of prebuilt .tflite
            files, whose size is not recorded, always count). Default: each model's rows must
            share one input size (``ValueError`` otherwise).
        with_counts: add params and MAdds (at the row's input size) for registered models.

    Accuracy is the paper's Table 1 figure only when the model and width match a published
    row and the latencies were measured at 224x224, the input size of Table 1.
    """
    from mhzoo.paper import table1_row
    from mhzoo.registry import list_models

    by_model: dict[tuple[str, float], dict[str, float | None]] = {}
    sizes: dict[tuple[str, float], set[int]] = {}
    for rec in records:
        if rec.target not in targets:
            continue
        if input_size is not None and rec.input_size not in (input_size, None):
            continue
        k = (rec.model, float(rec.width))
        by_model.setdefault(k, {})[rec.target] = rec.median_ms if rec.supported else None
        if rec.input_size is not None:
            sizes.setdefault(k, set()).add(int(rec.input_size))
    order = list(models) if models is not None else list(by_model)
    known = set(list_models())
    rows = []
    for name, width in order:
        lat = by_model.get((name, float(width)))
        if lat is None:
            continue
        found = sorted(sizes.get((name, float(width)), set()))
        if len(found) > 1:
            raise ValueError(f"{name}@{fmt_width(width)} has rows at several input sizes "
                             f"({', '.join(map(str, found))}); choose one with --input-size")
        size = found[0] if found else input_size
        acc = params = madds = None
        if name in known and width > 0:
            from mhzoo.registry import get_entry

            entry = get_entry(name)
            if size == TABLE1_INPUT_SIZE and entry.paper_row:
                paper = table1_row(entry.paper_row, width)
                acc = paper.top1_accuracy_pct if paper else None
            if with_counts:
                from mhzoo.profiler import profile

                prof = profile(name, width, size or TABLE1_INPUT_SIZE)
                params, madds = round(prof.params_m, 2), round(prof.madds_m)
        rows.append(LatencyRow(model=name, width=width if width > 0 else None,
                               latency_ms={t: lat.get(t) for t in targets},
                               top1_accuracy_pct=acc, params_m=params, madds_m=madds))
    if not rows:
        raise ValueError("no stored results for these models and targets")
    return LatencyTable(targets=list(targets), rows=rows)


# ---------------------------------------------------------------------------- rendering

def choose_machine(machines: Sequence[str], machine: str | None = None, *,
                   here: str | None = None, where: str = "the database") -> str:
    """Which machine's rows to report: ``machine`` if given (it must be stored), else this
    machine (``here``, default :func:`mhzoo.benchmarks.runner.machine_id`) when it has rows,
    else the only stored one.

    Raises:
        ValueError: nothing stored, an unknown ``machine``, or several machines and none chosen.
    """
    if not machines:
        raise ValueError(f"{where} holds no results")
    if machine is not None:
        if machine not in machines:
            raise ValueError(f"no rows for machine {machine!r} in {where}; machines: "
                             + "; ".join(machines))
        return machine
    if here is None:
        from mhzoo.benchmarks.runner import machine_id

        here = machine_id()
    if here in machines:
        return here
    if len(machines) == 1:
        return machines[0]
    raise ValueError(f"{where} holds several machines; choose one with --machine: "
                     + "; ".join(machines))


def table_from_db(db: Any, *, machine: str | None = None,
                  targets: Sequence[str] | None = None,
                  input_size: int | None = None) -> LatencyTable:
    """Latency table of one machine's rows in a results database (what ``mhzoo report --db``
    reports).

    Args:
        db: the SQLite path (opened read-only).
        machine: whose rows (default: :func:`choose_machine`'s pick).
        targets: the latency columns (default: every stored target, in stored order).
        input_size: only rows at this input size (and rows of prebuilt .tflite files).

    Raises:
        ValueError: see :func:`choose_machine`; a target or input size without rows.
    """
    from mhzoo.benchmarks.store import LatencyStore

    with LatencyStore(db, readonly=True) as store:
        machine = choose_machine(store.machines(), machine, where=str(db))
        records = store.records(machine=machine)
    tnames = [t for t in targets or () if t]
    if not tnames:
        tnames = list(dict.fromkeys(r.target for r in records))
    missing = [t for t in tnames if t not in {r.target for r in records}]
    if missing:
        raise ValueError(f"no rows for target(s) {', '.join(missing)} on {machine}")
    if input_size is not None:
        records = [r for r in records if r.input_size in (input_size, None)]
        if not records:
            raise ValueError(f"no rows at input size {input_size} for {machine}")
    models = list(dict.fromkeys((r.model, float(r.width)) for r in records))
    return table_from_records(records, tnames, models=models, input_size=input_size)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _csv_num(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"


def to_markdown(report: Report, title: str | None = None) -> str:
    """Table-1 style markdown; best value per column in bold; ``×`` = unsupported."""
    sims = set(simulated_names(report.targets))
    cols = ["Model", "wm", "Acc (%)", "Params (M)", "MAdds (M)",
            *[f"{t} (ms, simulated)" if t in sims else f"{t} (ms)" for t in report.targets],
            "MN-Norm avg", "MN-Norm max"]
    best: dict[str, float] = {}

    def upd(col: str, v: float | None, higher: bool = False) -> None:
        if v is None:
            return
        cur = best.get(col)
        if cur is None or (v > cur if higher else v < cur):
            best[col] = v

    for r in report.rows:
        upd("acc", r.top1_accuracy_pct, higher=True)
        for t in report.targets:
            upd(t, r.latency_ms.get(t))
        upd("avg", r.mn_norm_avg)
        upd("max", r.mn_norm_max)

    def cell(col: str, v: float | None, digits: int = 2, missing: str = "") -> str:
        if v is None:
            return missing
        s = _fmt(v, digits)
        return f"**{s}**" if best.get(col) is not None and abs(best[col] - v) < 1e-12 else s

    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += ["| " + " | ".join(cols) + " |",
              "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
    for r in report.rows:
        cells = [r.model, "" if r.width is None else fmt_width(r.width),
                 cell("acc", r.top1_accuracy_pct, 1),
                 _fmt(r.params_m), "" if r.madds_m is None else f"{r.madds_m:.0f}",
                 *[cell(t, r.latency_ms.get(t), 2, "×") for t in report.targets],
                 cell("avg", r.mn_norm_avg, 2, "×"), cell("max", r.mn_norm_max, 2, "×")]
        lines.append("| " + " | ".join(cells) + " |")
    if report.notes:
        lines.append("")
        lines += [f"- {n}" for n in report.notes]
    if sims:
        lines.append(f"- {SIMULATED_NOTE}: " + ", ".join(t for t in report.targets if t in sims)
                     + " (× = the target's compatibility rules refuse the int8 model).")
    lines.append("- × = not supported on that target; lower latency and MN-Norm are better.")
    return "\n".join(lines) + "\n"


def _row_dict(report: Report, r: ReportRow) -> dict[str, Any]:
    d: dict[str, Any] = {"model": r.model, "width_multiplier": r.width,
                         "top1_accuracy_pct": r.top1_accuracy_pct, "params_m": r.params_m,
                         "madds_m": r.madds_m}
    for t in report.targets:
        d[f"{t}_ms"] = r.latency_ms.get(t)
    d["mn_norm_avg"] = r.mn_norm_avg
    d["mn_norm_max"] = r.mn_norm_max
    sims = simulated_names(report.targets)
    if sims:
        d["simulated_targets"] = sims
    return d


def to_csv(report: Report) -> str:
    """CSV in the layout of ``paper_table1_pixel4.csv`` (empty cell = unsupported)."""
    buf = io.StringIO()
    header = ["model", "width_multiplier", "top1_accuracy_pct", "params_m", "madds_m",
              *[f"{t}_ms" for t in report.targets], "mn_norm_avg", "mn_norm_max"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in report.rows:
        d = _row_dict(report, r)
        w.writerow([d["model"], *[_csv_num(d[h]) for h in header[1:]]])
    return buf.getvalue()


def to_json(report: Report) -> str:
    """JSON list of rows; ``null`` = unsupported / unknown."""
    return json.dumps([_row_dict(report, r) for r in report.rows], indent=1,
                      allow_nan=False) + "\n"


def render(report: Report, fmt: str = "md", title: str | None = None) -> str:
    """``fmt`` is ``md``, ``csv`` or ``json``."""
    if fmt == "md":
        return to_markdown(report, title)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return to_json(report)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
