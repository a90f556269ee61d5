"""``mhzoo search study A|B --data D --out DIR [--tiny]``: one study of issue 19
(:mod:`mhzoo.search.study`) from the command line; rerunning the same command resumes it stage
by stage (searches, trainings and measurements that finished are skipped).

::

    mhzoo search study A --data ../shared/data/cifar10 --out runs/study_a
    mhzoo search study B --data ../shared/data/cifar10 --out runs/study_b
    mhzoo search study A --data ../shared/data/cifar10 --out /tmp/study_a --tiny
"""

from __future__ import annotations

from pathlib import Path

import click

from mhzoo.search.study import run_study, study_spec

__all__ = ["study_cmd"]


@click.command("study")
@click.argument("name", type=click.Choice(["A", "B", "a", "b"]))
@click.option("--data", required=True, help="CIFAR-10 TFRecord shard folder or image folders.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Study folder (new, or this study's own folder to resume).")
@click.option("--tiny", is_flag=True, help="Tiny limits for every stage (minutes; tests).")
@click.option("--progress/--no-progress", default=False, show_default=True)
def study_cmd(name: str, data: str, out_dir: str, tiny: bool, progress: bool) -> None:
    """Study A (multi_hardware, local targets) or B (fbnet, 7 real devices), resumable."""
    if not Path(data).exists():
        raise click.UsageError(f"--data not found: {data}")
    spec = study_spec(name, tiny=tiny)
    summary = run_study(spec, out_dir, data, echo=click.echo, progress=progress)
    click.echo(f"study {spec.name}: {summary['rows']} models; of {summary['claims']} claims "
               f"{summary['claims_held']} held, {summary.get('claims_inconclusive', 0)} "
               f"inconclusive -> {Path(out_dir) / 'report' / 'study.md'}")
