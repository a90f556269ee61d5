"""``mhzoo search collect``, ``merge`` and ``dataset``: latency collection into a results store,
joining stores, and a store's architectures as a CSV dataset."""

from __future__ import annotations

import click

from mhzoo.atomic import check_output_path
from mhzoo.benchmarks.targets import parse_targets
from mhzoo.search.cli.options import OPTION, open_space, read_genotypes
from mhzoo.search.cost.data import write_dataset_csv
from mhzoo.search.latency.collection import collect, sample_genotypes
from mhzoo.search.latency.shards import merge_stores, parse_shard, store_dataset

__all__ = ["collect_cmd", "dataset_cmd", "merge_cmd"]


@click.command("collect")
@click.option("--space", "space_name", required=True, help="Search space name.")
@click.option("--target", "targets", required=True,
              help="Local or simulated targets, e.g. cpu_fp32,cpu_int8,sim_edgetpu "
                   "(simulated ones are not timed: their latency is the layer table's).")
@click.option("--n", "n", type=click.IntRange(1, 10_000_000), default=None,
              help="Number of seeded uniform samples (or the first N of --genotypes).")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--genotypes", "genotypes_file", type=click.Path(dir_okay=False), default=None,
              help="Measure these genotypes (file of strings or JSON) instead of samples.")
@click.option("--shard", default=None, metavar="I/N", help="Measure shard I of N (from 0).")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite store.")
@click.option("--writer", type=click.Choice(["direct", "converter"]), default="direct",
              show_default=True, help="How each .tflite is made.")
@click.option("--input-size", type=click.IntRange(32, 1024), default=None,
              help="Input size (a space option; default the space's).")
@click.option("--clock", type=click.Choice(["cpu", "wall"]), default="cpu", show_default=True,
              help="Thread CPU time (robust on a shared machine) or wall time.")
@click.option("--passes", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Measure everything this many times in separate passes; store the median.")
@OPTION
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def collect_cmd(space_name: str, targets: str, n: int | None, seed: int,
                genotypes_file: str | None, shard: str | None, db: str, writer: str,
                input_size: int | None, clock: str, passes: int, options: tuple[str, ...],
                no_progress: bool) -> None:
    """Measure sampled or given architectures of a space into a results store (resumable)."""
    space = open_space(space_name, options, input_size)
    ts = parse_targets(targets)
    part = parse_shard(shard)
    if genotypes_file is not None:
        genotypes = read_genotypes(genotypes_file, space)
        genotypes = genotypes[:n] if n else genotypes
    elif n is None:
        raise ValueError("give --n (number of samples) or --genotypes FILE")
    else:
        genotypes = sample_genotypes(space, n, seed)
    summary = collect(space, genotypes, ts, db, writer=writer, shard=part, clock=clock,
                      passes=passes,
                      progress=not no_progress)
    d = summary.to_dict()
    click.echo(f"{d['architectures']} architectures (shard {part[0]}/{part[1]}): {d['measured']} "
               f"rows measured, {d['cached']} already stored, {d['seconds']:.0f} s, "
               f"{d['archs_per_hour']} archs/hour -> {db}")


@click.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing output.")
def merge_cmd(sources: tuple[str, ...], output: str, force: bool) -> None:
    """Merge results stores (e.g. collection shards) into a new one."""
    res = merge_stores(list(sources), output, force=force)
    click.echo(f"{res['rows']} rows ({res['duplicates']} duplicate keys skipped) -> {output}")


@click.command("dataset")
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--space", "space_name", required=True)
@click.option("--target", "targets", required=True)
@OPTION
@click.option("--machine", default=None, help="Machine key (when the store has several).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True)
def dataset_cmd(db: str, space_name: str, targets: str, options: tuple[str, ...],
                machine: str | None, output: str, force: bool) -> None:
    """Write a store's architectures of a space as CSV: genotype, <target>_ms, ..."""
    check_output_path(output, force=force)
    names = [t.strip() for t in targets.split(",") if t.strip()]
    rows = store_dataset(db, open_space(space_name, options), names, machine=machine)
    write_dataset_csv(output, rows, names)
    click.echo(f"{len(rows)} architectures -> {output}")
