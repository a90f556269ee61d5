"""``mhzoo convert``: upstream checkpoints -> mhzoo checkpoint folders."""

from __future__ import annotations

import click

from mhzoo.bounds import MAX_CLASSES
from mhzoo.cli.core import parse_width

__all__ = ["convert_cmd"]


@click.command("convert")
@click.option("--from", "source", required=True,
              type=click.Choice(["tf-model-garden", "keras", "timm"]),
              help="Format of SRC.")
@click.argument("src")
@click.option("--model", help="mhzoo model name (e.g. multi_max; timm: checked, optional).")
@click.option("--width", callback=parse_width,
              help="Width multiplier (checked; inferred if omitted).")
@click.option("--num-classes", type=click.IntRange(1, MAX_CLASSES),
              help="Expected classifier size (checked).")
@click.option("-o", "--output", "out", required=True, help="Output checkpoint folder.")
@click.option("--force", is_flag=True,
              help="Replace the output folder if it is an mhzoo checkpoint folder.")
def convert_cmd(source: str, src: str, model: str | None, width: float | None,
                num_classes: int | None, out: str, force: bool) -> None:
    """Convert a TF Model Garden / keras.applications / timm checkpoint SRC to an mhzoo one.

    \b
    SRC: Model Garden checkpoint prefix (.../ckpt-N) or folder; Keras .h5 / .keras /
    .weights.h5 file; timm folder (model.safetensors + config.json) or hf-hub:timm/<repo>.
    The output folder holds model.safetensors + config.json + README.md; load it with
    mhzoo.build(NAME, weights=DIR).
    """
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.weights import check_checkpoint_dir, convert

    check_checkpoint_dir(out, force=force)  # before TensorFlow loads
    import_tensorflow_quietly()
    path = convert(source, src, out, model=model, width=width, num_classes=num_classes,
                   force=force)
    click.echo(f"wrote {path} (load with mhzoo.build(..., weights={str(path)!r}))")
