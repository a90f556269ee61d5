"""Every click command of the search side: the ``mhzoo search`` group (``space``, ``encode``
here; ``collect`` / ``merge`` / ``dataset`` in :mod:`.latency`; ``costmodel`` in
:mod:`.costmodel`; ``run`` in :mod:`.run`), ``mhzoo train`` / ``mhzoo eval`` (:mod:`.train`) and
``mhzoo regenerate`` (:mod:`.regenerate`).

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

Nothing here imports TensorFlow at import time; commands import it (quietly) once their
arguments are checked.
"""

from __future__ import annotations

import json

import click

from mhzoo.atomic import check_output_path
from mhzoo.builder import resolve_spec
from mhzoo.search.cli.options import OPTION, open_space
from mhzoo.search.cost.features import feature_size
from mhzoo.search.latency.collection import sample_genotypes
from mhzoo.search.space import save_genotype
from mhzoo.widths import scale_spec

__all__ = ["search_cmd"]


@click.group("search")
def search_cmd() -> None:
    """Search spaces, latency collection and latency cost models."""


# ---------------------------------------------------------------------------- space
@search_cmd.command("space")
@click.argument("name")
@click.option("--sample", "n_sample", type=click.IntRange(0, 100_000), default=0,
              help="Print N seeded uniform samples (genotype strings).")
@click.option("--seed", type=int, default=0, show_default=True)
@OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def space_cmd(name: str, n_sample: int, seed: int, options: tuple[str, ...],
              as_json: bool) -> None:
    """Describe search space NAME (decisions, size) and optionally sample from it."""
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
            "feature_size": feature_size(space),
            "samples": [g.to_string() for g in samples]}, indent=1))
        return
    click.echo(space.describe())
    click.echo(f"  cost-model features: {feature_size(space)}")
    for g in samples:
        click.echo(g.to_string())


@search_cmd.command("encode")
@click.argument("model")
@click.option("--space", "space_name", required=True, help="Search space name.")
@click.option("--width", type=float, default=1.0, show_default=True)
@click.option("--divisible-by", type=int, default=None, help="Width rule (e.g. 32: TuNAS's).")
@OPTION
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the genotype JSON here.")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def encode_cmd(model: str, space_name: str, width: float, divisible_by: int | None,
               options: tuple[str, ...], output: str | None, force: bool) -> None:
    """The genotype of MODEL (a registered name or spec JSON) in a space."""
    if output:
        check_output_path(output, force=force)
    space = open_space(space_name, options)
    g = space.encode(scale_spec(resolve_spec(model), width, divisible_by))
    if output:
        save_genotype(g, output)
    click.echo(g.to_string())


from mhzoo.search.cli.costmodel import costmodel_cmd  # noqa: E402  (subcommands register below)
from mhzoo.search.cli.latency import collect_cmd, dataset_cmd, merge_cmd  # noqa: E402
from mhzoo.search.cli.run import run_cmd  # noqa: E402
from mhzoo.search.cli.study import study_cmd  # noqa: E402

for _cmd in (collect_cmd, merge_cmd, dataset_cmd, costmodel_cmd, run_cmd, study_cmd):
    search_cmd.add_command(_cmd)
