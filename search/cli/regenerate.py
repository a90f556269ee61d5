"""``mhzoo regenerate multi_avg|multi_max|--reward R -o DIR``: the paper's pipeline
(:mod:`mhzoo.search.regenerate`) from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from mhzoo._quiet import import_tensorflow_quietly  # lazy: no TensorFlow at import time
from mhzoo.search.regenerate import RegenerateRequest, regenerate, reward_of

__all__ = ["regenerate_cmd"]


@click.command("regenerate")
@click.argument("name", required=False)
@click.option("--reward", default=None, metavar="avg|max|single:TARGET",
              help="Instead of NAME: the reward of the search.")
@click.option("--data", required=True, help="TFRecord shard folder or image-folder tree.")
@click.option("--cost-models", type=click.Path(), default=None,
              help="Folder of linear cost models (default: collect and fit them here).")
@click.option("--targets", default="cpu_fp32,cpu_int8", show_default=True,
              help="Targets of this machine (cpu_fp32, cpu_int8) and simulated ones (sim_*).")
@click.option("--preset", type=click.Choice(["cpu-proxy", "imagenet-tpu"]), default="cpu-proxy",
              show_default=True, help="Search preset.")
@click.option("--train-preset", type=click.Choice(["cifar10-proxy", "imagenet"]),
              default="cifar10-proxy", show_default=True)
@click.option("--cost-archs", type=click.IntRange(10), default=None,
              help="Architectures to measure for the cost models.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Search steps.")
@click.option("--mn-norm-target", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="MN-Norm target of the search's reward.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Retraining epochs (default: the training preset's).")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi_worker", "tpu"]),
              default="default", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tiny", is_flag=True, help="A tiny budget for every stage (CI).")
@click.option("--accept-unconverged", is_flag=True,
              help="Go on after a search that ended unconverged (the report records "
              "converged: false); without it regenerate stops there (exit 2).")
@click.option("--no-progress", is_flag=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False))
def regenerate_cmd(name: str | None, reward: str | None, data: str, cost_models: str | None,
                   targets: str, preset: str, train_preset: str, cost_archs: int | None,
                   steps: int | None, mn_norm_target: float, epochs: float | None,
                   strategy: str, seed: int, tiny: bool,
                   accept_unconverged: bool, no_progress: bool, out_dir: str) -> None:
    """Cost models -> search -> training -> float / int8 export -> benchmark -> MN-Norm report
    (every stage resumable; rerun the same command to continue)."""
    # the arguments are checked before TensorFlow loads (a bad one fails in a fraction of a s)
    request = RegenerateRequest(
        out_dir, reward_of(name, reward), data, cost_models=cost_models,
        targets=tuple(t.strip() for t in targets.split(",") if t.strip()), preset=preset,
        train_preset=train_preset, tiny=tiny, cost_archs=cost_archs, steps=steps,
        mn_norm_target=mn_norm_target, epochs=epochs,
        strategy=strategy, seed=seed, progress=not no_progress,
        accept_unconverged=accept_unconverged,
        echo=lambda s: click.echo(s, err=True))
    import_tensorflow_quietly()
    summary = regenerate(request)
    click.echo((Path(out_dir) / "report.md").read_text())
    m, p = summary["measured"], summary["predicted"]
    click.echo(f"searched {summary['searched']}: measured MN-Norm avg {m['mn_norm_avg']}, max "
               f"{m['mn_norm_max']} (predicted {p.get('mn_norm_avg')}, {p.get('mn_norm_max')}); "
               f"test top-1 {summary['test_top1']} on {summary['test_images']} test images"
               f"{'' if summary['converged'] else ' (search NOT converged)'} -> {out_dir}")

