"""Click commands ``mhzoo bench``, ``mhzoo report`` and ``mhzoo quickstart``.

Thin wrappers over :mod:`mhzoo.benchmarks`; user errors raise ``ValueError`` and the
``mhzoo`` group prints them as one ``Error:`` line with exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mhzoo.bounds import MAX_INPUT_SIZE
from mhzoo.cli.core import parse_width

__all__ = ["bench_cmd", "quickstart_cmd", "report_cmd"]


def _fail(msg: str) -> None:
    from mhzoo.cli import fail

    fail(msg)


def _run_config(min_runs: int, min_time: float, max_time: float, warmup: int,
                pin: bool) -> object:
    from mhzoo.benchmarks.runner import RunConfig

    return RunConfig(warmup_runs=warmup, min_runs=min_runs, min_time_s=min_time,
                     max_time_s=max(max_time, min_time), pin=pin,
                     max_runs=max(2000, min_runs))


@click.command("bench")
@click.argument("models", nargs=-1, metavar="MODEL[@WIDTH]...")
@click.option("--targets", "-t", default="cpu_fp32,cpu_int8", show_default=True,
              help="Comma-separated targets (see --list-targets).")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Results database (SQLite). Default: ~/.cache/mhzoo/latency.sqlite.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--input-size", default=224, show_default=True,
              type=click.IntRange(32, MAX_INPUT_SIZE), help="Square input resolution.")
@click.option("--force", is_flag=True, help="Measure again rows that are already stored.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where exported .tflite files are kept. Default: ~/.cache/mhzoo/tflite.")
@click.option("--min-runs", default=20, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--min-time", default=1.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Minimum timed seconds per row.")
@click.option("--max-time", default=10.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Maximum timed seconds per row.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(0, 10_000),
              help="Warm-up runs.")
@click.option("--no-pin", is_flag=True, help="Do not pin the benchmark to fixed CPU cores.")
@click.option("--adb", "use_adb", is_flag=True,
              help="Run on an Android phone through adb and benchmark_model.")
@click.option("--serial", default=None, help="adb device serial (with --adb).")
@click.option("--device-binary", default=None,
              help="Path of benchmark_model on the phone "
                   "(default /data/local/tmp/benchmark_model).")
@click.option("--from-output", type=click.Path(dir_okay=False), default=None,
              help="Import a saved benchmark_model log for one MODEL and one target.")
@click.option("--machine", default=None, help="Device name for --from-output, e.g. 'Pixel 4'.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--list-targets", is_flag=True, help="List the known targets and exit.")
def bench_cmd(models: tuple[str, ...], targets: str, db: str | None, as_json: bool,
              input_size: int, force: bool, workdir: str | None, min_runs: int,
              min_time: float, max_time: float, warmup: int, no_pin: bool, use_adb: bool,
              serial: str | None, device_binary: str | None, from_output: str | None,
              machine: str | None, progress: bool, list_targets: bool) -> None:
    """Measure MODEL[@WIDTH]... (registry names, spec JSON files or .tflite files) on targets
    and store one row per (architecture, width, target, machine).

    \b
    Examples:
      mhzoo bench multi_max mobilenet_v1 --targets cpu_fp32,cpu_int8
      mhzoo bench multi_max@0.75 --targets cpu_fp32 --db results.sqlite --json
      mhzoo bench multi_max --adb --targets cpu_float,gpu,dsp,edgetpu
      mhzoo bench multi_max --targets gpu --from-output gpu.log --machine "Pixel 4"
      mhzoo bench multi_max mobilenet_v3_large --targets sim_edgetpu   # simulated (ZigZag)
    """
    from mhzoo.benchmarks.targets import list_targets as _list
    from mhzoo.benchmarks.targets import parse_targets

    if list_targets:
        for t in _list():
            click.echo(f"{t.name:14s} {t.runtime:7s} {t.quant:10s} threads={t.threads} "
                       f"delegate={t.delegate}  {t.description}")
        return
    if not models:
        raise ValueError("no model given; e.g. `mhzoo bench multi_max mobilenet_v1 --targets "
                         "cpu_fp32,cpu_int8` (see --help)")
    tlist = parse_targets(targets)
    from mhzoo.benchmarks import sweep as B
    from mhzoo.bounds import check_spec_bounds
    from mhzoo.widths import scale_spec

    # every argument is checked before TensorFlow loads and before anything is created
    refs = [B.parse_model_ref(m) for m in models]
    for ref in refs:
        if ref.spec is not None:
            check_spec_bounds(scale_spec(ref.spec, ref.width), (input_size, input_size, 3))
    if not use_adb and from_output is None:
        B.check_simulated(refs, tlist)  # a .tflite or an uncostable layer on a sim_ target
    cfg = _run_config(min_runs, min_time, max_time, warmup, not no_pin)
    dbp = Path(db) if db else B.default_db_path()
    from mhzoo._quiet import import_tensorflow_quietly

    if use_adb or from_output is not None or not all(t.is_simulated for t in tlist):
        import_tensorflow_quietly()  # simulated targets need no TensorFlow
    if not db:
        dbp.parent.mkdir(parents=True, exist_ok=True)
    if from_output is not None:
        if len(models) != 1 or len(tlist) != 1:
            raise ValueError("--from-output imports one log: give exactly one MODEL and one "
                             "target")
        res = B.import_benchmark_output(models[0], tlist[0], from_output,
                                        machine=machine or "", db=dbp,
                                        input_size=input_size, force=force)
        results = [res]
    elif use_adb:
        from mhzoo.benchmarks.adb import DEFAULT_BINARY, connect

        B.check_phone_targets(tlist, flag="--adb")
        device = connect(serial, binary=device_binary or DEFAULT_BINARY)
        results = B.bench_adb(refs, tlist, device, db=dbp, input_size=input_size,
                              workdir=workdir, force=force, progress=progress)
    else:
        results = B.bench(refs, tlist, db=dbp, config=cfg, input_size=input_size,
                          workdir=workdir, force=force, progress=progress)
    if as_json:
        rows = []
        for r in results:
            d = r.record.to_dict()
            d["label"] = r.model.label
            d["cached"] = r.cached
            d["simulated"] = r.target.is_simulated
            d.pop("info", None)
            rows.append(d)
        click.echo(json.dumps(rows, indent=1, allow_nan=False))
        return
    click.echo(f"{'model':34s} {'target':12s} {'median ms':>10s} {'p10':>8s} {'p90':>8s} "
               f"{'runs':>6s}  status")
    for r in results:
        rec = r.record
        med = f"{rec.median_ms:.3f}" if rec.median_ms is not None else "×"
        p10 = f"{rec.p10_ms:.3f}" if rec.p10_ms is not None else "-"
        p90 = f"{rec.p90_ms:.3f}" if rec.p90_ms is not None else "-"
        if r.target.is_simulated:
            status = ("simulated" + (", stored" if r.cached else "") if rec.supported
                      else f"unsupported by the {rec.info.get('rule_set')} rules (simulated)")
        else:
            status = "stored" if r.cached else ("measured" if rec.supported else "unsupported")
        click.echo(f"{r.model.label:34s} {rec.target:12s} {med:>10s} {p10:>8s} {p90:>8s} "
                   f"{len(rec.samples_ms):>6d}  {status}")
    click.echo(f"machine: {results[0].record.machine}; database: {dbp}", err=True)


def _check_outputs(*paths: str | None, force: bool) -> None:
    """Validate output files up front (mhzoo.atomic's one rule): not a folder, link or device,
    parent folder exists and is writable, an existing file only with ``--force``, no two
    outputs on the same path."""
    from mhzoo.atomic import check_output_paths

    check_output_paths(paths, force=force)


def _write_or_echo(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from mhzoo.atomic import atomic_write_text, check_output_path

    p = check_output_path(output, force=True)
    atomic_write_text(p, text)
    click.echo(f"wrote {p}", err=True)


@click.command("report")
@click.option("--latencies", type=click.Path(dir_okay=False), default=None,
              help="Latency CSV (layout of the paper's Table 1 CSV: model, width_multiplier, "
                   "top1_accuracy_pct, <target>_ms...).")
@click.option("--dataset", type=str, default=None,
              help="A published table instead of a CSV: paper-pixel4.")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Report from a results database instead of a CSV.")
@click.option("--machine", default=None, help="With --db: which machine's rows (default: "
              "this machine, else the only one).")
@click.option("--targets", default=None, help="With --db: targets to include (default all).")
@click.option("--reference", default=None, metavar="MODEL[@WIDTH]",
              help="Reference model whose latencies are the MN-Norm factors "
                   "(default mobilenet_v1@1.0).")
@click.option("--input-size", "input_size", type=click.IntRange(min=1), default=None,
              help="With --db: the input size of the rows to report (needed when the database "
                   "holds several).")
@click.option("--norm-factors", default=None, metavar="T1=MS,T2=MS,...",
              help="Explicit MN-Norm factors per target (names without _ms).")
@click.option("--weights", default=None, metavar="T1=W,...",
              help="Per-target importance weights (paper section 5.2, case 2).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md",
              show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also write Figure 1 (accuracy vs MN-Norm avg and max) to this PNG.")
@click.option("--plot-latency", type=click.Path(dir_okay=False), default=None,
              help="Also write Figure 5 (accuracy vs latency per target) to this PNG.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the table to this file instead of stdout.")
@click.option("--force", is_flag=True, help="Replace existing output files (-o, --plot, "
              "--plot-latency).")
def report_cmd(latencies: str | None, dataset: str | None, db: str | None,
               machine: str | None, targets: str | None, reference: str | None,
               input_size: int | None, norm_factors: str | None, weights: str | None,
               fmt: str, plot: str | None,
               plot_latency: str | None, output: str | None, force: bool) -> None:
    """Table-1 style report with MN-Norm avg/max (paper eq. 4-5) from measured latencies.

    \b
    Examples:
      mhzoo report --dataset paper-pixel4
      mhzoo report --latencies table.csv --reference mobilenet_v1@1.25 --format json
      mhzoo report --latencies table.csv --norm-factors cpu_float=40,gpu=6 --plot fig1.png
    """
    from mhzoo.benchmarks.importers import read_latency_csv
    from mhzoo.benchmarks.normalization import parse_assignments
    from mhzoo.benchmarks.report import build_report, paper_dataset, render

    sources = [s for s in (latencies, dataset, db) if s is not None]
    if len(sources) != 1:
        raise ValueError("give exactly one of --latencies CSV, --dataset paper-pixel4 or --db "
                         "PATH")
    if reference is not None and norm_factors is not None:
        raise ValueError("give either --reference or --norm-factors, not both")
    if input_size is not None and db is None:
        raise ValueError("--input-size selects rows of a results database; use it with --db")
    for p in (plot, plot_latency):
        if p is not None and not p.lower().endswith(".png"):
            raise ValueError(f"plot path must end in .png, got {p}")
    # before any table is computed or printed; the writes below replace only what passed here
    _check_outputs(output, plot, plot_latency, force=force)
    factors = parse_assignments(norm_factors, "normalization factor") if norm_factors else None
    w = parse_assignments(weights, "weight") if weights else None
    printed = None
    title = None
    if latencies is not None:
        table = read_latency_csv(latencies)
    elif dataset is not None:
        table, printed = paper_dataset(dataset)
        title = "Table 1 of the paper (Pixel 4)"
        if factors is not None or reference is not None or w is not None:
            printed = None
    else:
        table = _table_from_db(db, machine, targets, input_size)
    report = build_report(table, reference=reference, factors=factors, weights=w,
                          paper_mn_norm=printed)
    if printed is not None:
        report.notes.append("MN-Norm columns as printed in the paper (normalized by MobileNetV1"
                            " 1.0 on Pixel 4, whose latencies the paper does not print)")
    _write_or_echo(render(report, fmt, title=title if fmt == "md" else None), output)
    if plot is not None:
        from mhzoo.benchmarks.plots import plot_mn_norm

        click.echo(f"wrote {plot_mn_norm(report, plot)}", err=True)
    if plot_latency is not None:
        from mhzoo.benchmarks.plots import plot_latency_per_target

        click.echo(f"wrote {plot_latency_per_target(report, plot_latency)}", err=True)


def _table_from_db(db: str, machine: str | None, targets: str | None,
                   input_size: int | None = None) -> object:
    from mhzoo.benchmarks.report import table_from_db

    tnames = [t.strip() for t in targets.split(",") if t.strip()] if targets else None
    return table_from_db(db, machine=machine, targets=tnames, input_size=input_size)


@click.command("quickstart")
@click.option("--output", "-o", "out_dir", default="mhzoo-quickstart", show_default=True,
              type=click.Path(file_okay=False), help="Output folder (reused to resume).")
@click.option("--models", default=None,
              help="Comma-separated registry names (default: Multi-AVG, Multi-MAX and the "
                   "Table-1 baselines).")
@click.option("--targets", default=None,
              help="Local and simulated targets (default: cpu_fp32, cpu_int8 and the simulated "
                   "targets that ship a lookup table: sim_edgetpu, sim_npu, sim_tpu).")
@click.option("--width", default="1.0", show_default=True, callback=parse_width,
              help="Width multiplier (0 < width <= 8).")
@click.option("--table1-widths/--no-table1-widths", default=True, show_default=True,
              help="Also benchmark each model at its width in the paper's Table 1 "
                   "(MobileNetV1 / V2 / V3-minimalistic 1.25).")
@click.option("--input-size", default=224, show_default=True,
              type=click.IntRange(32, MAX_INPUT_SIZE))
@click.option("--reference", default="mobilenet_v1", show_default=True,
              help="MN-Norm reference model (measured at width 1.0).")
@click.option("--block-model", default="mobilenet_v3_large_minimalistic", show_default=True,
              help="Model of the per-block latency plot (Figure 2); 'none' to skip.")
@click.option("--min-time", default=1.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Minimum timed seconds per (model, target).")
@click.option("--max-time", default=5.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Maximum timed seconds per (model, target).")
@click.option("--progress/--no-progress", default=True, show_default=True)
def quickstart_cmd(out_dir: str, models: str | None, targets: str | None, width: float,
                   table1_widths: bool, input_size: int, reference: str, block_model: str,
                   min_time: float, max_time: float, progress: bool) -> None:
    """Build Multi-AVG, Multi-MAX and the baselines, export float32 and int8, time them on
    this machine's CPU and write the MN-Norm table and Figures 1, 2 and 5."""
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.benchmarks.quickstart import run_quickstart
    from mhzoo.benchmarks.runner import RunConfig

    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if models is not None and not names:
        raise ValueError("--models is empty")
    cfg = RunConfig(min_runs=20, min_time_s=min_time, max_time_s=max(min_time, max_time))
    import_tensorflow_quietly()
    run_quickstart(out_dir, models=names, targets=targets, width=width,
                   table1_widths=table1_widths, input_size=input_size,
                   reference=reference,
                   block_model=None if block_model.lower() == "none" else block_model,
                   config=cfg, progress=progress, echo=lambda s: click.echo(s))
    sys.stdout.flush()
