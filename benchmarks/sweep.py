"""Benchmark sweeps on this machine: models x targets -> rows in the results store.

A sweep builds each model once (from its spec, batch 1), exports it once per quant mode the
targets need, times it per target and commits each (model, target) row as soon as it is
measured. Rows already in the store for this machine are skipped, so a killed sweep resumes
where it stopped.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mhzoo.benchmarks.importers import fmt_width
from mhzoo.benchmarks.measure import sim_row_is_current
from mhzoo.benchmarks.runner import RunConfig, machine_id, machine_info, measure_tflite
from mhzoo.benchmarks.store import LatencyRecord, LatencyStore, arch_hash, file_hash
from mhzoo.benchmarks.targets import Target, parse_targets
from mhzoo.export.direct import DIRECT_MODES
from mhzoo.names import cache_dir, model_slug
from mhzoo.spec import ArchSpec

__all__ = ["BenchResult", "ModelRef", "bench", "bench_adb", "check_phone_targets",
           "check_simulated",
           "check_tflite_target", "default_cache_dir", "default_db_path",
           "import_benchmark_output", "parse_model_ref", "row_key", "tflite_path"]


@dataclass(frozen=True)
class ModelRef:
    """A model named on the command line: ``NAME[@WIDTH]``, ``SPEC.json[@WIDTH]`` or a .tflite."""

    name: str
    width: float
    spec: ArchSpec | None = None
    tflite: Path | None = None

    @property
    def label(self) -> str:
        """``multi_max@1.0`` style label (the file name for a .tflite)."""
        if self.tflite is not None:
            return self.tflite.name
        return f"{self.name}@{fmt_width(self.width)}"


def parse_model_ref(text: str) -> ModelRef:
    """``"multi_max@0.75"`` -> ModelRef; ``ValueError`` for unknown names, bad widths and
    missing files."""
    from mhzoo.builder import resolve_spec
    from mhzoo.widths import check_width

    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty model name")
    text = text.strip()
    if text.lower().endswith(".tflite"):
        p = Path(text)
        if not p.is_file():
            raise FileNotFoundError(f"model file not found: {p}")
        return ModelRef(name=p.stem, width=0.0, tflite=p)
    name, sep, w = text.rpartition("@")
    if not sep:
        name, w = text, "1.0"
    try:
        width = float(w)
    except ValueError:
        raise ValueError(f"bad width in {text!r}: {w!r} is not a number (use NAME@0.75)"
                         ) from None
    width = check_width(width)
    spec = resolve_spec(name)
    label = spec.name if (name.endswith(".json") or os.sep in name) else name
    return ModelRef(name=label, width=width, spec=spec)


def default_cache_dir() -> Path:
    """mhzoo's cache folder (``$MHZOO_HOME``, see :func:`mhzoo.names.cache_dir`)."""
    return cache_dir()


def default_db_path() -> Path:
    """The default results database, ``<cache dir>/latency.sqlite``."""
    return default_cache_dir() / "latency.sqlite"


def _file_matches(inv: Any, quant: str) -> bool:
    """Whether a .tflite (its inventory) is what an export in ``quant`` mode looks like: the
    input type of the mode, quantized activations for the int8 modes only, and integer-only
    ops for the integer-only modes."""
    from mhzoo.export.quant import INTEGER_ONLY_MODES, io_dtype

    if not inv.inputs or inv.inputs[0].dtype != io_dtype(quant).upper():
        return False
    quantized = bool({"INT8", "UINT8"} & set(inv.activation_types))
    if quantized != quant.startswith("int8"):
        return False
    return inv.integer_only or quant not in INTEGER_ONLY_MODES


def check_tflite_target(path: str | os.PathLike, target: Target) -> None:
    """``ValueError`` when a prebuilt .tflite is not of the kind ``target`` times (a float
    model on an integer-only target or the reverse), naming the targets that fit the file.
    Files that cannot be parsed are left to the runner, which reports them."""
    from mhzoo.benchmarks.targets import list_targets
    from mhzoo.export.op_inventory import inventory

    p = Path(path)
    try:
        inv = inventory(p.read_bytes())
    except (OSError, ValueError):
        return
    if _file_matches(inv, target.quant):
        return
    kind = ("integer-only" if inv.integer_only else "float") + \
        (f", {inv.inputs[0].dtype} input" if inv.inputs else "")
    fits = [t.name for t in list_targets(target.runtime) if _file_matches(inv, t.quant)]
    hint = f"; targets for this file: {', '.join(fits)}" if fits else ""
    raise ValueError(f"{p.name} is a {kind} model, but target {target.name!r} times "
                     f"{target.quant} exports; the row would be wrong{hint}")


def row_key(ref: ModelRef, input_size: int = 224, num_classes: int = 1000) -> tuple[str, float]:
    """(architecture hash, width) of a model reference."""
    if ref.tflite is not None:
        return file_hash(ref.tflite), 0.0
    assert ref.spec is not None
    return arch_hash(ref.spec, input_size, num_classes), ref.width


@dataclass
class BenchResult:
    """A row of a sweep and whether it came from the store (``cached``)."""

    model: ModelRef
    target: Target
    record: LatencyRecord
    cached: bool


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="run", file=sys.stderr, disable=not enabled,
                leave=False, dynamic_ncols=True)


def _build(ref: ModelRef, input_size: int) -> Any:
    import mhzoo
    from mhzoo.export._quiet import captured_output

    with captured_output():
        return mhzoo.build(ref.spec, ref.width, input_shape=(input_size, input_size, 3),
                           batch_size=1, name=model_slug(ref.name, ref.width))


class _Exports:
    """The .tflite files of one model: the given file, or exports made once per mode (reused
    from the work folder when they already exist there)."""

    def __init__(self, ref: ModelRef, workdir: Path, input_size: int, key: str,
                 writer: str = "converter") -> None:
        self.ref, self.workdir, self.input_size, self.key = ref, workdir, input_size, key
        self.writer = writer
        self._keras_model: Any = None

    def path_for(self, quant: str) -> Path:
        if self.ref.tflite is not None:
            return self.ref.tflite
        path = tflite_path(self.workdir, self.ref, quant, self.input_size, self.key)
        if not path.is_file() and self.writer == "direct" and quant in DIRECT_MODES:
            from mhzoo.atomic import atomic_write_bytes
            from mhzoo.benchmarks.measure import spec_tflite_bytes
            from mhzoo.widths import scale_spec

            assert self.ref.spec is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, spec_tflite_bytes(scale_spec(self.ref.spec, self.ref.width),
                                                       quant, input_size=self.input_size,
                                                       writer="direct"))
        if not path.is_file():
            from mhzoo.benchmarks.exporting import export_tflite

            if self._keras_model is None:
                self._keras_model = _build(self.ref, self.input_size)
            export_tflite(self._keras_model, path, quant)
        return path

    def release(self) -> bool:
        """Drop the Keras model built for exporting; ``True`` if there was one."""
        built, self._keras_model = self._keras_model is not None, None
        return built


def tflite_path(workdir: Path, ref: ModelRef, quant: str, input_size: int, key: str) -> Path:
    """Where the sweep keeps the export of ``ref`` in ``quant`` (named by architecture hash)."""
    digest = key.split(":", 1)[-1][:10]
    return workdir / f"{model_slug(ref.name, ref.width)}_{input_size}_{quant}_{digest}.tflite"


def bench(models: Sequence[str | ModelRef], targets: str | Sequence[str | Target], *,
          db: str | os.PathLike | LatencyStore | None = None, config: RunConfig | None = None,
          input_size: int = 224, workdir: str | os.PathLike | None = None, force: bool = False,
          progress: bool = True, writer: str = "converter",
          on_result: Callable[[BenchResult], None] | None = None) -> list[BenchResult]:
    """Measure ``models`` on local ``targets`` and store each row as soon as it is measured;
    simulated targets (``sim_*``) are costed from their layer lookup tables, not timed.

    Args:
        models: ``"multi_max@1.0"``-style names, spec JSON paths or .tflite files (a .tflite
            runs as it is on every target: the target's quant mode is not applied).
        targets: target names (``"cpu_fp32,cpu_int8"``) or :class:`Target` objects; local only.
        db: results database path or open store (default :func:`default_db_path`).
        config: timing budget per row.
        input_size: square input resolution of the built models.
        workdir: where exported .tflite files are kept (default ``<cache dir>/tflite``).
        force: measure again and replace rows that are already stored.
        progress: show a progress bar on stderr.
        writer: how the .tflite files are made: ``"converter"`` (``mhzoo.export.to_tflite``)
            or ``"direct"`` (the flatbuffer writer, float32 and int8_full only).
        on_result: called with each row as it is finished (or found in the store).
    """
    refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    if not refs:
        raise ValueError("no models given")
    if writer not in ("converter", "direct"):
        raise ValueError(f"unknown writer {writer!r}; expected converter or direct")
    tlist = parse_targets(targets) if isinstance(targets, str) else parse_targets(
        [t.name if isinstance(t, Target) else t for t in targets])
    for t in tlist:
        if not (t.is_local or t.is_simulated):
            raise ValueError(f"target {t.name!r} runs on an Android phone; use `mhzoo bench "
                             "--adb` (or import its benchmark_model output)")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"input size must be an integer >= 32, got {input_size!r}")
    check_simulated(refs, tlist)
    for ref in refs:
        if ref.tflite is not None:
            for t in tlist:
                check_tflite_target(ref.tflite, t)
    cfg = config or RunConfig()
    wd = Path(workdir) if workdir is not None else default_cache_dir() / "tflite"
    own_store = not isinstance(db, LatencyStore)
    if own_store:
        dbp = Path(db) if db is not None else default_db_path()
        if db is None:
            dbp.parent.mkdir(parents=True, exist_ok=True)
        store = LatencyStore(dbp)
    else:
        store = db  # type: ignore[assignment]
    machine = machine_id()
    minfo = machine_info()
    results: list[BenchResult] = []
    bar = _progress(len(refs) * len(tlist), progress, "bench")

    def done(res: BenchResult) -> None:
        results.append(res)
        bar.update(1)
        if on_result:
            on_result(res)

    try:
        for ref in refs:
            key, width = row_key(ref, input_size)
            pending = []
            for t in tlist:
                rec = None if force else store.get(key, width, t.name, machine)
                if rec is not None and not sim_row_is_current(rec, t):
                    rec = None  # made with another ZigZag or other target files: simulate again
                if rec is not None:
                    done(BenchResult(ref, t, rec, cached=True))
                else:
                    pending.append(t)
            if not pending:
                continue
            exports = _Exports(ref, wd, input_size, key, writer)
            for t in pending:
                bar.set_postfix_str(f"{ref.label} {t.name}")
                if t.is_simulated:
                    from mhzoo.benchmarks.measure import simulated_record
                    from mhzoo.widths import scale_spec

                    assert ref.spec is not None
                    rec = simulated_record(scale_spec(ref.spec, ref.width), t, key=key,
                                           width=width, machine=machine, model=ref.name,
                                           input_size=input_size)
                    store.put(rec, replace=True)
                    done(BenchResult(ref, t, rec, cached=False))
                    continue
                path = exports.path_for(t.quant)
                lat = measure_tflite(path, t, config=cfg)
                st = lat.stats
                rec = LatencyRecord(
                    arch_hash=key, width=width, target=t.name, machine=machine,
                    model=ref.name, median_ms=float(st["median_ms"]), samples_ms=lat.samples_ms,
                    p10_ms=float(st["p10_ms"]), p90_ms=float(st["p90_ms"]),
                    mean_ms=float(st["mean_ms"]), supported=True,
                    input_size=None if ref.tflite is not None else input_size,
                    source="litert", created_at=time.time(),
                    info={"machine_info": minfo, "target": t.to_dict(),
                          "threads": lat.threads, "delegate": lat.delegate,
                          "pinned_cpus": lat.pinned_cpus, "config": lat.config,
                          "warmup_ms": lat.warmup_ms, "n_outliers": st["n_outliers"],
                          "tflite": str(path), "tflite_bytes": path.stat().st_size})
                store.put(rec, replace=force)
                done(BenchResult(ref, t, rec, cached=False))
            if exports.release():  # free the Keras graph before the next model
                from mhzoo.builder import get_keras

                get_keras("keras").backend.clear_session()
                gc.collect()
    finally:
        bar.close()
        if own_store:
            store.close()
    return results


def _record_from_benchmark_model(ref: ModelRef, target: Target, key: str, width: float,
                                 machine: str, result: Any, input_size: int | None,
                                 source: str, extra: dict[str, Any]) -> LatencyRecord:
    from dataclasses import asdict

    fully = result.fully_delegated
    supported = not (target.delegate in ("gpu", "hexagon", "nnapi") and fully is False)
    return LatencyRecord(
        arch_hash=key, width=width, target=target.name, machine=machine, model=ref.name,
        median_ms=result.avg_ms, samples_ms=[], p10_ms=None, p90_ms=None,
        mean_ms=result.avg_ms, supported=supported, input_size=input_size, source=source,
        created_at=time.time(),
        info={"statistic": "avg (benchmark_model prints no median)", "target": target.to_dict(),
              "benchmark_model": asdict(result), **extra})


def import_benchmark_output(model: str | ModelRef, target: str | Target,
                            output: str | os.PathLike, *, machine: str,
                            db: str | os.PathLike | LatencyStore | None = None,
                            input_size: int = 224, force: bool = False) -> BenchResult:
    """Store the result of a ``benchmark_model`` run done elsewhere (a saved log).

    A delegate target whose log says the graph was only partially delegated is stored as
    unsupported (Table 1's "x"), its average kept in ``info``.
    """
    from mhzoo.benchmarks.importers import read_benchmark_model_output
    from mhzoo.benchmarks.targets import get_target

    ref = model if isinstance(model, ModelRef) else parse_model_ref(model)
    t = get_target(target)
    if not machine or not machine.strip():
        raise ValueError("say which device the log comes from with --machine, e.g. 'Pixel 4'")
    result = read_benchmark_model_output(output)
    key, width = row_key(ref, input_size)
    rec = _record_from_benchmark_model(ref, t, key, width, machine.strip(), result,
                                       None if ref.tflite else input_size,
                                       "import:benchmark_model", {"log_file": str(output)})
    own = not isinstance(db, LatencyStore)
    store = LatencyStore(db if db is not None else default_db_path()) if own else db
    try:
        written = store.put(rec, replace=force)  # type: ignore[union-attr]
        if not written:
            raise ValueError(f"{ref.label} on {t.name} for {machine} is already stored; use "
                             "--force to replace it")
    finally:
        if own:
            store.close()  # type: ignore[union-attr]
    return BenchResult(ref, t, rec, cached=False)


def check_simulated(refs: Sequence[ModelRef], targets: Sequence[Target]) -> None:
    """``ValueError`` before anything runs when a simulated target cannot serve: its lookup
    table belongs to another ZigZag or other target files (``StaleTableError``), or it is
    asked for a model it cannot cost (``UnsupportedLayerError``): a prebuilt .tflite (the
    simulator costs a spec's layers, it does not read graphs) or a spec with a layer type it
    does not know."""
    sims = [t for t in targets if t.is_simulated]
    if not sims:
        return
    from mhzoo.benchmarks.simulated import UnsupportedLayerError, get_sim_target, spec_layers
    from mhzoo.widths import scale_spec

    for t in sims:
        get_sim_target(t.name).tables()  # its folder loads, its tables match: else refuse now
    for ref in refs:
        if ref.tflite is not None:
            raise UnsupportedLayerError(
                f"{ref.tflite.name}: simulated target {sims[0].name!r} costs a spec's layers "
                "and cannot read a .tflite graph; give a registry name or a spec JSON")
        assert ref.spec is not None
        spec_layers(scale_spec(ref.spec, ref.width))  # raises for a layer it cannot cost


def check_phone_targets(targets: Sequence[Target], *, flag: str | None = None) -> None:
    """``ValueError`` naming the first target that does not run on a phone through adb.

    ``flag``: the command-line option being checked (``"--adb"``), for the CLI's wording.
    """
    for t in targets:
        if t.runtime == "adb":
            continue
        if flag is not None:
            raise ValueError(f"target {t.name!r} is not a phone target; with {flag} use "
                             "cpu_float, cpu_uint8, gpu, dsp, edgetpu or nnapi")
        raise ValueError(f"target {t.name!r} runs on this machine, not on a phone; phone "
                         "targets: cpu_float, cpu_uint8, gpu, dsp, edgetpu, nnapi")


def bench_adb(models: Sequence[str | ModelRef], targets: str | Sequence[str | Target],
              device: Any, *, db: str | os.PathLike | LatencyStore | None = None,
              input_size: int = 224, workdir: str | os.PathLike | None = None,
              force: bool = False, progress: bool = True, num_runs: int = 50,
              on_result: Callable[[BenchResult], None] | None = None) -> list[BenchResult]:
    """Like :func:`bench`, on an Android phone (``device`` from :func:`mhzoo.benchmarks.adb.
    connect`) with ``benchmark_model``; the latency is its average."""
    refs = [m if isinstance(m, ModelRef) else parse_model_ref(m) for m in models]
    tlist = parse_targets(targets) if isinstance(targets, str) else parse_targets(
        [t.name if isinstance(t, Target) else t for t in targets])
    check_phone_targets(tlist)
    for ref in refs:
        if ref.tflite is not None:
            for t in tlist:
                check_tflite_target(ref.tflite, t)
    device.check_binary()
    machine = device.machine_id()
    dinfo = device.info()
    wd = Path(workdir) if workdir is not None else default_cache_dir() / "tflite"
    own = not isinstance(db, LatencyStore)
    store = LatencyStore(db if db is not None else default_db_path()) if own else db
    results: list[BenchResult] = []
    bar = _progress(len(refs) * len(tlist), progress, "bench (adb)")
    try:
        for ref in refs:
            key, width = row_key(ref, input_size)
            exports = _Exports(ref, wd, input_size, key)
            for t in tlist:
                rec = None if force else store.get(key, width, t.name, machine)
                if rec is None:
                    bar.set_postfix_str(f"{ref.label} {t.name}")
                    path = exports.path_for(t.quant)
                    result, log = device.run_benchmark(path, t, num_runs=num_runs)
                    rec = _record_from_benchmark_model(
                        ref, t, key, width, machine, result,
                        None if ref.tflite else input_size, "adb",
                        {"device": dinfo, "log_tail": log[-2000:]})
                    store.put(rec, replace=force)
                    res = BenchResult(ref, t, rec, cached=False)
                else:
                    res = BenchResult(ref, t, rec, cached=True)
                results.append(res)
                bar.update(1)
                if on_result:
                    on_result(res)
    finally:
        bar.close()
        if own:
            store.close()
    return results
