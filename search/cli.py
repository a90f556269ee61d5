"""``mhzoo search``: spaces, latency collection, store merging and latency cost models.

::

    mhzoo search space multi_hardware --sample 3
    mhzoo search encode multi_avg --space multi_hardware
    mhzoo search collect --space multi_hardware --target cpu_fp32,cpu_int8 --n 1200 --seed 0 \\
        [--passes 3] [--shard 0/4] --db lat.sqlite
    mhzoo search merge a.sqlite b.sqlite -o all.sqlite
    mhzoo search dataset --db lat.sqlite --space multi_hardware --target cpu_fp32,cpu_int8 \\
        -o lat.csv
    mhzoo search costmodel fit --data lat.csv --space multi_hardware --target cpu_fp32 \\
        --rows :1000 -o cpu_fp32.json
    mhzoo search costmodel eval cpu_fp32.json --data lat.csv --rows 1000: --plot fig4.png
    mhzoo search costmodel predict cpu_fp32.json GENOTYPE...

Nothing here imports TensorFlow unless the converter writer is asked for.
"""

from __future__ import annotations

import json

import click
from mhzoo.search.cli_options import open_space, read_genotypes

__all__ = ["search_cmd"]


_OPTION = click.option("--option", "-O", "options", multiple=True, metavar="KEY=VALUE",
                       help="Space option (repeatable), e.g. -O width=0.75 -O strides=1,1,2,2,1.")


@click.group("search")
def search_cmd() -> None:
    """Search spaces, latency collection and latency cost models."""


# ---------------------------------------------------------------------------- space
@search_cmd.command("space")
@click.argument("name")
@click.option("--sample", "n_sample", type=click.IntRange(0, 100_000), default=0,
              help="Print N seeded uniform samples (genotype strings).")
@click.option("--seed", type=int, default=0, show_default=True)
@_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def space_cmd(name: str, n_sample: int, seed: int, options: tuple[str, ...],
              as_json: bool) -> None:
    """Describe search space NAME (decisions, size) and optionally sample from it."""
    from mhzoo.search.collect import sample_genotypes

    space = open_space(name, options)
    samples = sample_genotypes(space, n_sample, seed) if n_sample else []
    if as_json:
        click.echo(json.dumps({
            "name": space.name, "summary": space.summary,
            "options": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in space.options.items()},
            "decisions": [{"path": d.path, "tag": d.tag, "choices": list(d.choices),
                           "parent": d.parent, "parent_choices": list(d.parent_choices)}
                          for d in space.decisions],
            "size_log10": space.size_log10, "raw_size_log10": space.raw_size_log10,
            "feature_size": space.feature_size,
            "samples": [g.to_string() for g in samples]}, indent=1))
        return
    click.echo(space.describe())
    click.echo(f"  cost-model features: {space.feature_size}")
    for g in samples:
        click.echo(g.to_string())


@search_cmd.command("encode")
@click.argument("model")
@click.option("--space", "space_name", required=True, help="Search space name.")
@click.option("--width", type=float, default=1.0, show_default=True)
@click.option("--divisible-by", type=int, default=None, help="Width rule (e.g. 32: TuNAS's).")
@_OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the genotype JSON here.")
def encode_cmd(model: str, space_name: str, width: float, divisible_by: int | None,
               options: tuple[str, ...], output: str | None) -> None:
    """The genotype of MODEL (a registered name or spec JSON) in a space."""
    from mhzoo.search.spaces import save_genotype

    from mhzoo.builder import resolve_spec
    from mhzoo.widths import scale_spec

    space = open_space(space_name, options)
    g = space.encode(scale_spec(resolve_spec(model), width, divisible_by))
    if output:
        save_genotype(g, output)
    click.echo(g.to_string())


# ---------------------------------------------------------------------------- collect
@search_cmd.command("collect")
@click.option("--space", "space_name", required=True, help="Search space name.")
@click.option("--target", "targets", required=True, help="Local targets, e.g. cpu_fp32,cpu_int8.")
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
@_OPTION
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def collect_cmd(space_name: str, targets: str, n: int | None, seed: int,
                genotypes_file: str | None, shard: str | None, db: str, writer: str,
                input_size: int | None, clock: str, passes: int, options: tuple[str, ...],
                no_progress: bool) -> None:
    """Measure sampled or given architectures of a space into a results store (resumable)."""
    from mhzoo.benchmarks.targets import parse_targets
    from mhzoo.search.collect import collect, parse_shard, sample_genotypes

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


@search_cmd.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace an existing output.")
def merge_cmd(sources: tuple[str, ...], output: str, force: bool) -> None:
    """Merge results stores (e.g. collection shards) into a new one."""
    from mhzoo.search.collect import merge_stores

    res = merge_stores(list(sources), output, force=force)
    click.echo(f"{res['rows']} rows ({res['duplicates']} duplicate keys skipped) -> {output}")


@search_cmd.command("dataset")
@click.option("--db", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--space", "space_name", required=True)
@click.option("--target", "targets", required=True)
@_OPTION
@click.option("--machine", default=None, help="Machine key (when the store has several).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True)
def dataset_cmd(db: str, space_name: str, targets: str, options: tuple[str, ...],
                machine: str | None, output: str, force: bool) -> None:
    """Write a store's architectures of a space as CSV: genotype, <target>_ms, ..."""
    from mhzoo.search.collect import store_dataset
    from mhzoo.search.cost.data import write_dataset_csv

    from mhzoo.atomic import check_output_path

    check_output_path(output, force=force)
    names = [t.strip() for t in targets.split(",") if t.strip()]
    rows = store_dataset(db, open_space(space_name, options), names, machine=machine)
    write_dataset_csv(output, rows, names)
    click.echo(f"{len(rows)} architectures -> {output}")


from mhzoo.search.cost.cli import costmodel_cmd  # noqa: E402  (subgroup in its own module)

search_cmd.add_command(costmodel_cmd)

from mhzoo.search.search_cli import run_cmd  # noqa: E402  (the search itself: search_cli.py)

search_cmd.add_command(run_cmd)
