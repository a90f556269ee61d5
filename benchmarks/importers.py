"""Latencies measured elsewhere: ``benchmark_model`` text output and latency CSV tables.

``benchmark_model`` (TFLite's C++ tool, also what ``mhzoo bench --adb`` runs) logs, per run
phase, ``count=N first=F curr=C min=A max=B avg=M std=S`` in microseconds, and at the end
``Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ..., Inference (avg):
...`` (tensorflow/lite/tools/benchmark/benchmark_model.cc). The reported latency is the
average of the regular (non-warm-up) runs: the tool prints no median.

The CSV layout is that of ``../shared/data/paper_table1_pixel4.csv``: a ``model`` column,
optional ``width_multiplier``, ``top1_accuracy_pct``, ``params_m``, ``madds_m``, and one
``<target>_ms`` column per target; an empty cell means "not supported on that target".
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BenchmarkModelResult", "LatencyRow", "LatencyTable", "fmt_width",
           "parse_benchmark_model_output",
           "read_benchmark_model_output", "read_latency_csv", "read_latency_csv_text"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_STAT_RE = re.compile(rf"count=(?P<count>\d+)(?P<rest>(?:\s+\w+={_NUM})*)(?P<same>\(all same\))?")
_KV_RE = re.compile(rf"(\w+)=({_NUM})")
_TIMINGS_RE = re.compile(r"Inference timings in us:(?P<body>.*)$")
_RUNNING_RE = re.compile(r"Running benchmark for at least (\d+) iterations")


@dataclass(frozen=True)
class BenchmarkModelResult:
    """What one ``benchmark_model`` run reports (times in milliseconds)."""

    avg_ms: float
    count: int
    min_ms: float | None = None
    max_ms: float | None = None
    std_ms: float | None = None
    first_ms: float | None = None
    init_ms: float | None = None
    warmup_avg_ms: float | None = None
    graph: str | None = None
    num_threads: int | None = None
    delegate: str | None = None
    fully_delegated: bool | None = None


def _float(label: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"benchmark_model output: {label} is not a number: {text!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"benchmark_model output: {label} is not finite: {text!r}")
    return v


def parse_benchmark_model_output(text: str) -> BenchmarkModelResult:
    """Parse the log of one ``benchmark_model`` run.

    Raises:
        ValueError: the text has no run statistics, a malformed number, or a zero or negative
            latency.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("benchmark_model output is empty")
    lines = text.splitlines()
    # The statistics line of each phase follows its "Running benchmark ..." line; the last
    # phase is the regular (timed) one.
    phases: list[dict[str, float]] = []
    timings: dict[str, float] = {}
    graph = threads = delegate = None
    fully: bool | None = None
    for line in lines:
        m = _STAT_RE.search(line)
        if m:
            stats = {"count": _float("count", m.group("count"))}
            for k, v in _KV_RE.findall(m.group("rest") or ""):
                stats[k] = _float(k, v)
            if m.group("same") and "curr" in stats:
                for k in ("first", "min", "max", "avg"):
                    stats.setdefault(k, stats["curr"])
                stats.setdefault("std", 0.0)
            phases.append(stats)
            continue
        m = _TIMINGS_RE.search(line)
        if m:
            for part in m.group("body").split(","):
                key, sep, value = part.partition(":")
                if not sep:
                    raise ValueError(f"benchmark_model output: malformed timings line: "
                                     f"{line.strip()!r}")
                timings[key.strip()] = _float(key.strip(), value.strip())
            continue
        g = re.search(r"Graph: \[(.*)\]", line)
        if g:
            graph = g.group(1)
        n = re.search(r"Num threads: \[(-?\d+)\]", line)
        if n:
            threads = int(n.group(1))
        d = re.search(r"Use (gpu|hexagon|nnapi|xnnpack): \[(1|true)\]", line, re.IGNORECASE)
        if d:
            delegate = d.group(1).lower()
        if re.search(r"completely executed by the delegate", line):
            fully = True
        elif re.search(r"partially executed by the delegate|Failed to apply .*delegate", line,
                       re.IGNORECASE):
            fully = False
        r = re.search(r"Replacing (\d+) out of (\d+) node\(s\)", line) or re.search(
            r"(\d+) nodes delegated out of (\d+) nodes", line)
        if r and fully is None:
            fully = r.group(1) == r.group(2)

    if not phases and "Inference (avg)" not in timings:
        raise ValueError("not benchmark_model output: no 'count=...' statistics and no "
                         "'Inference timings in us' line")
    stats = phases[-1] if phases else {}
    avg_us = timings.get("Inference (avg)", stats.get("avg"))
    if avg_us is None:
        raise ValueError("benchmark_model output: the statistics line has no avg=")
    count = int(stats.get("count", 0)) if stats else 0
    if stats and count < 1:
        raise ValueError("benchmark_model output: the timed phase ran 0 times (count=0)")
    for label, v in (("Inference (avg)", avg_us), ("min", stats.get("min")),
                     ("max", stats.get("max")), ("first", stats.get("first"))):
        if v is not None and v <= 0:
            raise ValueError(f"benchmark_model output: {label} latency is {v:g} us; latencies "
                             "must be > 0")
    if stats.get("std") is not None and stats["std"] < 0:
        raise ValueError("benchmark_model output: negative std")

    def ms(v: float | None) -> float | None:
        return None if v is None else v / 1000.0

    return BenchmarkModelResult(
        avg_ms=avg_us / 1000.0, count=count, min_ms=ms(stats.get("min")),
        max_ms=ms(stats.get("max")), std_ms=ms(stats.get("std")),
        first_ms=ms(timings.get("First inference")),
        init_ms=ms(timings.get("Init")), warmup_avg_ms=ms(timings.get("Warmup (avg)")),
        graph=graph, num_threads=threads, delegate=delegate, fully_delegated=fully)


def read_benchmark_model_output(path: str | os.PathLike) -> BenchmarkModelResult:
    """:func:`parse_benchmark_model_output` of a saved log file."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except FileNotFoundError:
        raise FileNotFoundError(f"benchmark_model output file not found: {p}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        return parse_benchmark_model_output(text)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None


# ---------------------------------------------------------------------------- CSV tables

def fmt_width(width: float) -> str:
    """1.0 -> "1.0", 1.25 -> "1.25" (as the paper writes width multipliers)."""
    s = f"{width:g}"
    return s if "." in s or "e" in s else s + ".0"


#: Optional descriptive columns of the latency CSV (paper_table1_pixel4.csv layout).
INFO_COLUMNS = ("width_multiplier", "top1_accuracy_pct", "params_m", "madds_m")
#: Columns a report computes; ignored when reading.
DERIVED_COLUMNS = ("mn_norm_avg", "mn_norm_max")


@dataclass
class LatencyRow:
    """One model in a latency table."""

    model: str
    latency_ms: dict[str, float | None]
    width: float | None = None
    top1_accuracy_pct: float | None = None
    params_m: float | None = None
    madds_m: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``model`` or ``model@width``."""
        return self.model if self.width is None else f"{self.model}@{fmt_width(self.width)}"


@dataclass
class LatencyTable:
    """Models x targets latency table (ms; ``None`` = unsupported)."""

    targets: list[str]
    rows: list[LatencyRow]

    def find(self, model: str, width: float | None = None) -> LatencyRow:
        """The row of ``model`` (at ``width``); ``ValueError`` when absent or ambiguous."""
        hits = [r for r in self.rows if r.model == model and (
            width is None or (r.width is not None and abs(r.width - width) < 1e-9)
            or (r.width is None and abs(width - 1.0) < 1e-9))]
        label = model if width is None else f"{model}@{fmt_width(width)}"
        if not hits:
            have = sorted({r.label for r in self.rows})
            raise ValueError(f"reference model {label} is not in the latency table "
                             f"(rows: {', '.join(have)}); pass --reference with one of them "
                             "or give --norm-factors")
        if len(hits) > 1:
            raise ValueError(f"reference model {model} appears at several widths "
                             f"({', '.join(r.label for r in hits)}); say which, e.g. "
                             f"--reference {hits[0].label}")
        return hits[0]


def _cell_number(cell: str, where: str, column: str, *, positive: bool) -> float | None:
    s = cell.strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"{where}: {column} is not a number: {s!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{where}: {column} is not finite: {s!r}")
    if positive and v <= 0:
        raise ValueError(f"{where}: {column} must be > 0 ms, got {s}; leave the cell empty for "
                         "'unsupported'")
    return v


def read_latency_csv_text(text: str, source: str = "CSV") -> LatencyTable:
    """Parse a latency CSV (see the module docstring for the layout)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ValueError(f"{source} is empty (expected a header with a 'model' column)")
    if "model" not in header:
        raise ValueError(f"{source} has no 'model' column (header: {', '.join(header)})")
    reader.fieldnames = header
    targets = [h[:-3] for h in header if h.endswith("_ms") and h[:-3]]
    if not targets:
        raise ValueError(f"{source} has no latency columns; expected '<target>_ms' columns, "
                         "e.g. cpu_float_ms")
    if len(set(targets)) != len(targets):
        raise ValueError(f"{source} has a repeated latency column")
    rows: list[LatencyRow] = []
    seen: set[tuple[str, float | None]] = set()
    for i, raw in enumerate(reader, start=2):
        if raw is None or all(not (v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        if None in raw:
            raise ValueError(f"{source} line {i}: more cells than header columns")
        model = (raw.get("model") or "").strip()
        if not model:
            raise ValueError(f"{source} line {i}: empty model name")
        where = f"{source} line {i} ({model})"
        lat = {t: _cell_number(raw.get(f"{t}_ms") or "", where, f"{t}_ms", positive=True)
               for t in targets}
        info = {c: _cell_number(raw.get(c) or "", where, c, positive=c == "width_multiplier")
                for c in INFO_COLUMNS if c in header}
        width = info.get("width_multiplier")
        key = (model, width)
        if key in seen:
            raise ValueError(f"{where}: duplicate row for {model}"
                             + (f" at width {fmt_width(width)}" if width is not None else ""))
        seen.add(key)
        extra = {k: v for k, v in raw.items() if k not in targets and k != "model"
                 and not k.endswith("_ms") and k not in INFO_COLUMNS}
        rows.append(LatencyRow(model=model, latency_ms=lat, width=width,
                               top1_accuracy_pct=info.get("top1_accuracy_pct"),
                               params_m=info.get("params_m"), madds_m=info.get("madds_m"),
                               extra=extra))
    if not rows:
        raise ValueError(f"{source} has a header but no rows")
    return LatencyTable(targets=targets, rows=rows)


def read_latency_csv(path: str | os.PathLike) -> LatencyTable:
    """Read a latency CSV file; ``ValueError`` with the line and column of a bad cell."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"latency CSV not found: {p}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p} is not a text CSV file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        return read_latency_csv_text(text, source=str(p))
    except csv.Error as exc:
        raise ValueError(f"{p}: malformed CSV: {exc}") from None
