"""Copy a study folder's results (finished or in progress) into ``benchmarks/perf/results/``:
the ledger with every stage's times, the plan, each finished search's result and convergence
figure, the regenerate run's report, and, once written, the report (tables, figures, claims).
Large or rebuildable files (checkpoints, TensorBoard logs, trained models, SQLite stores) stay
in the study folder.

    python benchmarks/perf/commit_study.py /work/runs/study_a --name study_A

Writes ``results/<name>/`` as one atomic folder swap, with ``STATUS.md`` saying which stages
had finished when it was copied (with their wall times) and which had not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

#: files copied when present, relative to the study folder
FILES = ("study.json", "plan.json", "random.json", "latency.json",
         "regenerate_multi_max/report.md", "regenerate_multi_max/report.json",
         "regenerate_multi_max/regenerate.json")
#: per search folder
SEARCH_FILES = ("search_result.json", "convergence.png", "run.json")


def _searches(study: Path) -> dict[str, Path]:
    """``{label: folder}`` of every search folder of the study (those without a result yet
    copy nothing)."""
    out = {p.name: p for p in sorted((study / "search").glob("*")) if p.is_dir()}
    reg = study / "regenerate_multi_max" / "search"
    if reg.is_dir():
        out["max"] = reg
    return out


def status_lines(ledger: dict[str, Any]) -> list[str]:
    """A table of the ledger's stages: finished (with seconds) or not."""
    lines = ["| stage | finished | seconds (incl. interrupted runs) |", "|---|---|---:|"]
    total = 0.0
    for name, e in ledger.get("stages", {}).items():
        sec = float(e.get("seconds", 0.0)) + float(e.get("interrupted_seconds", 0.0))
        total += sec
        lines.append(f"| {name} | {e.get('finished', 'no (running or interrupted)')} | "
                     f"{sec:.0f} |")
    lines.append(f"| **total** | | **{total:.0f}** ({total / 3600:.2f} h) |")
    return lines


def copy_study(study: Path, name: str, command: str) -> Path:
    """Copy ``study``'s results to ``results/<name>``; returns that folder."""
    from mhzoo.atomic import atomic_dir

    ledger_path = study / "study.json"
    if not ledger_path.is_file():
        raise ValueError(f"{study} is not a study folder (no study.json)")
    ledger = json.loads(ledger_path.read_text())
    final = RESULTS / name
    RESULTS.mkdir(parents=True, exist_ok=True)
    with atomic_dir(final) as tmp:
        for rel in FILES:
            src = study / rel
            if src.is_file():
                dst = tmp / rel.replace("regenerate_multi_max/", "regenerate_multi_max_")
                shutil.copy2(src, dst)
        for label, folder in _searches(study).items():
            for f in SEARCH_FILES:
                if (folder / f).is_file():
                    (tmp / "search" / label).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(folder / f, tmp / "search" / label / f)
        if (study / "report").is_dir():
            shutil.copytree(study / "report", tmp / "report")
        done = all("finished" in e for e in ledger.get("stages", {}).values()) and (
            study / "report" / "summary.json").is_file()
        lines = [f"# {name}: {'finished' if done else 'IN PROGRESS (a snapshot)'}", "",
                 f"Study folder `{study}`, ledger created {ledger.get('created')}; copied with "
                 f"`python benchmarks/perf/commit_study.py {study} --name {name}`.", "",
                 "Run with:", "", "```", command, "```", "",
                 "Machine: 2-core AMD EPYC (the ledger's wall seconds include whatever else "
                 "ran on the machine; see the session notes).", "", *status_lines(ledger), ""]
        if (study / "report" / "study.md").is_file():
            lines += ["The report: `report/study.md` (tables, claims), `report/*.png`.", ""]
        (tmp / "STATUS.md").write_text("\n".join(lines))
    return final


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path, help="the study folder (--out of mhzoo search study)")
    ap.add_argument("--name", required=True, help="folder name under benchmarks/perf/results")
    ap.add_argument("--command", default="", help="the command that ran the study")
    a = ap.parse_args(argv)
    if not a.name.replace("_", "").replace("-", "").isalnum():
        print(f"error: --name must be letters, digits, '_' or '-', got {a.name!r}",
              file=sys.stderr)
        return 2
    try:
        out = copy_study(a.study, a.name, a.command or "(see benchmarks/perf/results/"
                                                      "study_plan.md)")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
