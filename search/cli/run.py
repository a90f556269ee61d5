"""``mhzoo search run``: a TuNAS multi-hardware search into a resumable run folder.

::

    mhzoo search run --space multi_hardware --reward max --cost-models benchmarks/data/costmodels \\
        --data ../shared/data/cifar10 --preset cpu-proxy -o runs/search_max
    mhzoo search run --reward single:cpu_int8 --latency-target 20 ...   # eq. 6
    mhzoo search run --reward avg --preset imagenet-tpu --strategy tpu --tpu NAME ...

Every input is checked before anything is written (one-line ``Error:``, exit 2); rerunning the
same command resumes from the last checkpoint; predicted latencies of simulated targets are
labelled ``(simulated)``; an unconverged search ends with a one-line warning on stderr;
``search_result.json`` in the folder is what ``mhzoo.build``, ``mhzoo export`` and
``mhzoo bench`` take.
"""

from __future__ import annotations

from typing import Any

import click

from mhzoo._quiet import (  # lazy: no TensorFlow at import time
    import_tensorflow_quietly,
    native_stderr_held,
)
from mhzoo.benchmarks.normalization import parse_assignments
from mhzoo.search import runs
from mhzoo.search.cli.options import space_options
from mhzoo.search.tunas.loop import SearchRequest, prepare_search, run_search
from mhzoo.search.tunas.request import simulated_targets

__all__ = ["run_cmd"]


@click.command("run")
@click.option("--space", "space_name", default="multi_hardware", show_default=True,
              help="Search space name.")
@click.option("--option", "-O", "options", multiple=True, metavar="KEY=VALUE",
              help="Structural space option (repeatable), e.g. -O max_layers=2; must match "
                   "the cost models'.")
@click.option("--reward", required=True, metavar="avg|max|single:TARGET",
              help="Eq. 7 (MN-Norm average), eq. 8 (max) or eq. 6 (one target).")
@click.option("--cost-models", "cost_models", required=True, multiple=True,
              type=click.Path(), help="Folder (or files) of linear cost models, one per target.")
@click.option("--data", required=True, help="TFRecord shard folder or image-folder tree.")
@click.option("--preset", type=click.Choice(["cpu-proxy", "imagenet-tpu"]), default="cpu-proxy",
              show_default=True)
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi_worker", "tpu"]),
              default="default", show_default=True)
@click.option("--tpu", default=None, help="TPU name / address (strategy tpu).")
@click.option("--steps", type=click.IntRange(1, 10_000_000), default=None,
              help="Search length in steps (default: the preset's).")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=None,
              help="Global training batch (default: the preset's).")
@click.option("--norm-factors", default=None, metavar="T=MS,...",
              help="MN-Norm factors C_i (default: reference_ms.json beside the cost models).")
@click.option("--beta", type=click.FloatRange(max=0.0), default=None,
              help="Reward slope beta of eq. 6-8 (default: the preset's; the paper's -0.07, "
                   "cpu-proxy -0.3).")
@click.option("--latency-target", type=float, default=None,
              help="L0 (ms) of a single:TARGET reward (default: --mn-norm-target x the "
                   "target's C_i).")
@click.option("--mn-norm-target", type=float, default=1.0, show_default=True,
              help="MN-Norm target of avg / max rewards; a single:TARGET reward aims at "
                   "it x C_TARGET.")
@click.option("--hardware-weights", default=None, metavar="T=W,...",
              help="Per-target importance (paper section 5.2, case 2).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit-train", type=click.IntRange(1), default=None,
              help="Use only this many training images (quick checks).")
@click.option("--limit-held-out", type=click.IntRange(1), default=None,
              help="Use only this many RL validation images.")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Stop (resumably) after this step.")
@click.option("--deterministic", is_flag=True, help="TF op determinism (bitwise resumes).")
@click.option("--no-progress", is_flag=True)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder (new, or this search's own folder to resume).")
def run_cmd(space_name: str, options: tuple[str, ...], reward: str,
            cost_models: tuple[str, ...], data: str, preset: str, strategy: str,
            tpu: str | None, steps: int | None, batch: int | None, norm_factors: str | None,
            beta: float | None, latency_target: float | None, mn_norm_target: float,
            hardware_weights: str | None, seed: int, limit_train: int | None,
            limit_held_out: int | None, max_steps: int | None, deterministic: bool,
            no_progress: bool, out_dir: str) -> None:
    """Search an architecture (TuNAS: supernet + REINFORCE) for a set of hardware targets."""
    overrides: dict[str, Any] = {}
    if steps is not None:
        overrides["steps"] = steps
    if batch is not None:
        overrides["global_batch"] = batch
    if beta is not None:
        overrides["beta"] = beta
    request = SearchRequest(
        reward=reward, cost_models=cost_models, data=data, out_dir=out_dir, space=space_name,
        space_options=space_options(options), preset=preset, overrides=overrides,
        factors=parse_assignments(norm_factors, "factor") if norm_factors else None,
        latency_target=latency_target, mn_norm_target=mn_norm_target,
        weights=parse_assignments(hardware_weights, "weight") if hardware_weights else None,
        strategy=strategy, tpu=tpu, seed=seed, limit_train=limit_train,
        limit_held_out=limit_held_out, max_steps=max_steps, deterministic=deterministic,
        progress=not no_progress)
    # every check before TensorFlow builds anything (run_search repeats them cheaply); data in
    # TFRecord shards is read with TensorFlow imported quietly
    prepared = prepare_search(request)
    runs.check_run_dir(out_dir, runs.SEARCH, None)
    import_tensorflow_quietly()
    with native_stderr_held():  # libjpeg's own lines must not precede a one-line error
        outcome = run_search(request)
    if not outcome.finished:
        click.echo(f"stopped at step {outcome.step}/{outcome.total_steps}; rerun the same "
                   f"command to resume -> {out_dir}")
        return
    res = outcome.result or {}
    pred = res.get("predicted", {})
    simulated = set(res.get("simulated_targets") or simulated_targets(prepared.models))
    lat = ", ".join(f"{t} {v:.2f} ms" + (" (simulated)" if t in simulated else "")
                    for t, v in pred.get("latency_ms", {}).items())
    mn = ""
    if "mn_norm_avg" in pred:
        mn = f"; predicted MN-Norm avg {pred['mn_norm_avg']:.3f}, max {pred['mn_norm_max']:.3f}"
    click.echo(f"{res.get('genotype_string')}\npredicted {lat}{mn}\n-> {outcome.result_path}")
    _convergence_warning(prepared, outcome.result_path, res)


def _convergence_warning(prepared: Any, path: Any, res: dict[str, Any]) -> None:
    """Record the convergence verdict in search_result.json when the loop did not, and print
    the one-line warning of an unconverged search to stderr."""
    from mhzoo.search.result import add_convergence
    from mhzoo.search.tunas import convergence

    rep = res.get("convergence")
    if rep is None and path is not None and res.get("probabilities"):
        rep = convergence.search_report(prepared, res["probabilities"])
        add_convergence(path, rep)
    text = convergence.warning(rep) if rep is not None else None
    if text:
        click.echo(text, err=True)
