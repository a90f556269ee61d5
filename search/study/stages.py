"""The stages of Study A and Study B (:func:`run_study`), each a call of a product entry point
(``SearchRequest`` / ``run_search``, ``TrainRequest`` / ``train``, ``measure_spec`` /
``collect``'s extra passes, ``reference_factors``, the cost-model fitting and folder code, the
MN-Norm functions), recorded in the folder's ledger (:mod:`.ledger`) and skipped when done.

Study folder::

    DIR/study.json              the ledger: request, and per stage start, end, seconds, outputs
    DIR/costmodels/             one linear model per target + reference_ms.json (MN-Norm C_i)
    DIR/plan.json               the single-hardware targets chosen by rule, and the rule's record
    DIR/search/<label>/         one `mhzoo search run` folder per search (avg, max, single_T,
                                Study B also avg_wo_X_Y / max_wo_X_Y over five devices)
    DIR/models/<name>.json      every trained model's genotype + deployment spec
    DIR/random.json             the random architectures at matched MN-Norm (seeded)
    DIR/train/<name>_s<seed>/   one `mhzoo train` folder per model and seed (ONE recipe)
    DIR/latency.sqlite          Study A: every model and the reference timed (multi-pass) on
                                the measured targets and simulated on the simulated ones
    DIR/latency.json            the latency table the report reads
    DIR/report/                 tables (md / csv / json), figures (PNG), the claims' verdicts

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mhzoo.atomic import atomic_dir, atomic_write_text
from mhzoo.search.study.ledger import Ledger
from mhzoo.search.study.spec import (
    DISAGREEMENT_FILE,
    StudySpec,
    most_disagreeing,
    percentile_of,
    repo_root,
    shared_data,
)

__all__ = ["StudyContext", "model_entries", "open_study", "run_study", "search_config",
           "train_model"]

REFERENCE = "mobilenet_v1"
#: the latency stage's row of the reference model (not a model of the study)
REFERENCE_ROW = "reference:mobilenet_v1"
REGENERATE_DIR = "regenerate_multi_max"


@dataclass
class StudyContext:
    """One study being run: its spec, folder, data and ledger."""

    spec: StudySpec
    out: Path
    source: Any
    ledger: Ledger
    echo: Callable[[str], None]
    progress: bool

    def path(self, *parts: str) -> Path:
        """A path inside the study folder."""
        return self.out.joinpath(*parts)


def _resolve(p: str) -> Path:
    """A spec path: absolute, else under the repository (cost-model folders) or the shared
    data folder (the fbnet CSV)."""
    q = Path(p)
    if q.is_absolute():
        return q
    if (repo_root() / q).exists():
        return repo_root() / q
    return shared_data() / q


def _deploy_space(spec: StudySpec) -> Any:
    from mhzoo.search.space import get_space

    return get_space(spec.space, **dict(spec.space_options))


def search_config(spec: StudySpec) -> Any:
    """The study's :class:`~mhzoo.search.tunas.config.SearchConfig`: the preset with the
    study's overrides, and its proxy decoding replaced by ``search_proxy`` when given."""
    import dataclasses

    from mhzoo.search.tunas.config import get_search_preset

    cfg = get_search_preset(spec.search_preset).replace(**dict(spec.search_overrides))
    if spec.search_proxy is not None:
        cfg = dataclasses.replace(cfg, proxy=dict(spec.search_proxy))
    return cfg


def _split_sizes(spec: StudySpec) -> dict[str, Any]:
    """The search preset's splits (sizes and seed): every training uses the same, so that no
    model's test images were seen by any search."""
    shared = search_config(spec).shared
    return {"test": shared.test, "search_valid": shared.search_valid,
            "split_seed": shared.split_seed}


def open_study(spec: StudySpec, out: str | os.PathLike, data: Any, *,
               echo: Callable[[str], None] = print, progress: bool = False) -> StudyContext:
    """The study in ``out`` (its ledger created, or opened when it holds this same study and
    data) as a :class:`StudyContext`; nothing run."""
    from mhzoo.search.training import data as data_lib

    source = data_lib.open_data(data)
    request = {"study": spec.to_dict(), "data": str(source.root),
               "num_examples": int(source.num_examples)}
    ledger = Ledger(out, request, echo=echo)
    return StudyContext(spec, Path(out), source, ledger, echo, progress)


def run_study(spec: StudySpec, out: str | os.PathLike, data: Any, *,
              echo: Callable[[str], None] = print, progress: bool = False) -> dict[str, Any]:
    """Run (or resume) a study into ``out``; returns the report summary.

    Every stage is skipped when the ledger says it finished and its outputs exist; rerunning
    the same call after any interruption (SIGKILL included) goes on from the first unfinished
    stage, which resumes from its own outputs.
    """
    ctx = open_study(spec, out, data, echo=echo, progress=progress)
    ledger = ctx.ledger
    ledger.note_interrupted()
    if spec.name == "A":
        _cost_models_a(ctx)
    else:
        _cost_models_b(ctx)
    plan = ledger.run("plan", lambda: _plan(ctx), ["plan.json"])
    for label, search in _searches(ctx, plan).items():
        if label == "max" and spec.regenerate_max:  # regenerate's search only, for now
            ledger.run("search/max", lambda s=search: _regenerate_max(ctx, s, "search"),
                       [f"{REGENERATE_DIR}/search/search_result.json"])
            continue
        ledger.run(f"search/{label}", lambda s=search, lb=label: _search(ctx, lb, s),
                   [f"search/{label}/search_result.json"])
    ledger.run("random", lambda: _random(ctx, plan), ["random.json"])
    entries = model_entries(ctx, plan)
    for e in entries:
        _train_stage(ctx, e, 0)
    second = ledger.run("seeds", lambda: _second_seeds(ctx, entries))
    for e in entries:
        if e["name"] in second:
            _train_stage(ctx, e, 1)
    ledger.run("latency", lambda: _latency(ctx, entries), ["latency.json"])
    if spec.regenerate_max:  # the rest of regenerate's chain (its search is done: skipped)
        search = _searches(ctx, plan)["max"]
        ledger.run("regenerate/multi_max", lambda: _regenerate_max(ctx, search, None),
                   [f"{REGENERATE_DIR}/report.json"])
    from mhzoo.search.study.report import write_report

    return ledger.run("report", lambda: write_report(ctx, plan, entries, second),
                      ["report/summary.json"])


# ---------------------------------------------------------------------------- cost models
def _cost_models_a(ctx: StudyContext) -> None:
    """DIR/costmodels of Study A: the committed models of the study's targets (tiny: fitted
    here for the tiny space, measured targets from a small collection, simulated ones
    compiled exactly), reference_ms.json from the folders and, for targets none of them has,
    MobileNetV1 timed here (multi-pass) into DIR/latency.sqlite."""
    spec = ctx.spec

    def build() -> dict[str, Any]:
        from mhzoo.benchmarks.runner import machine_id
        from mhzoo.benchmarks.targets import get_target
        from mhzoo.search.cost.folder import load_cost_models, read_reference, write_reference
        from mhzoo.search.latency.reference import reference_factors

        deploy = _deploy_space(spec)
        folders = [_resolve(f) for f in spec.cost_models]
        store = ctx.path("latency.sqlite")
        size = int(deploy.options.get("input_size") or 224)
        with atomic_dir(ctx.path("costmodels")) as tmp:
            if spec.cost_archs:
                targets = list(spec.targets or ())
                models = _fit_tiny(ctx, deploy, targets, store)
                factors: dict[str, float] = {}
            else:
                models = load_cost_models(folders, deploy)
                if spec.targets is not None:
                    missing = [t for t in spec.targets if t not in models]
                    if missing:
                        raise ValueError(f"no cost model for {', '.join(missing)} in "
                                         f"{', '.join(map(str, folders))}")
                    models = {t: models[t] for t in spec.targets}
                targets = list(models)
                factors = {}
                for f in folders:
                    ref = read_reference(f) or {"factors_ms": {}}
                    factors.update({t: float(v) for t, v in ref["factors_ms"].items()
                                    if t in models})
            for t, m in models.items():
                m.save(tmp / f"{t}.json")
            missing = [t for t in targets if t not in factors]
            if missing:
                factors.update(reference_factors(missing, store, input_size=size,
                                                 passes=spec.passes))
            write_reference(tmp, {t: factors[t] for t in targets},
                            reference=f"{REFERENCE}@1.0", input_size=size,
                            machine=machine_id())
        return {"targets": targets, "factors_ms": {t: factors[t] for t in targets},
                "simulated": [t for t in targets if get_target(t).is_simulated]}

    ctx.ledger.run("costmodels", build, ["costmodels/reference_ms.json"])


def _fit_tiny(ctx: StudyContext, deploy: Any, targets: list[str], store: Path) -> dict[str, Any]:
    """Cost models of the tiny space: measured targets fitted on a small collection, simulated
    targets compiled exactly from their layer tables."""
    from mhzoo.benchmarks.runner import RunConfig
    from mhzoo.benchmarks.targets import get_target
    from mhzoo.search.cost import LinearCostModel
    from mhzoo.search.cost.simulated import simulated_cost_model
    from mhzoo.search.latency.collection import collect, sample_genotypes
    from mhzoo.search.latency.shards import store_dataset
    from mhzoo.search.space import Genotype

    spec = ctx.spec
    measured = [t for t in targets if not get_target(t).is_simulated]
    models: dict[str, Any] = {}
    if measured:
        cfg = RunConfig(**spec.bench_config) if spec.bench_config else None
        collect(deploy, sample_genotypes(deploy, spec.cost_archs, 0), measured, store,
                writer="direct", config=cfg, progress=ctx.progress)
        rows = store_dataset(store, deploy, measured)
        gs = [Genotype.from_string(r["genotype"]) for r in rows]
        for t in measured:
            models[t] = LinearCostModel.fit(deploy, gs, [r[f"{t}_ms"] for r in rows], t,
                                            machine="local")
    for t in targets:
        if t not in models:
            models[t] = simulated_cost_model(deploy, t)
    return models


def _cost_models_b(ctx: StudyContext) -> None:
    """DIR/costmodels of Study B: a linear model per device fitted on the first ``fit_rows``
    rows of the fbnet latency CSV (scored on the rest), and as C_i each device's median
    latency over the CSV's architectures (there is no MobileNetV1 in the FBNet space)."""
    spec = ctx.spec

    def build() -> dict[str, Any]:
        from mhzoo.search.cost import LinearCostModel, load_dataset, quality
        from mhzoo.search.cost.folder import write_reference

        csv = _resolve(spec.cost_models[0])
        if not csv.is_file():
            raise ValueError(f"fbnet latency data not found: {csv} (set MHZOO_SHARED_DATA)")
        deploy = _deploy_space(spec)
        data = load_dataset(csv, deploy)
        fit, held = data.rows(f":{spec.fit_rows}"), data.rows(f"{spec.fit_rows}:")
        scores, factors = {}, {}
        with atomic_dir(ctx.path("costmodels")) as tmp:
            for t in spec.targets or ():
                m = LinearCostModel.fit(deploy, fit.genotypes, fit.y(t), t,
                                        machine="fbnet-latency")
                m.info["data"] = {"source": str(csv), "rows": f":{spec.fit_rows}"}
                m.save(tmp / f"{t}.json")
                scores[t] = quality(held.y(t), m.predict(held.genotypes))
                factors[t] = float(np.median(data.y(t)))
            write_reference(tmp, factors, reference="fbnet-latency median architecture",
                            input_size=int(deploy.options["input_size"]),
                            machine="fbnet-latency")
        return {"targets": list(spec.targets or ()), "factors_ms": factors,
                "simulated": [], "held_out_quality": scores,
                "factors_rule": "C_i = the device's median latency over the 5,000 fbnet-latency "
                                "architectures (MN-Norm 1 = a median architecture)"}

    ctx.ledger.run("costmodels", build, ["costmodels/reference_ms.json"])


# ---------------------------------------------------------------------------- plan
def _spearman_of_csv(ctx: StudyContext) -> dict[str, float]:
    from mhzoo.search.cost import load_dataset
    from mhzoo.search.cost.metrics import spearman_rho

    data = load_dataset(_resolve(ctx.spec.cost_models[0]), _deploy_space(ctx.spec))
    ts = list(ctx.spec.targets or ())
    return {f"{a}|{b}": float(spearman_rho(data.y(a), data.y(b)))
            for i, a in enumerate(ts) for b in ts[i + 1:]}


def _plan(ctx: StudyContext) -> dict[str, Any]:
    """The single-hardware targets (the ``n_single`` that disagree most) and the rule."""
    cm = ctx.ledger.value("costmodels")
    targets = cm["targets"]
    if ctx.spec.name == "A":
        path = repo_root() / DISAGREEMENT_FILE
        matrix = json.loads(path.read_text())["spearman"]
        source = str(DISAGREEMENT_FILE)
        known = {t for k in matrix for t in k.split("|")}
        cands = [t for t in targets if t in known]
    else:
        matrix, source, cands = _spearman_of_csv(ctx), "the fbnet latency CSV (all rows)", targets
    singles, record = most_disagreeing(matrix, cands, ctx.spec.n_single)
    plan = {"targets": targets, "singles": singles, "rule": record, "spearman": matrix,
            "spearman_source": source, "left_out": [list(p) for p in ctx.spec.left_out],
            **_mn_norm_target(ctx)}
    atomic_write_text(ctx.path("plan.json"), json.dumps(plan, indent=1) + "\n")
    return plan


RANDOM_FOR_TARGET = 5000


def _mn_norm_target(ctx: StudyContext) -> dict[str, Any]:
    """The plan's MN-Norm target: the spec's number, or its ``"pN"`` percentile of the
    predicted MN-Norm max of 5,000 seeded uniform samples of the space (2 decimals)."""
    t = ctx.spec.mn_norm_target
    q = percentile_of(t)
    if q is None:
        return {"mn_norm_target": float(t), "mn_norm_target_rule": "the study's number"}
    from mhzoo.search.cost.folder import load_cost_models

    deploy = _deploy_space(ctx.spec)
    cm = ctx.ledger.value("costmodels")
    models = load_cost_models(ctx.path("costmodels"), deploy)
    models = {k: models[k] for k in cm["targets"]}
    rng = random.Random(0)
    _, mx = _predict_mn(models, cm["factors_ms"],
                        [deploy.sample(rng) for _ in range(RANDOM_FOR_TARGET)])
    return {"mn_norm_target": round(float(np.percentile(mx, q)), 2),
            "mn_norm_target_rule": f"{t}: percentile {q:g} of the predicted MN-Norm max of "
                                   f"{RANDOM_FOR_TARGET} uniform samples (seed 0), 2 decimals"}


def _searches(ctx: StudyContext, plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{label: {"reward", "targets", "mn_norm_target"}}`` of every search of the study (one
    MN-Norm target for all; an eq. 6 search aims at that target times its ``C_T``)."""
    if "mn_norm_target" in plan:
        target = plan["mn_norm_target"]
    elif percentile_of(ctx.spec.mn_norm_target) is None:
        target = float(ctx.spec.mn_norm_target)
    else:
        raise ValueError("plan.json has no MN-Norm target (written by an older mhzoo); remove "
                         "it and its ledger entry to plan again")
    out: dict[str, dict[str, Any]] = {
        "avg": {"reward": "avg", "targets": plan["targets"]},
        "max": {"reward": "max", "targets": plan["targets"]}}
    for t in plan["singles"]:
        out[f"single_{t}"] = {"reward": f"single:{t}", "targets": plan["targets"]}
    for a, b in plan.get("left_out") or []:
        keep = [t for t in plan["targets"] if t not in (a, b)]
        for r in ctx.spec.left_out_rewards:
            out[f"{r}_wo_{a}_{b}"] = {"reward": r, "targets": keep, "left_out": [a, b]}
    for v in out.values():
        v["mn_norm_target"] = target
    return out


# ---------------------------------------------------------------------------- searches
def _search(ctx: StudyContext, label: str, s: dict[str, Any]) -> dict[str, Any]:
    """One TuNAS search (``SearchRequest`` / ``run_search``), resumed from its checkpoint."""
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.search.tunas.loop import SearchRequest, prepare_search, run_search

    spec = ctx.spec
    cm = ctx.path("costmodels")
    factors = ctx.ledger.value("costmodels")["factors_ms"]
    files = tuple(str(cm / f"{t}.json") for t in s["targets"])
    deploy = _deploy_space(spec)
    request = SearchRequest(
        reward=s["reward"], cost_models=files, data=ctx.source, out_dir=ctx.path("search", label),
        space=spec.space,
        space_options={k: v for k, v in spec.space_options.items() if k in deploy.STRUCTURAL},
        preset=search_config(spec),
        factors={t: factors[t] for t in s["targets"]}, mn_norm_target=s["mn_norm_target"],
        seed=0, limit_train=spec.search_limits[0], limit_held_out=spec.search_limits[1],
        progress=ctx.progress, plots=not spec.tiny)
    prepare_search(request)
    ctx.path("search").mkdir(exist_ok=True)
    import_tensorflow_quietly()
    # (no native_stderr_held here: it swaps stderr, and TensorFlow's logger, made inside it in
    # one stage, would write to the closed stream in the next)
    outcome = run_search(request)
    if not outcome.finished:
        raise RuntimeError(f"search {label} stopped at step {outcome.step}")
    return _search_value(ctx.path("search", label), s)


def _search_value(folder: Path, s: dict[str, Any]) -> dict[str, Any]:
    """A finished search's ledger value: its result, verdict and own clock (all its runs)."""
    res = json.loads((folder / "search_result.json").read_text())
    conv = res.get("convergence") or {}
    return {"genotype": res.get("genotype_string"), "predicted": res.get("predicted"),
            "converged": conv.get("converged"), "reward": s["reward"],
            "targets": s["targets"], "left_out": s.get("left_out"),
            "search_seconds": (res.get("search") or {}).get("seconds")}


def _regenerate_preset(spec: StudySpec) -> Any:
    """The search preset regenerate gets: the preset's name when the study runs it as it is
    (then the printed command is the run's own and resumes its folder), else its config."""
    from mhzoo.search.tunas.config import get_search_preset

    cfg = search_config(spec)
    return spec.search_preset if cfg == get_search_preset(spec.search_preset) else cfg


def regenerate_command(ctx: StudyContext, s: dict[str, Any]) -> str:
    """The ``mhzoo regenerate multi_max`` command line of the study's eq. 8 search and its
    chain (what :func:`_regenerate_max` runs through the Python API); when the study changes
    the preset's search settings it says so (the command then starts a like run, not this
    one)."""
    spec = ctx.spec
    epochs = dict(spec.train_overrides).get("epochs")
    preset = _regenerate_preset(spec)
    parts = ["mhzoo regenerate multi_max", f"--data {ctx.source.root}",
             f"--cost-models {ctx.path('costmodels')}", f"--targets {','.join(s['targets'])}",
             f"--mn-norm-target {float(s['mn_norm_target']):g}",
             f"--preset {spec.search_preset}", f"--train-preset {spec.train_preset}",
             "--seed 0"]
    if epochs is not None:
        parts.append(f"--epochs {float(epochs):g}")
    if spec.tiny:
        parts.append("--tiny")
    parts += ["--accept-unconverged", f"-o {ctx.path(REGENERATE_DIR)}"]
    cmd = " ".join(parts)
    if not isinstance(preset, str):
        changed = sorted(dict(spec.search_overrides)) + (
            ["proxy"] if spec.search_proxy is not None else [])
        cmd += (f"  # run through the Python API with the study's search settings "
                f"({', '.join(changed)} changed from {spec.search_preset}): this command "
                "starts a like run in a new folder")
    return cmd


def _regenerate_max(ctx: StudyContext, s: dict[str, Any], stop_after: str | None
                    ) -> dict[str, Any]:
    """The eq. 8 search as ``mhzoo regenerate multi_max`` on the study's targets and cost
    models: ``stop_after="search"`` runs its search only (stage ``search/max``); ``None`` the
    rest of its chain (retraining at the study's epochs, float / int8 export, benchmark,
    report; stage ``regenerate/multi_max``). An unconverged search goes on, recorded as such."""
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.search.regenerate import RegenerateRequest, regenerate

    spec = ctx.spec
    folder = ctx.path(REGENERATE_DIR)
    import_tensorflow_quietly()
    summary = regenerate(RegenerateRequest(
        folder, "max", str(ctx.source.root), cost_models=ctx.path("costmodels"),
        targets=tuple(s["targets"]), preset=_regenerate_preset(spec),
        train_preset=spec.train_preset, tiny=spec.tiny, mn_norm_target=s["mn_norm_target"],
        epochs=dict(spec.train_overrides).get("epochs"), accept_unconverged=True,
        stop_after=stop_after, progress=ctx.progress, echo=ctx.echo))
    if stop_after == "search":
        return {**_search_value(folder / "search", s), "folder": f"{REGENERATE_DIR}/search"}
    return {"command": regenerate_command(ctx, s), "folder": REGENERATE_DIR,
            "test_top1": summary.get("test_top1"), "test_images": summary.get("test_images"),
            "epochs": summary.get("epochs"), "mn_norm_target": summary.get("mn_norm_target"),
            "measured": summary.get("measured"), "predicted": summary.get("predicted"),
            "converged": summary.get("converged"), "stage_seconds": summary.get("stage_seconds"),
            "seconds": summary.get("seconds")}


# ---------------------------------------------------------------------------- random
def _predict_mn(models: dict[str, Any], factors: dict[str, float], genotypes: list[Any]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Predicted MN-Norm avg and max of ``genotypes`` (latency / C_i per target)."""
    ratios = np.stack([np.asarray(models[t].predict(genotypes)) / factors[t] for t in models])
    return ratios.mean(axis=0), ratios.max(axis=0)


def _random(ctx: StudyContext, plan: dict[str, Any]) -> dict[str, Any]:
    """``n_random`` uniform samples of the space (seeded) whose predicted MN-Norm avg and max
    are both within ``random_tolerance`` of a searched model's (the searched models taken in
    turn), recorded in DIR/random.json."""
    from mhzoo.search.cost.folder import load_cost_models
    from mhzoo.search.space import Genotype

    spec = ctx.spec
    deploy = _deploy_space(spec)
    models = load_cost_models(ctx.path("costmodels"), deploy)
    factors = ctx.ledger.value("costmodels")["factors_ms"]
    searched = [lb for lb in _searches(ctx, plan) if "_wo_" not in lb]
    gs = [Genotype.from_string(ctx.ledger.value(f"search/{lb}")["genotype"]) for lb in searched]
    s_avg, s_max = _predict_mn(models, factors, gs)
    rng = random.Random(1234)
    chosen: list[dict[str, Any]] = []
    tried = 0
    tol = spec.random_tolerance
    seen: set[str] = set()
    while len(chosen) < spec.n_random:
        i = len(chosen) % len(gs)
        batch = [deploy.sample(rng) for _ in range(2000)]
        tried += len(batch)
        avg, mx = _predict_mn(models, factors, batch)
        ok = np.flatnonzero((np.abs(avg / s_avg[i] - 1) <= tol) & (np.abs(mx / s_max[i] - 1)
                                                                    <= tol))
        for j in ok:
            g = batch[int(j)]
            if g.to_string() in seen:
                continue
            seen.add(g.to_string())
            chosen.append({"genotype": g.to_string(), "matched_to": searched[i],
                           "predicted_mn_norm_avg": float(avg[j]),
                           "predicted_mn_norm_max": float(mx[j])})
            break
        if tried > 400_000:
            raise ValueError(f"found only {len(chosen)} random architectures within "
                             f"{tol:.0%} of the searched models' MN-Norm in {tried} samples")
    rec = {"seed": 1234, "tolerance": tol, "sampled": tried, "archs": chosen,
           "searched_predicted": {lb: {"mn_norm_avg": float(a), "mn_norm_max": float(m)}
                                  for lb, a, m in zip(searched, s_avg, s_max, strict=True)}}
    atomic_write_text(ctx.path("random.json"), json.dumps(rec, indent=1) + "\n")
    return {"n": len(chosen), "sampled": tried}


# ---------------------------------------------------------------------------- models
def model_entries(ctx: StudyContext, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model the study trains and measures: ``{"name", "kind", "ref", "genotype"}`` with
    kind ``searched`` / ``generalisation`` / ``random`` / ``baseline``; ``ref`` is what
    ``mhzoo train`` and the measurement take (a genotype file of the deployment decoding or a
    zoo name). Writes the searched models' genotype files."""
    from mhzoo.search.space import Genotype, save_genotype

    ctx.path("models").mkdir(exist_ok=True)
    deploy = _deploy_space(ctx.spec)
    trained = deploy.variant(**ctx.spec.train_space_options) if ctx.spec.train_space_options \
        else deploy

    def save(g: str, f: Path) -> None:  # the training decoding (its spec travels in the file)
        if not f.is_file():
            save_genotype(trained.genotype(Genotype.from_string(g).indices), f)

    out: list[dict[str, Any]] = []
    for label in _searches(ctx, plan):
        g = ctx.ledger.value(f"search/{label}")["genotype"]
        f = ctx.path("models", f"{label}.json")
        save(g, f)
        out.append({"name": label, "kind": "generalisation" if "_wo_" in label else "searched",
                    "ref": str(f), "genotype": g})
    rnd = json.loads(ctx.path("random.json").read_text())
    for k, a in enumerate(rnd["archs"]):
        save(a["genotype"], ctx.path("models", f"random_{k}.json"))
        out.append({"name": f"random_{k}", "kind": "random",
                    "ref": str(ctx.path("models", f"random_{k}.json")), "genotype": a["genotype"],
                    "matched_to": a.get("matched_to")})
    for b in ctx.spec.baselines:
        g = None
        try:  # the published models are points of the multi_hardware space
            from mhzoo.builder import resolve_spec

            g = deploy.encode(resolve_spec(b)).to_string()
        except (ValueError, KeyError):
            g = None
        out.append({"name": b, "kind": "baseline", "ref": b, "genotype": g})
    return out


def train_model(ctx: StudyContext, entry: dict[str, Any], seed: int) -> dict[str, Any]:
    """``mhzoo train`` of one model and seed with the study's one recipe into
    ``DIR/train/NAME_sSEED`` (resumed from its checkpoint); returns the test metrics."""
    from mhzoo._quiet import import_tensorflow_quietly
    from mhzoo.search.training.loop import TrainRequest, train

    spec = ctx.spec
    run = f"{entry['name']}_s{seed}"
    ctx.path("train").mkdir(exist_ok=True)
    import_tensorflow_quietly()
    res = train(TrainRequest(
        entry["ref"], ctx.source, ctx.path("train", run), preset=spec.train_preset,
        overrides={**dict(spec.train_overrides), **_split_sizes(spec)},
        width=spec.train_width, final_train=True, seed=seed,
        limit_train=spec.train_limits[0], limit_held_out=spec.train_limits[1],
        progress=ctx.progress, log_every=10))
    if not res.finished:
        raise RuntimeError(f"training {run} stopped at step {res.step}")
    return {k: res.metrics.get(k) for k in ("test_top1", "test_top5", "test_images")}


def _train_stage(ctx: StudyContext, entry: dict[str, Any], seed: int) -> None:
    """Stage ``train/NAME_sSEED``: :func:`train_model` recorded in the ledger."""
    run = f"{entry['name']}_s{seed}"
    ctx.ledger.run(f"train/{run}", lambda: train_model(ctx, entry, seed),
                   [f"train/{run}/model"])


def _second_seeds(ctx: StudyContext, entries: list[dict[str, Any]]) -> list[str]:
    """The compared models (searched and baselines) within ``seeds_within`` points of another
    one at seed 0, closest pairs first, at most ``max_second_seeds`` (whole pairs only: a pair
    whose second seeds do not fit is left out rather than split)."""
    spec = ctx.spec
    acc = {e["name"]: 100 * float(ctx.ledger.value(f"train/{e['name']}_s0")["test_top1"])
           for e in entries if e["kind"] in ("searched", "baseline")}
    pairs = sorted((abs(acc[a] - acc[b]), a, b) for i, a in enumerate(sorted(acc))
                   for b in sorted(acc)[i + 1:] if abs(acc[a] - acc[b]) < spec.seeds_within)
    picked: list[str] = []
    for _, a, b in pairs:
        new = [n for n in (a, b) if n not in picked]
        if spec.max_second_seeds is None or len(picked) + len(new) <= spec.max_second_seeds:
            picked += new
    return picked


# ---------------------------------------------------------------------------- latency
def _latency(ctx: StudyContext, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """DIR/latency.json: every model's latency per target at the deployment decoding."""
    table = _latency_a(ctx, entries) if ctx.spec.name == "A" else _latency_b(ctx, entries)
    atomic_write_text(ctx.path("latency.json"), json.dumps(table, indent=1) + "\n")
    return {"models": len(table["latency_ms"])}


def _deploy_spec(ctx: StudyContext, entry: dict[str, Any]) -> Any:
    """The concrete spec whose latency is measured (the deployment decoding; a zoo model at
    width 1.0)."""
    from mhzoo.builder import resolve_spec
    from mhzoo.search.space import Genotype
    from mhzoo.widths import scale_spec

    if entry["genotype"] is not None:
        return _deploy_space(ctx.spec).decode(Genotype.from_string(entry["genotype"]))
    return scale_spec(resolve_spec(entry["ref"]), 1.0)


def _latency_a(ctx: StudyContext, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Every model timed on each measured target in ``passes`` interleaved passes (the
    collection's thread-CPU timer and direct writer; the row holds the median of the pass
    medians, as ``search collect --passes``) and simulated on each simulated target, stored
    in DIR/latency.sqlite (a rerun after an interruption finds the rows already there)."""
    from mhzoo.benchmarks import measure_spec
    from mhzoo.benchmarks.runner import RunConfig, machine_id
    from mhzoo.benchmarks.store import LatencyStore, arch_hash
    from mhzoo.benchmarks.targets import get_target
    from mhzoo.search.latency.collection import FAST_CONFIG, extra_pass
    from mhzoo.search.latency.cputime import measure_tflite_cpu_time

    spec = ctx.spec
    cm = ctx.ledger.value("costmodels")
    targets = [get_target(t) for t in cm["targets"]]
    cfg = RunConfig(**spec.bench_config) if spec.bench_config else FAST_CONFIG
    size, classes = spec.deploy_size, 1000
    specs = {e["name"]: _deploy_spec(ctx, e) for e in entries}
    # MobileNetV1 1.0 in the same interleaved passes: the MN-Norm of this stage's timings is
    # then a ratio measured side by side (the folder's C_i were timed on another day)
    specs[REFERENCE_ROW] = _deploy_spec(ctx, {"genotype": None, "ref": REFERENCE})
    mid = machine_id()
    lat: dict[str, dict[str, float]] = {n: {} for n in specs}
    passes: dict[str, dict[str, list[float]]] = {n: {} for n in specs}
    with LatencyStore(ctx.path("latency.sqlite")) as store:
        for p in range(1, spec.passes + 1):
            for name, s in specs.items():
                key = arch_hash(s, size, classes)
                for t in targets:
                    if p == 1:
                        rec = measure_spec(s, t, store, input_size=size, num_classes=classes,
                                           config=cfg, writer="direct", model=name,
                                           timer=measure_tflite_cpu_time,
                                           info={"clock": "cpu", "passes": 1}).record
                        if not t.is_simulated and not (rec.info or {}).get("pass_medians"):
                            rec.info["pass_medians"] = [float(rec.median_ms)]
                            store.put(rec, replace=True)
                    elif not t.is_simulated:
                        extra_pass(store, s, t, key, mid, p, size, classes, cfg, "direct",
                                   measure_tflite_cpu_time)
        for name, s in specs.items():
            key = arch_hash(s, size, classes)
            for t in targets:
                rec = store.get(key, 1.0, t.name, mid)
                v = rec.median_ms if rec.median_ms is not None else (rec.info or {}).get(
                    "simulated_ms")
                lat[name][t.name] = float(v)
                if not t.is_simulated:
                    passes[name][t.name] = list((rec.info or {}).get("pass_medians") or [])
    reference = lat.pop(REFERENCE_ROW)
    passes.pop(REFERENCE_ROW)
    return {"latency_ms": lat, "pass_medians": passes, "input_size": size,
            "factors_ms": cm["factors_ms"], "reference_ms": reference,
            "simulated": cm["simulated"], "machine": mid,
            "how": {t.name: "simulated (ZigZag layer tables)" if t.is_simulated else
                    f"measured, {spec.passes} passes, thread CPU time, direct writer"
                    for t in targets}}


def _latency_b(ctx: StudyContext, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Every model's latency on each device: the CSV's measured row when the architecture is
    one of its 5,000, else the device's cost model (exact for the lookup-table devices)."""
    from mhzoo.search.cost import load_dataset
    from mhzoo.search.cost.folder import load_cost_models
    from mhzoo.search.space import Genotype

    deploy = _deploy_space(ctx.spec)
    data = load_dataset(_resolve(ctx.spec.cost_models[0]), deploy)
    index = {g.to_string(): i for i, g in enumerate(data.genotypes)}
    models = load_cost_models(ctx.path("costmodels"), deploy)
    cm = ctx.ledger.value("costmodels")
    lat: dict[str, dict[str, float]] = {}
    how: dict[str, str] = {}
    for e in entries:
        g = Genotype.from_string(e["genotype"])
        i = index.get(g.to_string())
        lat[e["name"]] = {t: float(data.y(t)[i]) if i is not None else
                          float(models[t].predict([g])[0]) for t in cm["targets"]}
        how[e["name"]] = "fbnet-latency row (measured)" if i is not None else "cost model"
    return {"latency_ms": lat, "source": how, "input_size": ctx.spec.deploy_size,
            "factors_ms": cm["factors_ms"], "simulated": [], "machine": "fbnet-latency",
            "how": {t: "HELP / HW-NAS-Bench device data via its cost model"
                    for t in cm["targets"]}}
