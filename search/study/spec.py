"""What a study is: :class:`StudySpec` (plain data, recorded in ``study.json``), the presets of
Study A (``multi_hardware`` space, this machine's measured and simulated targets) and Study B
(``fbnet`` space, the seven real devices of ``fbnet-latency``), each at full and ``tiny`` size,
and the rule that picks the single-hardware searches (:func:`most_disagreeing`).

Pure Python; no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DISAGREEMENT_FILE", "FBNET_DEVICES", "STUDIES", "StudySpec", "most_disagreeing",
           "repo_root", "shared_data", "study_spec"]

#: the HELP / HW-NAS-Bench devices of ../shared/data/fbnet-latency (column ``<device>_ms``)
FBNET_DEVICES = ("pixel3", "raspi4", "eyeriss", "fpga", "samsung_a50", "1080ti_1", "gold_6226")
#: the committed Spearman matrix of the local targets (benchmarks/perf/target_disagreement.py)
DISAGREEMENT_FILE = Path("benchmarks/perf/results/target_disagreement.json")


def repo_root() -> Path:
    """The repository root (the folder holding ``benchmarks/`` and ``search/``)."""
    return Path(__file__).resolve().parents[2]


def shared_data() -> Path:
    """``$MHZOO_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("MHZOO_SHARED_DATA")
    return Path(env) if env else repo_root().parent / "shared" / "data"


@dataclass(frozen=True)
class StudySpec:
    """Everything that fixes a study besides its output folder and data.

    Attributes:
        name: ``"A"`` or ``"B"``.
        tiny: the few-minutes version (tests).
        space, space_options: the search space and its deployment options (structural ones
            must match the cost models').
        cost_models: Study A: folders of committed linear cost models (targets = every target
            with a model there); Study B: the fbnet latency CSV the per-device models are
            fitted on.
        targets: the targets (A: ``None`` = every target of ``cost_models``; B: the devices).
        fit_rows: Study B: rows of the CSV the cost models are fitted on (the rest score them).
        cost_archs: tiny Study A: architectures collected here to fit the measured targets'
            models for the tiny space (0: use ``cost_models``).
        n_single: single-hardware (eq. 6) searches, chosen by :func:`most_disagreeing`.
        left_out: Study B: left-out device pairs of the Figure-6 generalisation (searches over
            the other five).
        left_out_rewards: the rewards of those searches (``"avg"`` eq. 7, ``"max"`` eq. 8).
        n_random: random architectures at matched MN-Norm.
        random_tolerance: their predicted MN-Norm (avg and max) within this relative band of
            a searched model's.
        baselines: zoo models trained and measured beside the searched ones (Study A).
        search_preset, search_overrides: TuNAS preset and the fields this study changes.
        search_proxy: the supernet's decoding (space options), replacing the preset's whole
            (``{}``: the deployment decoding itself); ``None`` keeps the preset's.
        search_limits: ``(limit_train, limit_held_out)`` of the searches (tiny only).
        train_preset, train_overrides, train_width: the ONE recipe every model is trained
            with (width multiplier of the trained proxy; ``None`` = the model's own).
        train_space_options: the decoding every searched / random genotype is trained at
            (space options changed from the deployment decoding, e.g. ``stem_stride``; the
            latency is always the deployment decoding's).
        train_limits: ``(limit_train, limit_held_out)`` of the trainings (tiny only).
        seeds_within: a second seed for the models within this many accuracy points of
            another compared model (searched and baselines; the random ones are a band).
        max_second_seeds: at most this many second-seed trainings (``None``: all).
        passes: timing passes of every measured (architecture, target) (``search collect
            --passes``); simulated targets are simulated once.
        bench_config: timing budget of one pass (``RunConfig`` fields; ``None``: the
            collection's ``FAST_CONFIG``).
        deploy_size: input size the latency is measured / simulated at.
        mn_norm_target: the MN-Norm target of eq. 7 / eq. 8 and, times ``C_T``, the latency
            target of every eq. 6 search (the paper: 1); ``"pN"``: the N-th percentile of the
            predicted MN-Norm max of 5,000 seeded random architectures of the space (fixed by
            the plan stage, recorded in plan.json), a target inside the reachable region.
        regenerate_max: run the eq. 8 search as ``mhzoo regenerate multi_max`` on the study's
            targets and cost models (DIR/regenerate_multi_max: search, its own retraining,
            export, benchmark and report); its search is the study's ``max`` search.
    """

    name: str
    tiny: bool = False
    space: str = "multi_hardware"
    space_options: Mapping[str, Any] = field(default_factory=dict)
    cost_models: tuple[str, ...] = ()
    targets: tuple[str, ...] | None = None
    fit_rows: int = 1000
    cost_archs: int = 0
    n_single: int = 3
    left_out: tuple[tuple[str, str], ...] = ()
    left_out_rewards: tuple[str, ...] = ("max",)
    n_random: int = 5
    random_tolerance: float = 0.05
    baselines: tuple[str, ...] = ()
    search_preset: str = "cpu-proxy"
    search_overrides: Mapping[str, Any] = field(default_factory=dict)
    search_proxy: Mapping[str, Any] | None = None
    search_limits: tuple[int | None, int | None] = (None, None)
    train_preset: str = "cifar10-proxy"
    train_overrides: Mapping[str, Any] = field(default_factory=dict)
    train_width: float | None = None
    train_space_options: Mapping[str, Any] = field(default_factory=dict)
    train_limits: tuple[int | None, int | None] = (None, None)
    seeds_within: float = 2.0
    max_second_seeds: int | None = None
    passes: int = 3
    bench_config: Mapping[str, Any] | None = None
    deploy_size: int = 224
    mn_norm_target: float | str = 1.0
    regenerate_max: bool = False

    def __post_init__(self) -> None:
        if self.name not in ("A", "B"):
            raise ValueError(f"unknown study {self.name!r}; expected A or B")
        if self.regenerate_max and self.space != "multi_hardware":
            raise ValueError("regenerate_max runs `mhzoo regenerate multi_max`, a "
                             f"multi_hardware search; this study's space is {self.space!r}")
        t = self.mn_norm_target
        if isinstance(t, str):
            if percentile_of(t) is None:
                raise ValueError(f"mn_norm_target must be a number > 0 or 'pN' (0 < N < 100), "
                                 f"got {t!r}")
        elif isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
            raise ValueError(f"mn_norm_target must be a number > 0 or 'pN', got {t!r}")
        for label, v, lo in (("n_single", self.n_single, 1), ("n_random", self.n_random, 1),
                             ("passes", self.passes, 1), ("fit_rows", self.fit_rows, 10)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{label} must be an integer >= {lo}, got {v!r}")
        if not 0 < self.random_tolerance < 1:
            raise ValueError(f"random_tolerance must be in (0, 1), got {self.random_tolerance}")

    def replace(self, **changes: Any) -> StudySpec:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (what ``study.json`` records and a resume must match)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))


def percentile_of(target: float | str) -> float | None:
    """N of a ``"pN"`` MN-Norm target (``None`` for a number or a malformed string)."""
    if not isinstance(target, str) or not target.startswith("p"):
        return None
    try:
        n = float(target[1:])
    except ValueError:
        return None
    return n if 0 < n < 100 else None


def _study_a(tiny: bool) -> StudySpec:
    folders = ("benchmarks/data/costmodels", "benchmarks/data/costmodels/simulated")
    if not tiny:
        # sizes from benchmarks/perf/results/study_plan.md: the cpu-proxy preset's searches as
        # they are (T 1,800 x K 8, beta -0.3: the setting that converged in issue 18, 20.5 min),
        # every search aimed at the 10th percentile of the space's MN-Norm max under the
        # study's targets (MN-Norm 1 lies in the tail), 2 epochs at width 0.5 for every model,
        # 3 timing passes
        return StudySpec(
            name="A", cost_models=folders, n_single=3, n_random=5,
            baselines=("mobilenet_v2", "mobilenet_v3_large_minimalistic", "multi_avg",
                       "multi_max"),
            train_overrides={"epochs": 2}, train_width=0.5, max_second_seeds=4, passes=3,
            mn_norm_target="p10", regenerate_max=True)
    return StudySpec(
        name="A", tiny=True, cost_models=folders,
        targets=("cpu_fp32", "cpu_int8", "sim_edgetpu", "sim_npu"),
        space_options={"input_size": 32, "width": 0.25, "max_layers": 1}, cost_archs=12,
        n_single=2, n_random=2, random_tolerance=0.5,
        baselines=("mobilenet_v2", "multi_max"),
        search_overrides={"steps": 4, "global_batch": 8, "rl_batch_multiplier": 2,
                          "samples_per_step": 2, "checkpoint_every": 2, "log_every": 1,
                          "proxy": {"stem_stride": 1, "width": 0.25},
                          "shared": {"test": 100, "search_valid": 100}},
        search_limits=(32, 16), train_overrides={"epochs": 1, "global_batch": 16},
        train_width=0.25, train_limits=(64, 32), max_second_seeds=1, passes=2,
        bench_config={"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 3,
                      "min_time_s": 0.0, "max_time_s": 0.3},
        deploy_size=32, mn_norm_target="p10", regenerate_max=True)


def _study_b(tiny: bool) -> StudySpec:
    csv = "fbnet-latency/fbnet_cifar100_latency.csv"  # under the shared data folder
    # the fbnet space is native 32 px; the supernet and every trained model use its decoding
    # with a stride-2 stem (16 px inside: ~4x fewer MAdds), the latency is the native one's
    # (stride_plan "model": the trained spec's own strides; the cifar10-proxy preset's proxy32
    # would set the stem back to stride 1)
    proxy = {"stem_stride": 2}
    if not tiny:
        return StudySpec(
            name="B", space="fbnet", cost_models=(csv,), targets=FBNET_DEVICES, n_single=3,
            # the first pair holds two of the rule's single-hardware devices (1080ti_1,
            # gold_6226, pixel3 on the CSV), so the 5-device results meet those singles on their
            # own devices; the second leaves out 1080ti_1, the device unlike all others
            # (Spearman 0.21-0.26 to each)
            left_out=(("pixel3", "gold_6226"), ("1080ti_1", "samsung_a50")),
            # T 1,200 (not the plan's 600): a T 600 run's fbnet supernet stayed at chance
            # (accuracy 0.099 over 64 x 8 images at step 430, loss 2.31 = ln 10), while
            # Study A's multi_hardware supernet first rose above chance near step 600 of 1,800
            left_out_rewards=("max",), n_random=5, search_overrides={"steps": 1200},
            search_proxy=proxy, train_overrides={"epochs": 1, "stride_plan": "model"},
            # every close pair gets its second seeds (None): a 1-epoch training takes ~5 min
            # on one core (session 6), the 2 of the plan were sized for 10-min trainings
            train_space_options=proxy, max_second_seeds=None, passes=1, deploy_size=32)
    return StudySpec(
        name="B", tiny=True, space="fbnet", cost_models=(csv,), targets=FBNET_DEVICES,
        n_single=1, left_out=(("pixel3", "gold_6226"),), left_out_rewards=("max",),
        n_random=2, random_tolerance=0.5, search_proxy=proxy,
        search_overrides={"steps": 2, "global_batch": 4, "rl_batch_multiplier": 1,
                          "samples_per_step": 2, "checkpoint_every": 1, "log_every": 1,
                          "shared": {"test": 100, "search_valid": 100}},
        search_limits=(8, 8), train_overrides={"epochs": 1, "global_batch": 8,
                                               "stride_plan": "model"},
        train_space_options=proxy, train_limits=(16, 16), max_second_seeds=0, passes=1,
        deploy_size=32)


STUDIES = ("A", "B")


def study_spec(name: str, *, tiny: bool = False) -> StudySpec:
    """The preset of study ``name`` (``"A"`` or ``"B"``), full or tiny."""
    key = str(name).upper()
    if key == "A":
        return _study_a(tiny)
    if key == "B":
        return _study_b(tiny)
    raise ValueError(f"unknown study {name!r}; expected A or B")


def most_disagreeing(spearman: Mapping[str, float], candidates: Sequence[str], n: int
                     ) -> tuple[list[str], dict[str, Any]]:
    """The ``n`` candidates that disagree most, by a greedy max-min rule on the Spearman matrix
    (``{"a|b": rho}``): first the pair with the lowest rho, then repeatedly the candidate whose
    highest rho to the chosen ones is lowest (ties: name order). Returns the choice and the
    rule's record (every step's value)."""
    cands = sorted(set(candidates))
    if n < 1 or n > len(cands):
        raise ValueError(f"cannot choose {n} of {len(cands)} targets ({', '.join(cands)})")

    def rho(a: str, b: str) -> float:
        for k in (f"{a}|{b}", f"{b}|{a}"):
            if k in spearman:
                return float(spearman[k])
        raise ValueError(f"the Spearman matrix has no pair {a}|{b}")

    steps: list[dict[str, Any]] = []
    if n == 1 or len(cands) == 1:
        # one target: the one whose mean rho to the others is lowest
        means = {c: sum(rho(c, o) for o in cands if o != c) / max(1, len(cands) - 1)
                 for c in cands}
        pick = min(cands, key=lambda c: (means[c], c))
        return [pick], {"rule": "lowest mean Spearman rho to the other targets",
                        "mean_rho": means, "chosen": [pick]}
    pairs = sorted(((rho(a, b), a, b) for i, a in enumerate(cands) for b in cands[i + 1:]))
    r0, a0, b0 = pairs[0]
    chosen = [a0, b0]
    steps.append({"pair": [a0, b0], "rho": r0})
    while len(chosen) < n:
        rest = [c for c in cands if c not in chosen]
        worst = {c: max(rho(c, o) for o in chosen) for c in rest}
        pick = min(rest, key=lambda c: (worst[c], c))
        steps.append({"add": pick, "max_rho_to_chosen": worst[pick]})
        chosen.append(pick)
    return chosen, {"rule": "greedy max-min: the least-correlated pair, then the target whose "
                            "highest Spearman rho to the chosen ones is lowest",
                    "steps": steps, "chosen": chosen}
