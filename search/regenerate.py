"""The paper's pipeline as a chain of stages whose every output is a file in ``DIR`` (cost models,
search, training, export, benchmark, MN-Norm report), and the budgets of each stage (``FULL``,
``TINY``). The command is ``mhzoo regenerate`` (:mod:`mhzoo.search.cli.regenerate`).

Stages (each skipped when its output exists, each resumable on its own)::

    DIR/regenerate.json           the request; a folder of another request is refused
    DIR/costmodels/               linear cost model per target + reference_ms.json (given with
                                  --cost-models and copied, or collected and fitted here:
                                  DIR/latency.sqlite holds the measurements, row by row)
    DIR/search/                   `mhzoo search run` (search_result.json at the end)
    DIR/train/                    `mhzoo train` of the result's spec (its model/ at the end)
    DIR/export/                   float32 and int8 (integer-only) .tflite of the trained model
    DIR/bench.sqlite              `mhzoo bench`: the searched spec, the zoo's Multi-AVG /
                                  Multi-MAX and the baselines at the deployment input size, and
                                  the exported files
    DIR/report.md|json|csv        MN-Norm table (reference MobileNetV1 1.0), predicted vs
                                  measured MN-Norm of the result, its test accuracy, and the
                                  paper's published Multi-AVG / Multi-MAX figures

One set of splits (rule ``mhzoo.splits/v1``, :mod:`mhzoo.search.training.splits`, sizes and
split seed from the search preset's shared recipe) serves every stage: the search trains the
shared weights on ``train`` and rewards the controller on ``search_valid``; the retraining uses
``final_train`` (train + search_valid); the reported accuracy is measured on ``test``, which no
stage before it reads; the int8 calibration images come from ``train``. ``regenerate.json``
records the splits, and every stage's own record is checked against them.

A search that ends unconverged (``search_result.json["convergence"]["converged"]`` false, the
verdict of :mod:`mhzoo.search.tunas.convergence`) stops the chain with a one-line error unless
``accept_unconverged`` is set; then the summary records ``"converged": false``.

``--tiny`` shrinks every stage so that the whole chain runs in a few minutes on a CPU (CI): a
32 px, width 0.25, one-layer-per-stage space, 12 architectures for the cost models through the
direct .tflite writer, a 4-step search, one epoch of training on 64 images.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_dir, atomic_write_text
from mhzoo.benchmarks.report import build_report, paper_dataset, render, table_from_records
from mhzoo.benchmarks.runner import RunConfig, machine_id
from mhzoo.benchmarks.store import LatencyStore
from mhzoo.benchmarks.sweep import bench, parse_model_ref
from mhzoo.benchmarks.targets import get_target, parse_targets
from mhzoo.builder import build
from mhzoo.export import to_tflite
from mhzoo.search import runs
from mhzoo.search.cost import LinearCostModel
from mhzoo.search.cost.folder import (
    REFERENCE_FILE,
    load_cost_models,
    read_reference,
    write_reference,
)
from mhzoo.search.cost.simulated import simulated_cost_model
from mhzoo.search.jsonfile import read_json
from mhzoo.search.latency.collection import FAST_CONFIG, collect, sample_genotypes
from mhzoo.search.latency.reference import reference_factors
from mhzoo.search.latency.shards import store_dataset
from mhzoo.search.space import Genotype, get_space
from mhzoo.search.training import data as data_lib
from mhzoo.search.training.loop import TrainRequest, train
from mhzoo.search.training.recipes import get_preset
from mhzoo.search.training.splits import RULE, Splits
from mhzoo.search.tunas.config import SearchConfig, get_search_preset, parse_reward
from mhzoo.search.tunas.loop import SearchRequest, prepare_search, run_search
from mhzoo.spec import ArchSpec

__all__ = ["NAMED_REWARDS", "Budget", "RegenerateRequest", "UnconvergedSearchError", "regenerate",
           "reward_of"]

#: the paper's two searches (section 7.2): eq. 7 gave Multi-AVG, eq. 8 Multi-MAX
NAMED_REWARDS = {"multi_avg": "avg", "multi_max": "max"}
BASELINES = ("multi_avg", "multi_max", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
             "proxylessnas_mobile")
REFERENCE = "mobilenet_v1"


@dataclass(frozen=True)
class Budget:
    """How big every stage is."""

    space_options: dict[str, Any]
    cost_archs: int
    search_overrides: dict[str, Any]
    search_limits: tuple[int | None, int | None]
    train_overrides: dict[str, Any]
    train_limits: tuple[int | None, int | None]
    baselines: tuple[str, ...]
    bench_config: dict[str, Any]
    calibration_images: int


FULL = Budget(space_options={}, cost_archs=400, search_overrides={},
              search_limits=(None, None), train_overrides={}, train_limits=(None, None),
              baselines=BASELINES,
              bench_config={"min_runs": 20, "min_time_s": 1.0, "max_time_s": 5.0},
              calibration_images=200)
TINY = Budget(space_options={"input_size": 32, "width": 0.25, "max_layers": 1}, cost_archs=12,
              search_overrides={"steps": 4, "global_batch": 8, "rl_batch_multiplier": 2,
                                "checkpoint_every": 2, "log_every": 1,
                                "proxy": {"stem_stride": 1, "width": 0.25},
                                "shared": {"test": 100, "search_valid": 100}},
              search_limits=(32, 16),
              train_overrides={"epochs": 1, "global_batch": 16},
              train_limits=(64, 32), baselines=("multi_max",),
              bench_config={"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 3,
                            "min_time_s": 0.0, "max_time_s": 0.3},
              calibration_images=8)


def reward_of(name: str | None, reward: str | None) -> str:
    """The reward of ``mhzoo regenerate NAME`` or ``--reward R`` (exactly one of them)."""
    if name is not None and reward is not None:
        raise ValueError("give a model name (multi_avg / multi_max) or --reward, not both")
    if name is not None:
        if name not in NAMED_REWARDS:
            raise ValueError(f"unknown model to regenerate {name!r}; expected "
                             f"{' or '.join(NAMED_REWARDS)} (or --reward avg|max|single:T)")
        return NAMED_REWARDS[name]
    if reward is None:
        raise ValueError("give multi_avg, multi_max or --reward avg|max|single:TARGET")
    return parse_reward(reward).name


@dataclass(frozen=True)
class RegenerateRequest:
    """A regenerate run, checked once when it is made (before TensorFlow loads).

    Attributes:
        out_dir: the run folder (new, empty, or this run's own folder to resume).
        reward: ``avg``, ``max`` or ``single:TARGET`` (see :func:`reward_of`).
        data: TFRecord shard folder or image-folder tree.
        cost_models: a folder of linear cost models (default: collect and fit them here).
        targets: targets measured on this machine (LiteRT) or simulated here (``sim_*``).
        preset, train_preset: the search and training presets (``preset`` may be a
            :class:`~mhzoo.search.tunas.config.SearchConfig`, the Python API's way to run a
            search configured elsewhere, e.g. by a study).
        mn_norm_target: the MN-Norm target of the avg / max reward (the paper: 1; single:T
            rewards: ``L0 = mn_norm_target x C_T``).
        epochs: retraining epochs (default: the training preset's).
        stop_after: ``"search"``: return after the search (and its convergence check), the
            later stages left for a rerun without it (a study runs its other searches in
            between); not part of the run's identity.
        tiny: a tiny budget for every stage (CI).
        cost_archs: architectures to measure for the cost models (>= 10).
        steps: search steps.
        strategy, seed, progress: as for the search and training.
        accept_unconverged: go on after a search that ended unconverged (the summary records
            ``"converged": false``); otherwise the chain stops there with a one-line error.
        echo: where stage lines go.
    """

    out_dir: str | os.PathLike
    reward: str
    data: str | os.PathLike
    cost_models: str | os.PathLike | None = None
    targets: tuple[str, ...] = ("cpu_fp32", "cpu_int8")
    preset: Any = "cpu-proxy"
    train_preset: str = "cifar10-proxy"
    mn_norm_target: float = 1.0
    epochs: float | None = None
    stop_after: str | None = None
    tiny: bool = False
    cost_archs: int | None = None
    steps: int | None = None
    strategy: str = "default"
    seed: int = 0
    progress: bool = True
    accept_unconverged: bool = False
    echo: Callable[[str], None] = field(default=print, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reward", parse_reward(self.reward).name)
        found = parse_targets(list(self.targets))
        remote = [t.name for t in found if not (t.is_local or t.is_simulated)]
        if remote:
            raise ValueError(f"target(s) {', '.join(remote)} run on a phone; regenerate measures "
                             "targets of this machine or simulated ones (collect phone "
                             "latencies with `mhzoo bench --adb`)")
        object.__setattr__(self, "targets", tuple(t.name for t in found))
        parse_reward(self.reward, self.targets)
        if not isinstance(self.preset, SearchConfig):
            get_search_preset(self.preset)
        get_preset(self.train_preset)
        for label, v in (("mn_norm_target", self.mn_norm_target), ("epochs", self.epochs)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)
                                  or not math.isfinite(v) or v <= 0):
                raise ValueError(f"{label} must be a number > 0, got {v!r}")
        object.__setattr__(self, "mn_norm_target", float(self.mn_norm_target))
        if self.epochs is not None:  # 2 and 2.0 are one request (API and CLI)
            object.__setattr__(self, "epochs", float(self.epochs))
        if self.stop_after not in (None, "search"):
            raise ValueError(f"stop_after must be None or 'search', got {self.stop_after!r}")
        for label, v, lo in (("cost_archs", self.cost_archs, 10), ("steps", self.steps, 1)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
                raise ValueError(f"{label} must be an integer >= {lo}, got {v!r}")
        if not os.fspath(self.data).startswith("tfds:") and not Path(self.data).exists():
            raise ValueError(f"--data not found: {self.data}")
        if self.cost_models is not None and not Path(self.cost_models).is_dir():
            raise ValueError(f"--cost-models is not a folder: {self.cost_models}")
        if Path(self.out_dir).is_file():
            raise ValueError(f"output path is a file, expected a folder: {self.out_dir}")


def _preset_record(preset: str | SearchConfig) -> Any:
    """A search preset as the run records it: its name when it is a named preset as it is (so
    the API and the CLI record one request), else its fields."""
    if isinstance(preset, str):
        return preset
    try:
        named = get_search_preset(preset.name)
    except ValueError:
        named = None
    return preset.name if named == preset else preset.to_dict()


def regenerate(request: RegenerateRequest | str | os.PathLike, **fields: Any
               ) -> dict[str, Any]:
    """Run (or resume) the whole chain into ``request.out_dir``; returns the report summary.

    Takes a :class:`RegenerateRequest`, or the run folder and the other fields
    (``regenerate(out_dir, reward="max", data=...)``).
    """
    if isinstance(request, RegenerateRequest):
        if fields:
            raise ValueError("give a RegenerateRequest alone, or the run folder and the fields")
        r = request
    else:
        r = RegenerateRequest(request, **fields)
    budget = TINY if r.tiny else FULL
    out = Path(r.out_dir)
    ts = list(r.targets)
    source = data_lib.open_data(r.data)
    deploy = get_space("multi_hardware", **budget.space_options)
    overrides = dict(budget.search_overrides)
    if r.steps is not None:
        overrides["steps"] = r.steps
    preset = r.preset if isinstance(r.preset, SearchConfig) else get_search_preset(r.preset)
    shared = preset.replace(**overrides).shared
    split_sizes = {"test": shared.test, "search_valid": shared.search_valid,
                   "split_seed": shared.split_seed}
    splits = data_lib.splits_for(source, shared.test, shared.search_valid, shared.split_seed)
    record = {"reward": r.reward, "targets": ts, "tiny": r.tiny,
              "preset": _preset_record(r.preset),
              "train_preset": r.train_preset, "data": source.root, "seed": r.seed,
              "cost_models": None if r.cost_models is None else str(
                  Path(r.cost_models).resolve()),
              "steps": r.steps, "splits": splits.describe()}
    if r.mn_norm_target != 1.0 or r.epochs is not None:  # (older run folders record neither)
        record.update(mn_norm_target=r.mn_norm_target, epochs=r.epochs)
    if r.cost_models is not None:  # checked before anything is written
        given = load_cost_models(r.cost_models, deploy)
        missing = [t for t in ts if t not in given]
        if missing:
            raise ValueError(f"no cost model for target(s) {', '.join(missing)} in "
                             f"{r.cost_models}")
    runs.check_run_dir(out, runs.REGENERATE, record)
    out.mkdir(exist_ok=True)
    runs.write_run(out, runs.REGENERATE, {"request": record})
    t0 = time.perf_counter()
    times: dict[str, float] = {}

    def stage(name: str) -> Callable[[], None]:
        start = time.perf_counter()
        r.echo(f"[regenerate] {name} ...")
        return lambda: times.__setitem__(name, round(time.perf_counter() - start, 1))

    done = stage("cost models")
    cm_dir = _cost_models(out, deploy, ts, r.cost_models, budget, r.cost_archs, r.seed,
                          r.progress)
    done()
    done = stage("search")
    search_request = SearchRequest(
        reward=r.reward, cost_models=cm_dir, data=source, out_dir=out / "search",
        space="multi_hardware", space_options={k: v for k, v in budget.space_options.items()
                                               if k in deploy.STRUCTURAL},
        preset=r.preset, overrides=overrides, mn_norm_target=r.mn_norm_target,
        strategy=r.strategy, seed=r.seed,
        limit_train=budget.search_limits[0], limit_held_out=budget.search_limits[1],
        progress=r.progress)
    prepare_search(search_request)
    run_search(search_request)
    done()
    result_path = out / "search" / "search_result.json"
    result = read_json(result_path, "search result")
    _check_stage_splits("search", splits, _search_splits(out / "search", result))
    converged = _check_converged(result, result_path, r)
    if r.stop_after == "search":
        return {"stopped_after": "search", "converged": converged,
                "search_seconds": (result.get("search") or {}).get("seconds"),
                "stage_seconds": times}
    done = stage("train")
    epochs = r.epochs if r.epochs is not None else budget.train_overrides.get(
        "epochs", get_preset(r.train_preset).epochs)
    trained = train(TrainRequest(
        str(result_path), source, out / "train", preset=r.train_preset,
        overrides={**budget.train_overrides, **split_sizes, "epochs": epochs},
        final_train=True, seed=r.seed,
        strategy=r.strategy, limit_train=budget.train_limits[0],
        limit_held_out=budget.train_limits[1], progress=r.progress, log_every=10))
    train_run = runs.read_run(out / "train", runs.TRAIN) or {}
    _check_stage_splits("retraining", splits,
                        ((train_run.get("request") or {}).get("data") or {}).get("splits"))
    done()
    done = stage("export")
    exported = _export(out, source, splits, budget)
    done()
    done = stage("bench")
    records = _bench(out, result_path, exported, ts, deploy, budget, r.progress)
    done()
    done = stage("report")
    summary = _report(out, result, trained.metrics, records, ts, deploy, budget, exported,
                      converged, splits)
    done()
    summary["epochs"] = epochs
    summary["stage_seconds"] = times
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_text(out / "report.json", json.dumps(summary, indent=1, default=str) + "\n")
    return summary


# ---------------------------------------------------------------------------- checks
class UnconvergedSearchError(ValueError):
    """The search ended unconverged and the run was not told to accept it (CLI: exit 2)."""


def _check_converged(result: dict[str, Any], path: Path, r: RegenerateRequest) -> bool:
    """The search's verdict; an unconverged search stops the chain unless accepted."""
    from mhzoo.search.tunas.convergence import warning  # numpy only

    verdict = result.get("convergence")
    if isinstance(verdict, dict) and verdict.get("converged") is True:
        return True
    if isinstance(verdict, dict) and "converged" in verdict:
        try:
            why = (warning(verdict) or "").removeprefix("warning: the search did not converge: ")
        except (KeyError, TypeError):
            why = "converged: false"
    else:
        why = "it records no convergence verdict"
    if not r.accept_unconverged:
        raise UnconvergedSearchError(
            f"the search ({path}) did not converge ({why}); regenerate stops before training: "
            "run a longer search (--steps) or pass --accept-unconverged to go on and record "
            "converged: false")
    r.echo(f"warning: the search did not converge ({why}); going on (--accept-unconverged), "
           "the report records converged: false")
    return False


def _search_splits(folder: Path, result: dict[str, Any]) -> dict[str, Any] | None:
    """The splits the search recorded (search_result.json or its run.json), if any."""
    run = runs.read_run(folder, runs.SEARCH) or {}
    req = run.get("request") if isinstance(run.get("request"), dict) else {}
    for d in (result.get("splits"), req.get("splits"), (req.get("data") or {}).get("splits")
              if isinstance(req.get("data"), dict) else None):
        if isinstance(d, dict) and d.get("rule") == RULE:
            return d
    return None


def _check_stage_splits(stage: str, splits: Splits, recorded: dict[str, Any] | None) -> None:
    """A stage that recorded its splits must have used regenerate's (one-line error)."""
    if recorded is None:
        return
    mine = splits.describe()
    for key in ("num_examples", "seed", "test", "test_sha256"):
        if recorded.get(key) != mine[key]:
            raise ValueError(f"the {stage} used other splits than regenerate's ({key} "
                             f"{recorded.get(key)!r}, expected {mine[key]!r}): its test images "
                             "would not be the report's")


# ---------------------------------------------------------------------------- stages
def _cost_models(out: Path, deploy: Any, targets: list[str], given: Any, budget: Budget,
                 cost_archs: int | None, seed: int, progress: bool) -> Path:
    """DIR/costmodels: given models copied (and the reference measured if missing), or
    architectures collected into DIR/latency.sqlite and fitted."""
    final = out / "costmodels"
    if (final / REFERENCE_FILE).is_file():
        return final
    size = int(deploy.options["input_size"])
    store = out / "latency.sqlite"
    with atomic_dir(final) as tmp:
        if given is not None:
            models = load_cost_models(given, deploy)
            for t in targets:
                models[t].save(tmp / f"{t}.json")
            ref = read_reference(given)
            factors = None if ref is None else {t: ref["factors_ms"][t] for t in targets
                                                if t in ref["factors_ms"]}
        else:  # measured targets: collected and fitted; simulated ones: exact from tables
            measured = [t for t in targets if not get_target(t).is_simulated]
            if measured:
                n = cost_archs or budget.cost_archs
                cfg = RunConfig(**budget.bench_config) if budget is TINY else FAST_CONFIG
                collect(deploy, sample_genotypes(deploy, n, seed), measured, store,
                        writer="direct", config=cfg, progress=progress)
                rows = store_dataset(store, deploy, measured)
                gs = [Genotype.from_string(r["genotype"]) for r in rows]
                for t in measured:
                    y = [r[f"{t}_ms"] for r in rows]
                    m = LinearCostModel.fit(deploy, gs, y, t, machine="local")
                    m.info["data"] = {"source": str(store), "rows": len(y)}
                    m.save(tmp / f"{t}.json")
            for t in targets:
                if t not in measured:
                    simulated_cost_model(deploy, t).save(tmp / f"{t}.json")
            factors = None
        if factors is None or len(factors) != len(targets):
            factors = reference_factors(targets, store, input_size=size)
        write_reference(tmp, factors, reference=f"{REFERENCE}@1.0", input_size=size,
                        machine=machine_id())
    return final


def _calibration_images(source: Any, splits: Splits, budget: Budget, size: int) -> Any:
    """int8 calibration images from the training split (never the test split)."""
    src, mask = data_lib.split_source(source, splits, "train")
    ds = data_lib.make_dataset(src, mask=mask, training=False, batch_size=8, image_size=size,
                               augmentation="small", limit=budget.calibration_images)
    images = [x.numpy() for x, _ in ds]
    return np.concatenate(images)[:budget.calibration_images]


def _export(out: Path, source: Any, splits: Splits, budget: Budget) -> dict[str, Path]:
    """DIR/export: float32 and integer-only int8 .tflite of the trained model."""
    folder = out / "export"
    files = {"cpu_fp32": folder / "model_float32.tflite",
             "cpu_int8": folder / "model_int8.tflite"}
    if all(f.is_file() for f in files.values()):
        return files
    folder.mkdir(exist_ok=True)
    ckpt = out / "train" / "model"
    cfg = read_json(ckpt / "config.json", "checkpoint config")
    size = int((cfg.get("pretrained_cfg") or {}).get("input_size", [224])[0])
    model = build(ArchSpec.from_dict(cfg["spec"]), 1.0, weights=str(ckpt),
                  input_shape=(size, size, 3))
    labels = [ln for ln in (ckpt / "labels.txt").read_text().splitlines()] if (
        ckpt / "labels.txt").is_file() else None
    if not files["cpu_fp32"].is_file():
        to_tflite(model, files["cpu_fp32"], "float32", labels=labels, force=True,
                  fidelity_images=4)
    if not files["cpu_int8"].is_file():
        images = _calibration_images(source, splits, budget, size)
        to_tflite(model, files["cpu_int8"], "int8_full", representative_data=images,
                  calibration_steps=len(images), labels=labels, force=True, fidelity_images=4)
    return files


def _bench(out: Path, result_path: Path, exported: dict[str, Path], targets: list[str],
           deploy: Any, budget: Budget, progress: bool) -> list[Any]:
    """DIR/bench.sqlite: the searched spec and the zoo's models at the deployment size, and
    the exported files on their own target."""
    size = int(deploy.options["input_size"])
    cfg = RunConfig(**budget.bench_config)
    models = [str(result_path)] + [m for m in budget.baselines if m != REFERENCE] + [
        f"{REFERENCE}@1.0"]
    with LatencyStore(out / "bench.sqlite") as store:
        bench(models, targets, db=store, config=cfg, input_size=size,
              workdir=out / "bench_models", progress=progress)
        for t, f in exported.items():
            if t in targets:
                bench([str(f)], [t], db=store, config=cfg, progress=progress)
        return store.records(machine=machine_id())


def _report(out: Path, result: dict[str, Any], train_metrics: dict[str, Any],
            records: list[Any], targets: list[str], deploy: Any, budget: Budget,
            exported: dict[str, Path], converged: bool, splits: Splits) -> dict[str, Any]:

    size = int(deploy.options["input_size"])
    found = parse_model_ref(str(out / "search" / "search_result.json"))
    rows = [(found.name, 1.0)] + [(m, 1.0) for m in budget.baselines if m != REFERENCE] + [
        (REFERENCE, 1.0)]
    table = table_from_records(records, targets, models=rows, input_size=size)
    report = build_report(table, reference=f"{REFERENCE}@1.0")
    mine = next(r for r in report.rows if r.model == found.name)
    pred = result.get("predicted", {})
    mode = str(result.get("reward", {}).get("name", ""))
    summary: dict[str, Any] = {
        "searched": found.name, "genotype": result.get("genotype_string"),
        "reward": mode, "input_size": size, "targets": targets,
        "predicted": pred,
        "measured": {"latency_ms": mine.latency_ms, "mn_norm_avg": mine.mn_norm_avg,
                     "mn_norm_max": mine.mn_norm_max},
        "test_top1": train_metrics.get("test_top1"),
        "test_top5": train_metrics.get("test_top5"),
        "test_images": train_metrics.get("test_images"),
        "converged": converged, "splits": splits.describe(),
        "mn_norm_target": float(result.get("reward", {}).get("mn_norm_target", 1.0)),
        "exported": {t: str(p) for t, p in exported.items()},
    }
    summary["exported_latency_ms"] = {
        t: next((r.median_ms for r in records if r.model == p.stem and r.target == t), None)
        for t, p in exported.items() if t in targets}
    for k in ("mn_norm_avg", "mn_norm_max"):
        if pred.get(k) and getattr(mine, k):
            summary[f"{k}_measured_over_predicted"] = round(getattr(mine, k) / pred[k], 4)
    paper, printed = paper_dataset("paper-pixel4")
    summary["paper_pixel4"] = {r.label: {"mn_norm_avg": printed[r.label][0],
                                         "mn_norm_max": printed[r.label][1],
                                         "top1_pct": r.top1_accuracy_pct}
                               for r in paper.rows if r.model in NAMED_REWARDS}
    report.notes.append(f"searched: {found.name} ({mode} reward), test top-1 of the "
                        f"retrained proxy {summary['test_top1']} ({summary['test_images']} test "
                        f"images no stage before it read); MN-Norm target "
                        f"{summary['mn_norm_target']:g}, predicted MN-Norm avg "
                        f"{pred.get('mn_norm_avg')}, max {pred.get('mn_norm_max')}")
    if not converged:
        report.notes.append("the search did NOT converge (accepted with --accept-unconverged): "
                            "the searched architecture is not the controller's settled choice")
    report.notes.append("paper (Pixel 4, Table 1): " + "; ".join(
        f"{k} avg {v['mn_norm_avg']} max {v['mn_norm_max']} top-1 {v['top1_pct']}%"
        for k, v in summary["paper_pixel4"].items()))
    title = f"mhzoo regenerate ({mode}) on this machine, input {size}"
    for fmt in ("md", "csv"):
        atomic_write_text(out / f"report.{fmt}", render(report, fmt, title=title))
    summary["table"] = json.loads(render(report, "json"))
    return summary
