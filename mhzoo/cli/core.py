"""Core commands: ``mhzoo list`` and ``mhzoo info``."""

from __future__ import annotations

import json

import click

from mhzoo.bounds import MAX_INPUT_SIZE
from mhzoo.registry import get_entry, list_models
from mhzoo.widths import check_width

__all__ = ["check_model_bounds", "info_cmd", "list_cmd", "parse_width"]


def parse_width(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """click callback: a positive finite width multiplier."""
    if value is None:
        return None
    try:
        return check_width(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def check_model_bounds(name: str, width: float, input_size: int, *,
                       divisible_by: int | None = None, num_classes: int | None = 1000) -> None:
    """Resolve model ``name`` (a registry name or spec JSON file) and check its concrete spec
    against :func:`mhzoo.bounds.check_spec_bounds`, before TensorFlow is imported."""
    from mhzoo.bounds import check_spec_bounds
    from mhzoo.builder import resolve_spec
    from mhzoo.widths import scale_spec

    spec = scale_spec(resolve_spec(name), width, divisible_by)
    check_spec_bounds(spec, (input_size, input_size, 3), num_classes=num_classes)


@click.command("list")
@click.argument("pattern", required=False, default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_cmd(pattern: str, as_json: bool) -> None:
    """List registered models matching PATTERN (fnmatch, e.g. 'multi_*')."""
    names = list_models(pattern)
    if not names:
        raise ValueError(f"no model matches {pattern!r} (try `mhzoo list`)")
    rows = [{"name": n, "title": get_entry(n).title, "kind": get_entry(n).kind} for n in names]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    width = max(len(n) for n in names)
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['kind']:<10}  {r['title']}")


@click.command("info")
@click.argument("name")
@click.option("--width", default="1.0", callback=parse_width, show_default=True,
              help="Width multiplier (any positive number).")
@click.option("--input-size", default=224, type=click.IntRange(32, MAX_INPUT_SIZE),
              show_default=True)
@click.option("--divisible-by", type=click.IntRange(1, 1024), default=None,
              help="Use the TuNAS width rule with this channel base (paper: 32).")
@click.option("--verify", is_flag=True, help="Also build the Keras model and check the counts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(name: str, width: float, input_size: int, divisible_by: int | None, verify: bool,
             as_json: bool) -> None:
    """Spec, params (Table-1 convention), MAdds and the paper's figures for model NAME."""
    from mhzoo.info import model_info

    check_model_bounds(name, width, input_size, divisible_by=divisible_by)
    info = model_info(name, width, input_size=input_size, divisible_by=divisible_by,
                      verify=verify)
    if as_json:
        click.echo(json.dumps(info, indent=1))
        return
    click.echo(f"{info['title']} ({info['name']}) width {info['width']:g}, "
               f"input {input_size}x{input_size}")
    click.echo(f"  {info['description']}")
    click.echo(f"  params (Table-1 convention, 1001 classes): {info['params_m']:.4f} M")
    click.echo(f"  MAdds: {info['madds_m']:.1f} M")
    click.echo(f"  Keras params: {info['keras_params']:,} (trainable "
               f"{info['keras_trainable_params']:,}); backbone: {info['backbone_params']:,}")
    paper = info["paper"]
    if paper:
        lat = ", ".join(f"{k} {v}" if v is not None else f"{k} x"
                        for k, v in paper["latency_ms"].items())
        click.echo(f"  paper Table 1 (width {paper['width_multiplier']:g}): top-1 "
                   f"{paper['top1_accuracy_pct']}%, {paper['params_m']} M params, "
                   f"{paper['madds_m']} M MAdds; ms: {lat}")
    click.echo("  spec:")
    for line in info["spec_string"].splitlines()[1:]:
        click.echo(f"  {line}")
    for s in info["sources"]:
        click.echo(f"  source: {s}")
