"""``mhzoo export`` and ``mhzoo inspect``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from mhzoo.bounds import MAX_CLASSES, MAX_INPUT_SIZE
from mhzoo.cli.core import parse_width
from mhzoo.export.quant import QUANT_MODES

__all__ = ["export_cmd", "inspect_cmd"]


@click.command("export")
@click.argument("name")
@click.option("--width", default="1.0", callback=parse_width, show_default=True,
              help="Width multiplier (0 < width <= 8).")
@click.option("--quant", required=True, help=f"Quantization mode: {', '.join(QUANT_MODES)}.")
@click.option("--calib", "calib", type=click.Path(path_type=Path), default=None,
              help="Folder of JPEG/PNG images for calibration / QAT fine-tuning.")
@click.option("--labels", type=click.Path(path_type=Path), default=None,
              help="Labels file, one class name per line.")
@click.option("--num-classes", type=click.IntRange(1, MAX_CLASSES), default=None,
              help="Classifier size (default 1000).")
@click.option("--weights", default=None, help="Weights to load (path, tag or hf-hub:...).")
@click.option("--input-size", type=click.IntRange(32, MAX_INPUT_SIZE), default=224,
              show_default=True, help="Input height and width.")
@click.option("--calibration-steps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most calibration images to use.")
@click.option("--qat-steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="QAT fine-tuning steps.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True,
              help="Output .tflite path.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export_cmd(name: str, width: float, quant: str, calib: Path | None, labels: Path | None,
               num_classes: int | None, weights: str | None, input_size: int,
               calibration_steps: int, qat_steps: int, output: Path, force: bool,
               as_json: bool) -> None:
    """Export model NAME to TFLite (float, fp16, dynamic, int8 PTQ or QAT)."""
    from mhzoo.atomic import check_output_path
    from mhzoo.cli.core import check_model_bounds
    from mhzoo.export.quant import check_mode
    from mhzoo.export.tflite import fidelity_path, labels_and_classes

    # every argument is checked before TensorFlow loads and before anything is written
    check_mode(quant)
    check_output_path(output, force=force)
    check_output_path(fidelity_path(output), force=force)
    for what, folder in (("--calib", calib), ("--labels", labels)):
        if folder is not None and not folder.exists():
            raise ValueError(f"{what} not found: {folder}")
    label_list, num_classes = labels_and_classes(labels, num_classes, weights=weights)
    if weights is None:  # a checkpoint fixes the spec itself; the builder checks that one
        check_model_bounds(name, width, input_size, num_classes=num_classes or 1000)
    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import mhzoo
    from mhzoo.export.tflite import to_tflite
    model = mhzoo.build(name, width, input_shape=(input_size, input_size, 3),
                        num_classes=num_classes, weights=weights)
    from mhzoo.export.tflite import requantization_note

    if (note := requantization_note(model, quant)) is not None:
        click.echo(f"Note: {note}", err=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="these weights were dequantized")
        result = to_tflite(model, output, quant=quant, representative_data=calib,
                           calibration_steps=calibration_steps, labels=label_list, force=force,
                           qat_steps=qat_steps, progress=not as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        click.echo(result.summary())


@click.command("inspect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect_cmd(file: Path, as_json: bool) -> None:
    """Show the ops, I/O types, metadata and hardware compatibility of FILE.tflite."""
    from mhzoo.export.inspect import format_inspection, inspect_tflite

    info = inspect_tflite(file)
    if as_json:
        info.pop("_report")
        click.echo(json.dumps(info, indent=2, allow_nan=False))
    else:
        click.echo(format_inspection(info))
