"""``mhzoo search costmodel fit|eval|predict|reference``: fit a latency cost model from a dataset
(or compile a simulated target's exactly), score it on held-out rows, predict latency (and
MN-Norm) of genotypes, and write a cost-model folder's reference latencies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mhzoo.atomic import check_output_path
from mhzoo.benchmarks.normalization import parse_assignments
from mhzoo.search import cost
from mhzoo.search.cli.options import OPTION, open_space, read_genotypes
from mhzoo.search.cost import (
    MultiHardwareCost,
    load_dataset,
    load_model,
    quality,
    scatter_plot,
)

__all__ = ["costmodel_cmd"]

KINDS = {"linear": "LinearCostModel", "lut": "BlockLUTModel", "kernel": "KernelCostModel",
         "simulated": ""}


def _dataset(path: str, space_name: str | None, options: tuple[str, ...],
             targets: list[str] | None, machine: str | None) -> Any:
    space = open_space(space_name, options) if space_name else None
    return load_dataset(path, space, targets=targets, machine=machine)


def _labels(targets: list[str]) -> dict[str, str]:
    """Report labels: ``sim_edgetpu (simulated)`` for simulated targets, else the name."""
    from mhzoo.benchmarks.targets import get_target

    out = {}
    for t in targets:
        try:
            out[t] = get_target(t).label
        except ValueError:  # a target of a phone / dataset column unknown here
            out[t] = t
    return out


@click.group("costmodel")
def costmodel_cmd() -> None:
    """Fit, evaluate and apply latency cost models."""


_DATA = click.option("--data", required=True, type=click.Path(dir_okay=False),
                     help="Dataset: CSV (genotype or FBNet ops + <target>_ms) or a .sqlite store.")
_ROWS = click.option("--rows", default=None, metavar="A:B",
                     help="Rows of the dataset to use (e.g. :1000 to fit, 1000: to evaluate).")


@costmodel_cmd.command("fit")
@click.option("--data", default=None, type=click.Path(dir_okay=False),
              help="Dataset: CSV (genotype or FBNet ops + <target>_ms) or a .sqlite store "
                   "(not with --kind simulated).")
@click.option("--space", "space_name", default=None,
              help="Space (default: the one the genotypes record; needed by --kind simulated).")
@OPTION
@click.option("--target", required=True, help="Latency column to fit (e.g. cpu_fp32), or the "
                                               "simulated target of --kind simulated.")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default="linear", show_default=True,
              help="kernel: kernel-level model, written compiled into linear weights (what the "
                   "search loads) with the kernel model beside it; simulated: the exact model "
                   "of a sim_* target from its layer tables (no data).")
@_ROWS
@click.option("--machine", default=None, help="Machine key (stores with several machines).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--kernel-output", default=None, type=click.Path(dir_okay=False),
              help="--kind kernel: where the kernel model goes (default OUTPUT's stem + "
                   "'.kernel.json').")
@click.option("--force", is_flag=True, help="Replace existing outputs.")
def fit_cmd(data: str | None, space_name: str | None, options: tuple[str, ...], target: str,
            kind: str, rows: str | None, machine: str | None, output: str,
            kernel_output: str | None, force: bool) -> None:
    """Fit a cost model of one target and write it as JSON."""
    check_output_path(output, force=force)
    if kind == "simulated":
        if data is not None or rows is not None:
            raise ValueError("--kind simulated takes no --data / --rows: the model is the "
                             "simulator's lookup table, compiled")
        if not space_name:
            raise ValueError("--kind simulated needs --space")
        from mhzoo.benchmarks.targets import get_target
        from mhzoo.search.cost.simulated import simulated_cost_model

        if not get_target(target).is_simulated:
            raise ValueError(f"target {target!r} is not simulated; --kind simulated is for "
                             "sim_* targets")
        model = simulated_cost_model(open_space(space_name, options), target,
                                     machine=machine or "")
        model.save(output)
        click.echo(f"simulated cost model of {target} (simulated; {model.space.name}, "
                   f"{model.feature_size} features, exact) -> {output}")
        return
    if data is None:
        raise ValueError(f"--kind {kind} needs --data")
    kpath = None
    if kind == "kernel":
        kpath = kernel_output or str(Path(output).with_suffix("")) + ".kernel.json"
        if Path(kpath).resolve() == Path(output).resolve():
            raise ValueError("--kernel-output must differ from --output")
        check_output_path(kpath, force=force)
    ds = _dataset(data, space_name, options, [target], machine).rows(rows)
    cls = getattr(cost, KINDS[kind])
    model = cls.fit(ds.space, ds.genotypes, ds.y(target), target, machine=ds.machine or "")
    model.info["data"] = {"source": data, "rows": rows or ":"}
    if kpath is not None:
        model.save(kpath)
        compiled = model.compile_linear()
        compiled.info["kernel_model"] = Path(kpath).name
        compiled.save(output)
        click.echo(f"kernel cost model of {target} ({ds.space.name}, {len(ds)} architectures, "
                   f"{model.feature_size} terms, lambda {model.info['lambda']:.3g}) -> {kpath}; "
                   f"compiled linear ({compiled.feature_size} features) -> {output}")
        return
    model.save(output)
    click.echo(f"{kind} cost model of {target} ({ds.space.name}, {len(ds)} architectures, "
               f"{model.feature_size} features, lambda {model.info['lambda']:.3g}) -> {output}")


@costmodel_cmd.command("eval")
@click.argument("model_path", type=click.Path(dir_okay=False))
@_DATA
@_ROWS
@click.option("--machine", default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Write a predicted-vs-measured scatter PNG.")
@click.option("--force", is_flag=True, help="Replace an existing --plot file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def eval_cmd(model_path: str, data: str, rows: str | None, machine: str | None,
             plot: str | None, force: bool, as_json: bool) -> None:
    """Quality of a cost model on (held-out) rows of a dataset."""
    if plot:
        check_output_path(plot, force=force)
    model = load_model(model_path)
    ds = load_dataset(data, model.space, targets=[model.target], machine=machine).rows(rows)
    if len(ds) < 2:
        raise ValueError(f"need at least 2 rows to evaluate, got {len(ds)}")
    y = ds.y(model.target)
    pred = model.predict(ds.genotypes)
    q = quality(y, pred)
    if plot:
        scatter_plot(plot, y, pred, metrics=q,
                     title=f"{model.kind} cost model, {model.space_name}, {model.target}")
    if as_json:
        click.echo(json.dumps({"model": model_path, "target": model.target, **q}, indent=1))
        return
    click.echo(f"{model.kind} {model.space_name} {_labels([model.target])[model.target]}: "
               f"n={q['n']} RMSE "
               f"{q['rmse_ms']:.3f} ms, MAPE {q['mape_pct']:.2f}%, within 5% "
               f"{q['within_5_pct']:.1f}%, within 10% {q['within_10_pct']:.1f}%, Kendall tau "
               f"{q['kendall_tau']:.3f}, Spearman rho {q['spearman_rho']:.3f}")


@costmodel_cmd.command("predict")
@click.option("-m", "--model", "models", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Cost model JSON (one per target).")
@click.argument("genotypes", nargs=-1)
@click.option("--genotypes", "genotypes_file", type=click.Path(dir_okay=False), default=None,
              help="File of genotypes (strings, one per line, or JSON).")
@click.option("--norm-factors", default=None, metavar="T=MS,...",
              help="MN-Norm factors C_i per target (e.g. the MobileNetV1 latency).")
@click.option("--json", "as_json", is_flag=True)
def predict_cmd(models: tuple[str, ...], genotypes: tuple[str, ...],
                genotypes_file: str | None, norm_factors: str | None, as_json: bool) -> None:
    """Predicted latency per target (and MN-Norm avg / max with --norm-factors)."""
    loaded = [load_model(m) for m in models]
    space = loaded[0].space
    seen: dict[str, str] = {}
    for path, m in zip(models, loaded, strict=True):
        m.check(space)
        if m.target in seen:
            raise ValueError(f"two cost models for target {m.target!r} ({seen[m.target]} and "
                             f"{path}); give one per target")
        seen[m.target] = path
    gs: list[Any] = list(genotypes)
    if genotypes_file:
        gs += read_genotypes(genotypes_file, space)
    if not gs:
        raise ValueError("give genotypes (strings) or --genotypes FILE")
    if norm_factors:
        rows = MultiHardwareCost(loaded, parse_assignments(norm_factors, "factor")).predict(gs)
    else:
        lat = {m.target: m.predict(gs) for m in loaded}
        rows = [{"latency_ms": {t: float(v[i]) for t, v in lat.items()}} for i in range(len(gs))]
    if as_json:
        click.echo(json.dumps([{"genotype": str(g), **r} for g, r in zip(gs, rows, strict=True)],
                              indent=1))
        return
    labels = _labels([m.target for m in loaded])
    for g, r in zip(gs, rows, strict=True):
        parts = [f"{labels[t]} {v:.3f} ms" for t, v in r["latency_ms"].items()]
        if "mn_norm_avg" in r:
            parts += [f"MN-Norm avg {r['mn_norm_avg']:.4f}", f"max {r['mn_norm_max']:.4f}"]
        click.echo(f"{g}: " + ", ".join(parts))


@costmodel_cmd.command("reference")
@click.option("--target", "targets", required=True,
              help="Targets, e.g. cpu_fp32,cpu_int8,sim_edgetpu (simulated ones are simulated).")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="Results store the reference latencies go to (needed for measured targets; "
                   "simulated-only: a temporary one).")
@click.option("--reference", default="mobilenet_v1", show_default=True)
@click.option("--input-size", type=click.IntRange(32, 1024), default=224, show_default=True)
@click.option("-o", "--output", "folder", required=True,
              type=click.Path(file_okay=False), help="Cost-model folder (reference_ms.json).")
@click.option("--passes", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Time each measured target this many times (a new interpreter each) and "
              "keep the median, as `search collect --passes` does.")
@click.option("--force", is_flag=True, help="Replace an existing reference_ms.json.")
def reference_cmd(targets: str, db: str | None, reference: str, input_size: int, folder: str,
                  passes: int, force: bool) -> None:
    """Write a cost-model folder's MN-Norm factors C_i (the reference model's latency per
    target: measured like the collection, or simulated)."""
    import tempfile

    from mhzoo.benchmarks.targets import parse_targets
    from mhzoo.search.cost.folder import REFERENCE_FILE, write_reference
    from mhzoo.search.latency.reference import reference_factors

    ts = parse_targets(targets)
    check_output_path(Path(folder) / REFERENCE_FILE, force=force)
    if not Path(folder).is_dir():
        raise ValueError(f"cost-model folder not found: {folder}")
    measured = [t.name for t in ts if not t.is_simulated]
    if measured and db is None:
        raise ValueError(f"measured target(s) {', '.join(measured)} need --db (the store their "
                         "reference latency is timed into)")
    with tempfile.TemporaryDirectory() as tmp:
        store = db or str(Path(tmp) / "reference.sqlite")
        factors = reference_factors([t.name for t in ts], store, reference=reference,
                                    input_size=input_size, passes=passes)
    write_reference(folder, factors, reference=f"{reference}@1.0", input_size=input_size)
    labels = {t.name: t.label for t in ts}
    click.echo(", ".join(f"{labels[t]} {v:.3f} ms" for t, v in factors.items())
               + f" -> {Path(folder) / REFERENCE_FILE}")
