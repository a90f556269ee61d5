"""``mhzoo train`` and ``mhzoo eval``: thin click commands over
:func:`~mhzoo.search.training.loop.train` (a :class:`TrainRequest` built from the options) and
:func:`~mhzoo.search.training.evaluate.evaluate`."""

from __future__ import annotations

import json
import re

import click

from mhzoo._quiet import native_stderr_held
from mhzoo.search.training.evaluate import evaluate
from mhzoo.search.training.loop import train
from mhzoo.search.training.request import TrainRequest
from mhzoo.search.training.splits import check_split_size

__all__ = ["eval_cmd", "parse_duration", "train_cmd"]


def parse_duration(text: str | None) -> float | None:
    """``"3600"``, ``"55m"``, ``"1.5h"``, ``"90s"`` -> seconds (> 0: a zero budget is an
    error, not "no budget")."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise ValueError(f"time budget must look like 3600, 90s, 55m or 1.5h, got {text!r}")
    seconds = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds <= 0:
        raise ValueError(f"time budget must be more than 0 seconds, got {text!r} (leave "
                         "--time-budget out for no budget)")
    return seconds


def _split_size(text: str | None, option: str, *, allow_zero: bool = False) -> float | None:
    """``--test`` / ``--search-valid`` / ``--held-out``: a fraction in (0, 1) or a count."""
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{option} must be a fraction in (0, 1) or an image count, got "
                         f"{text!r}") from None
    return check_split_size(option.lstrip("-").replace("-", " "), v, allow_zero=allow_zero)


def _test_size(test: str | None, held_out: str | None) -> float | None:
    if test is not None and held_out is not None:
        raise ValueError("give --test or --held-out (its old name), not both")
    return _split_size(test, "--test") if test is not None else _split_size(held_out,
                                                                            "--held-out")


@click.command("train")
@click.argument("name_or_spec")
@click.option("--data", required=True, help="TFRecord shard folder, image-folder tree "
              "(train/<class>/*.jpg) or tfds:NAME.")
@click.option("-o", "--output", "output", required=True,
              help="Run folder (new or empty; rerun with the same arguments to resume).")
@click.option("--preset", default="imagenet", show_default=True,
              help="Recipe preset: imagenet (the paper's) or cifar10-proxy.")
@click.option("--width", type=float, default=None, help="Width multiplier.")
@click.option("--divisible-by", type=click.IntRange(min=1), default=None,
              help="TuNAS width rule with this channel base (paper: 32).")
@click.option("--weights", default=None, help="Checkpoint (or run folder) to fine-tune from.")
@click.option("--num-classes", type=click.IntRange(min=1), default=None,
              help="Classifier size (must equal the data's class count).")
@click.option("--freeze-backbone", is_flag=True, help="Train the classifier only.")
@click.option("--labels", "labels_file", default=None, help="labels.txt (one class per line).")
@click.option("--epochs", type=float, default=None)
@click.option("--batch-size", "global_batch", type=click.IntRange(min=1), default=None,
              help="Global batch across replicas.")
@click.option("--per-replica-batch", type=click.IntRange(min=1), default=None,
              help="Batch per replica instead (global = this x replicas).")
@click.option("--lr", "base_lr", type=float, default=None,
              help="Base learning rate per 256 images (peak = lr x batch / 256).")
@click.option("--optimizer", type=click.Choice(["rmsprop", "sgd"]), default=None)
@click.option("--image-size", type=click.IntRange(min=32), default=None)
@click.option("--dropout", type=float, default=None)
@click.option("--weight-decay", type=float, default=None)
@click.option("--label-smoothing", type=float, default=None)
@click.option("--ema-decay", type=float, default=None, help="0 disables the EMA.")
@click.option("--warmup-epochs", type=float, default=None)
@click.option("--stride-plan", default=None,
              help="model, proxy32 (stem stride 1) or explicit strides '1,2,2,2,2'.")
@click.option("--test", "test", default=None,
              help="Test split (reported accuracy): fraction or image count carved from the "
              "data by rule mhzoo.splits/v1 (default: the preset's; the data's own validation "
              "split when it has one).")
@click.option("--held-out", default=None, help="Old name of --test.")
@click.option("--search-valid", default=None,
              help="Search-validation split carved next (fraction or count; default 0).")
@click.option("--split-seed", type=int, default=None,
              help="Seed of the splits (default: the preset's, 0; independent of --seed).")
@click.option("--final-train", is_flag=True,
              help="Train on train + search-validation (the retraining of a searched model); "
              "never on the test split.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Run seed: data order, augmentation, initial weights.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi_worker", "tpu"]),
              default="default", show_default=True)
@click.option("--tpu", default=None, help="TPU name or address for --strategy tpu.")
@click.option("--mixed-precision", type=click.Choice(["auto", "on", "off"]), default="auto",
              show_default=True)
@click.option("--sync-bn", is_flag=True, help="Synchronized batch norm across replicas.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
              help="Steps between checkpoints (default: every evaluation and 10 minutes).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Stop (resumably) at this step.")
@click.option("--time-budget", default=None,
              help="Whole-run wall time, e.g. 55m: fixes the step count after a short timing.")
@click.option("--cache", is_flag=True, help="Keep the encoded training images in memory.")
@click.option("--limit-train", type=click.IntRange(min=1), default=None)
@click.option("--limit-test", "--limit-held-out", "limit_held_out", type=click.IntRange(min=1),
              default=None, help="Evaluate only the first N test images (tests, quick checks).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_cmd(name_or_spec: str, data: str, output: str, preset: str, width: float | None,
              divisible_by: int | None, weights: str | None, num_classes: int | None,
              freeze_backbone: bool, labels_file: str | None, epochs: float | None,
              global_batch: int | None, per_replica_batch: int | None, base_lr: float | None,
              optimizer: str | None, image_size: int | None, dropout: float | None,
              weight_decay: float | None, label_smoothing: float | None,
              ema_decay: float | None, warmup_epochs: float | None, stride_plan: str | None,
              test: str | None, held_out: str | None, search_valid: str | None,
              split_seed: int | None, final_train: bool, seed: int, strategy: str, tpu: str | None,
              mixed_precision: str, sync_bn: bool, checkpoint_every: int | None,
              max_steps: int | None, time_budget: str | None, cache: bool,
              limit_train: int | None, limit_held_out: int | None, no_progress: bool,
              as_json: bool) -> None:
    """Train NAME_OR_SPEC (a model name or spec JSON) on --data with a recipe preset."""
    overrides = dict(epochs=epochs, global_batch=global_batch, base_lr=base_lr,
                     optimizer=optimizer, image_size=image_size, dropout=dropout,
                     weight_decay=weight_decay, label_smoothing=label_smoothing,
                     ema_decay=ema_decay, warmup_epochs=warmup_epochs,
                     test=_test_size(test, held_out),
                     search_valid=_split_size(search_valid, "--search-valid", allow_zero=True),
                     split_seed=split_seed, stride_plan=stride_plan)
    request = TrainRequest(
        name_or_spec, data, output, preset=preset, overrides=overrides, width=width,
        divisible_by=divisible_by, weights=weights, num_classes=num_classes,
        freeze_backbone=freeze_backbone, labels_file=labels_file, strategy=strategy, tpu=tpu,
        per_replica_batch=per_replica_batch, seed=seed, final_train=final_train,
        checkpoint_every=checkpoint_every,
        max_steps=max_steps, time_budget=parse_duration(time_budget), limit_train=limit_train,
        limit_held_out=limit_held_out, cache=cache, mixed_precision=mixed_precision,
        sync_bn=sync_bn, progress=not no_progress)
    with native_stderr_held():  # libjpeg's own lines must not precede a one-line error
        result = train(request)
    summary = {"output": str(result.out_dir), "finished": result.finished, "step": result.step,
               "total_steps": result.total_steps, "resumed_from": result.resumed_from,
               "checkpoint": str(result.model_dir) if result.model_dir else None,
               "metrics": result.metrics}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    m = result.metrics
    top = (f"test top-1 {m['test_top1']:.4f}, top-5 {m['test_top5']:.4f}"
           if "test_top1" in m else "no evaluation yet")
    if result.finished:
        click.echo(f"Finished {result.step} steps: {top}. Checkpoint: {result.model_dir} "
                   f"(mhzoo.build(..., weights='{result.model_dir}'))")
    else:
        click.echo(f"Stopped at step {result.step} of {result.total_steps} ({top}); rerun the "
                   "same command to resume.")


@click.command("eval")
@click.argument("weights_or_tflite")
@click.option("--data", required=True, help="TFRecord shard folder, image-folder tree or "
              "tfds:NAME.")
@click.option("--split", type=click.Choice(["auto", "test", "search_valid", "train",
                                            "final_train", "all", "held_out"]),
              default="auto", show_default=True,
              help="auto: the run's test split when known, else all; held_out: old name of test.")
@click.option("--split-from", default=None,
              help="Checkpoint / run folder whose splits to use (for .tflite files).")
@click.option("--test", "test", default=None,
              help="Test size (fraction or count) by hand (rule mhzoo.splits/v1).")
@click.option("--held-out", default=None, help="Old name of --test.")
@click.option("--search-valid", default=None, help="Search-validation size by hand.")
@click.option("--seed", type=int, default=None, help="Split seed by hand.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Score only the first N images of the split.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--transform", type=click.Choice(["small", "resnet"]), default=None,
              help="Eval preprocessing (default: the checkpoint's, or by input size).")
@click.option("--labels", "labels_file", default=None, help="labels.txt for the data.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_cmd(weights_or_tflite: str, data: str, split: str, split_from: str | None,
             test: str | None, held_out: str | None, search_valid: str | None,
             seed: int | None, limit: int | None, batch_size: int,
             transform: str | None, labels_file: str | None, as_json: bool) -> None:
    """Top-1 / top-5 of a checkpoint folder or a .tflite (float or int8) on --data."""
    res = evaluate(weights_or_tflite, data, split=split, split_from=split_from,
                   test=_test_size(test, held_out),
                   search_valid=_split_size(search_valid, "--search-valid", allow_zero=True),
                   seed=seed, limit=limit, batch_size=batch_size,
                   transform=transform, labels_file=labels_file)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"{res['source']} ({res['kind']}): top-1 {res['top1']:.4f}, top-5 "
               f"{res['top5']:.4f} on {res['count']} images ({res['split']} split, "
               f"{res['image_size']} px, {res['transform']})")
