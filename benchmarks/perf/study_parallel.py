"""Run Study B's unfinished searches, then its trainings, two at a time (one per core).

``mhzoo search study`` runs its stages one after another on every core; a cpu-proxy TuNAS
search or a small CIFAR training does not use two cores twice as well as one, so on a 2-core
machine two side by side (each pinned to one core) finish sooner. This script is how Study B's
last four searches, its twelve first-seed trainings and its second seeds were run (session
6); the study command, rerun afterwards, finds them finished in the ledger and goes on with
the rest (latency, report)::

    python benchmarks/perf/study_parallel.py B --data ../shared/data/cifar10 \\
        --out /work/runs/study_b --cores 0,1
    mhzoo search study B --data ../shared/data/cifar10 --out /work/runs/study_b

Every search is the study's own stage function (``_search``: the same request, folder and
resume) and every training the study's ``train_model`` (session 6 ran an inline copy of it,
since moved into the study); only
the ledger bookkeeping happens here, once, in this process, after the workers ended: each
finished search / training gets the entry the study would have written (its wall seconds on
its own core, its value). Rerun after an interruption: finished ones are skipped and
interrupted ones resume from their checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _context(args: argparse.Namespace) -> Any:
    from mhzoo.search.study import study_spec
    from mhzoo.search.study.stages import open_study

    return open_study(study_spec(args.study, tiny=args.tiny), args.out, args.data)


def _wall_file(ctx: Any, stage: str) -> Path:
    return ctx.out / f"{stage}.wall.json"


def _worker(args: argparse.Namespace) -> None:
    """One core's stages (``search/LABEL`` or ``train/NAME_sSEED``), in order; each one's wall
    time (and a training's value) into ``DIR/STAGE.wall.json``. Never writes the ledger."""
    from mhzoo.atomic import atomic_write_text
    from mhzoo.search.study.stages import _search, _searches, model_entries, train_model

    ctx = _context(args)
    plan = json.loads((ctx.out / "plan.json").read_text())
    searches = _searches(ctx, plan)
    entries: dict[str, Any] = {}
    for stage in args.labels:
        wall_file = _wall_file(ctx, stage)
        if wall_file.is_file() or wall_file.with_suffix(".recorded").is_file():
            continue  # run by an earlier worker (a rerun would time only its resume)
        t0, start = time.perf_counter(), time.time()
        kind, name = stage.split("/", 1)
        value = None
        if kind == "search":
            _search(ctx, name, searches[name])
        else:
            entries = entries or {e["name"]: e for e in model_entries(ctx, plan)}
            model, seed = name.rsplit("_s", 1)
            value = train_model(ctx, entries[model], int(seed))
        wall = {"started_unix": start, "seconds": round(time.perf_counter() - t0, 1),
                "value": value}
        atomic_write_text(wall_file, json.dumps(wall) + "\n")


def _in_parallel(args: argparse.Namespace, ctx: Any, todo: list[str], outputs: Any,
                 value: Any) -> list[int]:
    """Run ``todo`` (stage names) over the cores, then record each finished one."""
    cores = args.cores.split(",")
    shares = [todo[i::len(cores)] for i in range(len(cores))]
    print(f"[parallel] {todo} over cores {cores}: {shares}", flush=True)
    procs = [subprocess.Popen(["taskset", "-c", c, sys.executable, __file__, args.study,
                               "--data", args.data, "--out", args.out,
                               *(["--tiny"] if args.tiny else []), "--worker", *share])
             for c, share in zip(cores, shares) if share]
    codes = [p.wait() for p in procs]
    for stage in todo:
        wall_file = _wall_file(ctx, stage)
        if not wall_file.is_file():
            continue
        wall = json.loads(wall_file.read_text())
        ctx.ledger.record(stage, value(stage, wall), outputs(stage), wall["seconds"],
                          started_unix=wall["started_unix"],
                          note="run by benchmarks/perf/study_parallel.py, one core")
        os.replace(wall_file, wall_file.with_suffix(".recorded"))
    return codes


def _main(args: argparse.Namespace) -> None:
    from mhzoo.search.study.stages import (
        _cost_models_b,
        _plan,
        _random,
        _search_value,
        _searches,
        _second_seeds,
        model_entries,
    )

    ctx = _context(args)
    ledger = ctx.ledger
    ledger.note_interrupted()
    _cost_models_b(ctx)  # (deterministic; redone when its folder is missing)
    plan = ledger.run("plan", lambda: _plan(ctx), ["plan.json"])
    searches = _searches(ctx, plan)
    todo = [f"search/{lb}" for lb in searches if not ledger.is_done(f"search/{lb}")]
    codes = _in_parallel(args, ctx, todo, lambda st: [f"{st}/search_result.json"],
                         lambda st, w: _search_value(ctx.out / st, searches[st.split("/")[1]]))
    if any(codes):
        raise SystemExit(f"a search worker failed: exit codes {codes}")
    ledger.run("random", lambda: _random(ctx, plan), ["random.json"])
    entries = model_entries(ctx, plan)  # (writes the genotype files, once, here)
    todo = [f"train/{e['name']}_s0" for e in entries if not ledger.is_done(f"train/{e['name']}_s0")]
    codes = _in_parallel(args, ctx, todo, lambda st: [f"{st}/model"],
                         lambda st, w: w["value"])
    if any(codes):
        raise SystemExit(f"a training worker failed: exit codes {codes}")
    second = ledger.run("seeds", lambda: _second_seeds(ctx, entries))
    todo = [f"train/{n}_s1" for n in second if not ledger.is_done(f"train/{n}_s1")]
    codes = _in_parallel(args, ctx, todo, lambda st: [f"{st}/model"],
                         lambda st, w: w["value"])
    if any(codes):
        raise SystemExit(f"a second-seed training worker failed: exit codes {codes}")


def _cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study", choices=["B"])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cores", default="0,1", help="comma-separated CPU numbers, one worker each")
    p.add_argument("--tiny", action="store_true", help="the study's tiny version (a check)")
    p.add_argument("--worker", dest="labels", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    cores = a.cores.split(",")
    if not all(c.isdigit() for c in cores) or len(set(cores)) != len(cores):
        p.error(f"--cores must be distinct CPU numbers like 0,1; got {a.cores!r}")
    if any(int(c) >= (os.cpu_count() or 1) for c in cores):
        p.error(f"--cores {a.cores}: this machine has CPUs 0-{(os.cpu_count() or 1) - 1}")
    if not Path(a.data).exists():
        p.error(f"--data not found: {a.data}")
    try:
        _worker(a) if a.labels else _main(a)
    except ValueError as exc:  # a folder holding another study, damaged ledger, bad data
        p.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    _cli()
