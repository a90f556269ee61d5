"""``mhzoo quickstart``: the paper's comparison on this machine's CPU and simulated
accelerators, end to end.

Builds Multi-AVG, Multi-MAX and the Table-1 baselines (each at width 1.0 and at its Table-1
width: MobileNetV1 / V2 / V3-minimalistic 1.25), exports each as float32 and int8 (the direct
flatbuffer writer, :mod:`mhzoo.export.direct`: the graph the converter makes, in
milliseconds), times them on the local CPU targets, costs them on the simulated accelerators
(``sim_*``: ZigZag, from the shipped lookup tables, labelled simulated; a model their
compatibility rules refuse gets Table 1's ×), with MobileNetV1 1.0 as the MN-Norm reference (as
in the paper), prints the Table-1 style table and writes it (md/csv/json) with Figures 1, 2
(CPU targets) and 5.
Everything lands in one folder; the SQLite store and the exported files there make a rerun
resume where a killed run stopped, and every output file is written atomically.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mhzoo.atomic import atomic_write_text
from mhzoo.benchmarks.block_latency import BlockProfile, profile_blocks
from mhzoo.benchmarks.plots import plot_block_shares, plot_latency_per_target, plot_mn_norm
from mhzoo.benchmarks.report import Report, build_report, render, table_from_records
from mhzoo.benchmarks.runner import RunConfig, machine_id, machine_info
from mhzoo.benchmarks.store import LatencyStore
from mhzoo.benchmarks.sweep import bench, parse_model_ref
from mhzoo.benchmarks.targets import Target, parse_targets
from mhzoo.names import model_slug

__all__ = ["QUICKSTART_MODELS", "QUICKSTART_TARGETS", "QuickstartResult", "block_profile",
           "default_targets", "run_quickstart", "table1_width"]

#: Multi-AVG, Multi-MAX and the baselines of the paper's Table 1.
QUICKSTART_MODELS = ("multi_avg", "multi_max", "mobilenet_v1", "mobilenet_v2",
                     "mobilenet_v3_large", "mobilenet_v3_large_minimalistic",
                     "proxylessnas_mobile", "mobilenet_edgetpu")
#: The paper's two CPU columns, on this machine: float32 and integer-only, one thread. The
#: quickstart adds the simulated accelerators that ship a lookup table
#: (:func:`default_targets`), in the place of the paper's phone chips.
QUICKSTART_TARGETS = ("cpu_fp32", "cpu_int8")


def default_targets() -> list[str]:
    """The quickstart's targets: :data:`QUICKSTART_TARGETS` and every simulated target with a
    shipped lookup table (``mhzoo.benchmarks.simulated.shipped_sim_targets``)."""
    from mhzoo.benchmarks.simulated import shipped_sim_targets

    return [*QUICKSTART_TARGETS, *shipped_sim_targets()]
#: Figure 2 of the paper profiles MobileNetV3 Large minimalistic.
BLOCK_MODEL = "mobilenet_v3_large_minimalistic"
REFERENCE = "mobilenet_v1"


@dataclass
class QuickstartResult:
    """What the quickstart produced."""

    report: Report
    files: dict[str, Path]
    wall_s: float
    block_profiles: list[BlockProfile] = field(default_factory=list)


def _load_profile(path: Path) -> BlockProfile | None:
    try:
        d = json.loads(path.read_text())
        return BlockProfile(model=d["model"], width=d["width"], target=d["target"],
                            labels=d["labels"], cumulative_ms=d["cumulative_ms"],
                            block_ms=d["block_ms"], raw_block_ms=d["raw_block_ms"],
                            total_ms=d["total_ms"], passes=d["passes"], notes=d["notes"],
                            input_size=d.get("input_size"), arch_hash=d.get("arch_hash"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def block_profile(folder: Path, block_model: str, width: float, target: Target, *,
                  input_size: int, passes: int = 3, progress: bool = False) -> BlockProfile:
    """The Figure-2 block profile of ``block_model`` on ``target``, cached as JSON in
    ``folder``.

    The cache file is named by model, width, input size, target and architecture hash, and the
    stored profile is used only when its model, width, target, input size and architecture
    hash all match (a spec file edited since, or another input size, is measured again).
    """
    from mhzoo.benchmarks.store import arch_hash
    from mhzoo.builder import resolve_spec

    spec = resolve_spec(block_model)
    key = arch_hash(spec, input_size)
    digest = key.split(":", 1)[-1][:10]
    path = folder / (f"{model_slug(spec.name, width)}_{input_size}_{target.name}_"
                     f"{digest}.json")
    prof = _load_profile(path)
    if prof is not None and (prof.model, float(prof.width), prof.target, prof.input_size,
                             prof.arch_hash) == (spec.name, float(width), target.name,
                                                 input_size, key):
        return prof
    prof = profile_blocks(spec, width, target, input_size=input_size, passes=passes,
                          workdir=folder, progress=progress)
    atomic_write_text(path, json.dumps(prof.to_dict(), indent=1, allow_nan=False))
    return prof


def _make_folder(out: Path) -> None:
    """Create the output folder (and its models/ subfolder); one-line errors otherwise."""
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder's parent does not exist: {parent}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path exists and is not a folder: {out}")
    where = out if out.is_dir() else parent
    if not os.access(where, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to {where}: permission denied")
    try:
        out.mkdir(exist_ok=True)
        (out / "models").mkdir(exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot write to {out}: {exc.strerror or exc}") from None


def table1_width(name: str) -> float | None:
    """The width at which the paper's Table 1 lists a registered model (None: not listed)."""
    from mhzoo.paper import TABLE1
    from mhzoo.registry import get_entry

    row = get_entry(name).paper_row
    return next((r.width_multiplier for r in TABLE1 if r.model == row), None)


def run_quickstart(out_dir: str | os.PathLike = "mhzoo-quickstart", *,
                   models: Sequence[str] | None = None,
                   targets: Sequence[str] | str | None = None, width: float = 1.0,
                   table1_widths: bool = True, input_size: int = 224, reference: str = REFERENCE,
                   block_model: str | None = BLOCK_MODEL, config: RunConfig | None = None,
                   block_passes: int = 3, progress: bool = True,
                   echo: Callable[[str], None] = print) -> QuickstartResult:
    """Run the quickstart; returns the report and the written files.

    Args:
        out_dir: output folder (created; its parent must exist). Reused on a rerun.
        models: registry names (default :data:`QUICKSTART_MODELS`), all at ``width``.
        targets: local and simulated targets (default :func:`default_targets`).
        width: width multiplier of the models.
        table1_widths: also each model at its Table-1 width where that differs.
        input_size: square input resolution.
        reference: MN-Norm reference model, measured at width 1.0 (added if not listed).
        block_model: model of the per-block latency plot (None: skip Figure 2).
        config: timing budget per (model, target).
        block_passes: interleaved timing passes of the block profile.
        progress: progress bars on stderr.
        echo: where progress messages and the table go.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"output folder's parent does not exist: {parent}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path exists and is not a folder: {out}")
    if targets is None:
        targets = default_targets()
    tlist = parse_targets(targets) if isinstance(targets, str) else parse_targets(list(targets))
    for t in tlist:
        if not (t.is_local or t.is_simulated):
            raise ValueError(f"target {t.name!r} runs on a phone; quickstart uses this machine")
    names = list(models) if models is not None else list(QUICKSTART_MODELS)
    refs = [parse_model_ref(f"{m}@{width}") for m in names]
    if table1_widths:
        extra = [(m, table1_width(m)) for m in names]
        refs += [parse_model_ref(f"{m}@{w}") for m, w in extra
                 if w is not None and float(w) != float(width)]
    ref_ref = parse_model_ref(f"{reference}@1.0")
    if all((r.name, r.width) != (ref_ref.name, ref_ref.width) for r in refs):
        refs.append(ref_ref)
    if block_model is not None:
        parse_model_ref(block_model)  # fail early on a bad name
    _make_folder(out)
    cfg = config or RunConfig(min_runs=20, min_time_s=1.0, max_time_s=5.0)
    echo(f"mhzoo quickstart: {len(refs)} models x {len(tlist)} targets "
         f"({', '.join(t.name for t in tlist)}) on {machine_id()}; results in {out}/")
    files: dict[str, Path] = {}
    with LatencyStore(out / "results.sqlite") as store:
        bench(refs, [t.name for t in tlist], db=store, config=cfg, input_size=input_size,
              workdir=out / "models", progress=progress, writer="direct")
        records = store.records(machine=machine_id())
    files["results"] = out / "results.sqlite"
    table = table_from_records(records, [t.name for t in tlist],
                               models=[(r.name, r.width) for r in refs], input_size=input_size)
    report = build_report(table, reference=f"{ref_ref.name}@1.0")
    local = [t.name for t in tlist if t.is_local]
    sims = [t.name for t in tlist if t.is_simulated]
    if local:
        report.notes.append(f"measured on {machine_id()} ({', '.join(local)}): LiteRT, batch 1,"
                            f" median of timed runs, input {input_size}x{input_size}; accuracy ="
                            " the paper's Table 1 where the model and width match")
    if sims:  # (the table's own note labels them simulated)
        report.notes.append(f"{', '.join(sims)}: int8, the sum of the layers' ZigZag cycles over "
                            "the target's clock (benchmarks/simulated/README.md)")
    for fmt, name in (("md", "table.md"), ("csv", "table.csv"), ("json", "table.json")):
        files[f"table_{fmt}"] = atomic_write_text(out / name, render(report, fmt))
    what = " and ".join(x for x in ("this machine's CPU targets" if local else "",
                                    "simulated accelerators" if sims else "") if x)
    files["fig1"] = plot_mn_norm(report, out / "fig1_accuracy_vs_mn_norm.png",
                                 title=f"Accuracy vs MN-Norm on {what}")
    files["fig5"] = plot_latency_per_target(report, out / "fig5_accuracy_vs_latency.png")
    profiles: list[BlockProfile] = []
    if block_model is not None and local:
        bdir = out / "blocks"
        bdir.mkdir(exist_ok=True)
        for t in (t for t in tlist if t.is_local):  # Figure 2 times prefixes of the model
            profiles.append(block_profile(bdir, block_model, width, t, input_size=input_size,
                                          passes=block_passes, progress=progress))
        files["fig2"] = plot_block_shares(profiles, out / "fig2_block_latency_share.png")
    atomic_write_text(out / "machine.json", json.dumps(machine_info(), indent=1,
                                                       allow_nan=False, default=str))
    files["machine"] = out / "machine.json"
    wall = time.perf_counter() - start
    echo(render(report, "md", title="MN-Norm table (this machine)"))
    echo("wrote: " + ", ".join(str(p) for p in files.values()))
    echo(f"quickstart finished in {wall:.0f} s")
    return QuickstartResult(report=report, files=files, wall_s=wall, block_profiles=profiles)
