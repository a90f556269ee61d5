"""``mhzoo convert``: upstream checkpoints -> mhzoo checkpoint folders."""

from __future__ import annotations

import click

from mhzoo.bounds import MAX_CLASSES
from mhzoo.cli.core import parse_width

__all__ = ["convert_cmd", "fetch_cmd"]


@click.command("convert")
@click.option("--from", "source", required=True,
              type=click.Choice(["tf-model-garden", "keras", "timm", "tflite"]),
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
@click.option("--preprocessing", type=click.Choice(["imagenet", "minus_one_to_one", "zero_one",
                                                    "none"]), default=None,
              help="--from tflite: the normalization the weights expect when the graph holds "
                   "none (Model Garden exports: imagenet).")
def convert_cmd(source: str, src: str, model: str | None, width: float | None,
                num_classes: int | None, out: str, force: bool,
                preprocessing: str | None) -> None:
    """Convert a TF Model Garden / keras.applications / timm checkpoint SRC to an mhzoo one.

    \b
    SRC: Model Garden checkpoint prefix (.../ckpt-N) or folder; Keras .h5 / .keras /
    .weights.h5 file; timm folder (model.safetensors + config.json) or hf-hub:timm/<repo>;
    a .tflite of the same architecture (float or int8: dequantized, mapped by structure).
    The output folder holds model.safetensors + config.json + README.md; load it with
    mhzoo.build(NAME, weights=DIR).
    """
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.weights import check_checkpoint_dir, convert

    check_checkpoint_dir(out, force=force)  # before TensorFlow loads
    import_tensorflow_quietly()
    path = convert(source, src, out, model=model, width=width, num_classes=num_classes,
                   force=force, preprocessing=preprocessing)
    click.echo(f"wrote {path} (load with mhzoo.build(..., weights={str(path)!r}))")


@click.command("fetch")
@click.argument("tag")
@click.option("-o", "--output", "out", required=True,
              help="Output file (a .tflite tag) or folder (a checkpoint tag).")
@click.option("--force", is_flag=True, help="Replace an existing output.")
def fetch_cmd(tag: str, out: str, force: bool) -> None:
    """Download the upstream file(s) of pretrained TAG unchanged (verified, cached).

    \b
    For deployment as published: e.g. mhzoo fetch multi_avg_100.tfm_qat_in1k -o m.tflite
    gives the Model Garden's own int8 QAT TFLite, instead of a re-quantization of the
    dequantized weights that mhzoo.build(..., weights=TAG) loads.
    """
    import shutil
    from pathlib import Path

    from mhzoo.atomic import atomic_dir, atomic_path, check_output_path
    from mhzoo.weights.pretrained import resolve_tag
    from mhzoo.weights.resolve import fetch_pretrained_files

    entry = resolve_tag(tag)
    if entry.source != "url":
        raise ValueError(f"{entry.name} is a {entry.source} source, not a downloadable file; "
                         "load it with mhzoo.build(..., weights=TAG) or mhzoo convert")
    target = Path(out)
    if entry.file_format == "tflite":
        check_output_path(target, force=force)
        files = fetch_pretrained_files(entry.name)
        with atomic_path(target) as tmp:
            shutil.copyfile(files[0], tmp)
    else:
        if target.is_file():
            raise ValueError(f"{target} is a file; a checkpoint tag is written to a folder")
        if target.is_dir():
            import re

            foreign = [p.name for p in target.iterdir() if not re.fullmatch(
                r"checkpoint|.+\.index|.+\.data-\d{5}-of-\d{5}", p.name)]
            nonempty = any(target.iterdir())
            if (nonempty and not force) or foreign or \
                    target.resolve() in (Path.cwd(), *Path.cwd().parents):
                why = (f"it holds other files ({', '.join(sorted(foreign)[:3])})" if foreign
                       else "it is the working directory or above it" if force
                       else "pass --force to replace a checkpoint folder")
                raise ValueError(f"{target} exists and will not be replaced: {why}")
        files = fetch_pretrained_files(entry.name)
        with atomic_dir(target) as tmp:
            for f in files:
                shutil.copyfile(f, tmp / f.name)
    click.echo(f"wrote {target} ({entry.name}, from {entry.url})")
