"""Hostile run over mhzoo's search side, through the command line only.

Every case: the command, what is expected (exit 2 and exactly one ``Error:`` line with no
traceback and no TensorFlow log line / exit 0 and a resumed result), what was observed, and a
verdict. Fixtures (tiny image folders, tiny latency stores, cost models) are made once under
``data/`` with the CLI itself; each run works in a fresh ``work/``.

    bash benchmarks/hostile/run.sh                 # everything -> report.md, FAILING.md
    bash benchmarks/hostile/run.sh --only nan      # cases whose id contains "nan"
    bash benchmarks/hostile/run.sh --rebuild-data  # remake the fixtures first
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: where the fixtures, the work folders and the reports go (outside the repository)
HERE = Path(os.environ.get("MHZOO_HOSTILE_DIR", "/tmp/mhzoo-hostile")).resolve()
DATA = HERE / "data"
WORK = HERE / "work"
REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("MHZOO_SHARED_DATA", "/work/shared/data"))
MHZOO = str(REPO / ".venv" / "bin" / "mhzoo")
PY = str(REPO / ".venv" / "bin" / "python")

SPACE_OPTS = ["-O", "width=0.25", "-O", "max_layers=1"]
NORM = "cpu_fp32=1.0,cpu_int8=1.0"
TARGETS = "cpu_fp32,cpu_int8"

ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MHZOO_HOME": str(WORK / "home"),
       "TQDM_DISABLE": "1"}
ENV.pop("MHZOO_DEBUG", None)
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a user sees


# ============================================================================= running
@dataclass
class Result:
    cmd: list[str]
    rc: int | None
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return (self.err + self.out).strip()

    def lines(self) -> list[str]:
        return [ln for ln in (self.err + "\n" + self.out).splitlines() if ln.strip()]


def show(cmd: list[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd).replace(str(HERE) + "/", "")


def run(cmd: list[str], timeout: float = 900, cwd: Path | None = None,
        env: dict | None = None) -> Result:
    cmd = [str(c) for c in cmd]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           cwd=cwd or WORK, env=env or ENV)
        return Result(cmd, p.returncode, p.stdout, p.stderr, time.time() - t0)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Result(cmd, None, out, err + f"\n[timed out after {timeout:.0f} s]",
                      time.time() - t0)


def mhzoo(*args: object, timeout: float = 900) -> Result:
    return run([MHZOO, *args], timeout=timeout)


def must(res: Result, what: str) -> Result:
    if res.rc != 0:
        raise SetupError(f"{what} failed (rc {res.rc}): {show(res.cmd)}\n{res.text[-2000:]}")
    return res


class SetupError(RuntimeError):
    pass


# ============================================================================= verdicts
TB_RE = re.compile(r"Traceback \(most recent call last\)")
TF_LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.\d]*: [IWEF] |[IWEF]\d{4} |WARNING:|"
                       r"W0000|I0000|E0000|.*cuda|.*oneDNN|.*TF_ENABLE_ONEDNN_OPTS|.*absl::)")


def one_line_error(res: Result, needles: tuple[str, ...] = (), max_len: int = 400
                   ) -> list[str]:
    """Problems with an expected one-line error (empty: fine)."""
    bad = []
    if res.rc is None:
        return ["timed out"]
    if res.rc != 2:
        bad.append(f"exit {res.rc}, expected 2")
    lines = res.lines()
    if TB_RE.search(res.text):
        bad.append("traceback")
    tf_lines = [ln for ln in lines if TF_LOG_RE.match(ln)]
    if tf_lines:
        bad.append(f"{len(tf_lines)} TensorFlow/absl log line(s) before the error")
    errs = [ln for ln in lines if ln.startswith("Error")]
    if len(lines) != 1 or len(errs) != 1:
        bad.append(f"{len(lines)} output lines, expected exactly one 'Error: ...' line")
    msg = errs[-1] if errs else (lines[-1] if lines else "")
    if "internal error" in msg:
        bad.append("'internal error'")
    low = msg.lower()
    for n in needles:
        alts = n.split("|")
        if not any(a.lower() in low for a in alts):
            bad.append(f"message lacks {n!r}")
    if len(msg) > max_len:
        bad.append(f"message {len(msg)} chars long")
    return bad


def ok_exit(res: Result) -> list[str]:
    if res.rc is None:
        return ["timed out"]
    bad = [] if res.rc == 0 else [f"exit {res.rc}, expected 0"]
    if TB_RE.search(res.text):
        bad.append("traceback")
    return bad


# ============================================================================= cases
@dataclass
class Case:
    id: str
    cls: str
    title: str
    expected: str
    fn: Callable[[Case], None]
    commands: list[str] = field(default_factory=list)
    observed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    verdict: str = "?"
    seconds: float = 0.0

    # helpers used by case functions
    def run(self, res_or_args: Result | list, *, record: bool = True) -> Result:
        res = res_or_args if isinstance(res_or_args, Result) else mhzoo(*res_or_args)
        if record:
            self.commands.append(show(res.cmd))
            rc = "timeout" if res.rc is None else res.rc
            first = res.lines()[-1] if res.lines() else ""
            self.observed.append(f"exit {rc}: {first[:300]}")
            self.outputs.append(f"$ {show(res.cmd)}\n[exit {rc}, {res.seconds:.1f} s]\n"
                                + res.text[-3000:])
        return res

    def expect_error(self, args: list, *needles: str, then: Callable[[], list[str]] | None = None
                     ) -> Result:
        res = self.run(args)
        self.problems += one_line_error(res, needles)
        if then is not None:
            self.problems += then()
        return res

    def expect_ok(self, args: list, then: Callable[[], list[str]] | None = None) -> Result:
        res = self.run(args)
        self.problems += ok_exit(res)
        if then is not None:
            self.problems += then()
        return res

    def check(self, cond: bool, problem: str) -> None:
        if not cond:
            self.problems.append(problem)


CASES: list[Case] = []


def case(cid: str, cls: str, title: str, expected: str = "exit 2, one 'Error:' line"):
    def deco(fn):
        CASES.append(Case(cid, cls, title, expected, fn))
        return fn
    return deco


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sidecars(db: Path) -> list[str]:
    return [s for s in ("-wal", "-shm", "-journal") if Path(f"{db}{s}").exists()]


def header_mode(db: Path) -> str:
    return "wal" if Path(db).read_bytes()[18:20] == b"\x02\x02" else "rollback"


def fresh(name: str) -> Path:
    p = WORK / name
    if p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True)
    return p


# ============================================================================= report
RESULTS = HERE / "results.json"


def _merge_results(cases: list[Case], only: list[str]) -> list[Case]:
    """The cases of this run plus, with --only, the latest record of every other case."""
    old = {}
    if only and RESULTS.exists():
        try:
            old = json.loads(RESULTS.read_text())
        except ValueError:
            old = {}
    merged = []
    for c in cases:
        if c.verdict != "?":
            old[c.id] = {k: getattr(c, k) for k in ("id", "cls", "title", "expected",
                                                    "commands", "observed", "problems",
                                                    "outputs", "verdict", "seconds")}
            old[c.id]["when"] = time.strftime("%H:%M", time.gmtime())
        if c.id in old:
            rec = old[c.id]
            merged.append(Case(rec["id"], rec["cls"], rec["title"], rec["expected"],
                               lambda _c: None, rec["commands"], rec["observed"],
                               rec["problems"], rec["outputs"], rec["verdict"],
                               rec["seconds"]))
    RESULTS.write_text(json.dumps(old, indent=1))
    return merged


def write_reports(cases: list[Case], started: float, only: list[str]) -> None:
    ran = _merge_results(cases, only)
    fails = [c for c in ran if c.verdict != "PASS"]
    classes: dict[str, list[Case]] = {}
    for c in ran:
        classes.setdefault(c.cls, []).append(c)
    stamp = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())
    head = [f"# Hostile run over the search side — {stamp}",
            "",
            f"Repository {REPO} at `{git_head()}`; {len(ran)} cases, "
            f"{len(ran) - len(fails)} pass, {len(fails)} fail; "
            f"last run {(time.time() - started) / 60:.1f} min (`bash benchmarks/hostile/run.sh"
            + (" --only " + " ".join(only) if only else "") + "`"
            + ("; other cases from earlier runs, see results.json" if only else "") + ").", "",
            "Expected, unless a case says otherwise: exit 2 and exactly one line `Error: ...` "
            "(no traceback, no TensorFlow log line, no 'internal error').", "",
            "## Classes", "", "| class | cases | failing |", "|---|---|---|"]
    for cls, cs in classes.items():
        bad = [c.id for c in cs if c.verdict != "PASS"]
        head.append(f"| {cls} | {len(cs)} | {', '.join(bad) if bad else '-'} |")
    body = ["", "## Cases", ""]
    for c in ran:
        body += [f"### {c.id} — {c.verdict}", "", f"*{c.cls}*: {c.title}", "",
                 f"- expected: {c.expected}"]
        for cmd, obs in zip(c.commands, c.observed, strict=False):
            body += [f"- `{cmd}`", f"  - observed: {obs}"]
        if c.problems:
            body.append(f"- problems: {'; '.join(c.problems)}")
        body += [f"- verdict: **{c.verdict}** ({c.seconds:.0f} s)", ""]
    (HERE / "report.md").write_text("\n".join(head + body) + "\n")
    fl = [f"# Failing hostile cases — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
          f"{len(fails)} of {len(ran)} cases fail (repository at `{git_head()}`). Rerun one with "
          "`bash benchmarks/hostile/run.sh --only CASE_ID`. Paths are relative to "
          f"{HERE}.", ""]
    for c in fails:
        fl += [f"## {c.id} ({c.cls})", "", c.title, "", f"Expected: {c.expected}", "",
               f"Problems: {'; '.join(c.problems)}", "", "```"]
        for o in c.outputs:
            fl.append(o.replace(str(HERE) + "/", ""))
        fl += ["```", ""]
    (HERE / "FAILING.md").write_text("\n".join(fl) + "\n")


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
                              capture_output=True, text=True).stdout.strip()[:90]
    except OSError:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--rebuild-data", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    from cases import register_all
    from fixtures import build_fixtures

    register_all()
    if a.list:
        for c in CASES:
            print(f"{c.id:40s} {c.cls}")
        return 0
    started = time.time()
    if WORK.exists():
        shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "home").mkdir()
    try:
        build_fixtures(rebuild=a.rebuild_data)
    except SetupError as exc:
        print(f"fixtures failed: {exc}", file=sys.stderr)
        return 1
    todo = [c for c in CASES if not a.only or any(s in c.id for s in a.only)]
    for i, c in enumerate(todo, 1):
        t0 = time.time()
        print(f"[{i}/{len(todo)}] {c.id} ...", end=" ", flush=True)
        try:
            c.fn(c)
            c.verdict = "PASS" if not c.problems else "FAIL"
        except SetupError as exc:
            c.problems.append(f"setup: {exc}")
            c.verdict = "ERROR"
        except Exception:  # a bug of the harness: say so, go on
            c.problems.append("harness: " + traceback.format_exc(limit=3).replace("\n", " | "))
            c.verdict = "ERROR"
        c.seconds = time.time() - t0
        why = " " + "; ".join(c.problems)[:200] if c.problems else ""
        print(f"{c.verdict} ({c.seconds:.0f} s){why}", flush=True)
        write_reports(CASES, started, a.only)
    print(f"-> {HERE / 'report.md'}, {HERE / 'FAILING.md'}")
    return 0


