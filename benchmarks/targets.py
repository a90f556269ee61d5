"""Benchmark targets as configuration data (``benchmarks/data/targets.json``).

A :class:`Target` is an export mode (``quant``) plus a runtime (``"litert"`` on this machine,
``"adb"`` on an Android phone, ``"sim"`` for a simulated accelerator whose latency comes from
ZigZag, see :mod:`mhzoo.benchmarks.simulated`), a thread count and a delegate. The built-in
list is data; more targets can be added with :func:`register_target` (or by passing a
``Target`` around directly).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

from mhzoo.export.quant import QUANT_MODES

__all__ = [
    "DELEGATES",
    "RUNTIMES",
    "TARGET_MODES",
    "Target",
    "get_target",
    "list_targets",
    "parse_targets",
    "register_target",
    "simulated_names",
]

RUNTIMES = ("litert", "adb", "sim")
DELEGATES = ("xnnpack", "none", "gpu", "hexagon", "nnapi", "zigzag")
#: export modes a target may ask for: mhzoo.export's quantization modes, less ``qat`` (which
#: fine-tunes weights; a latency target measures a post-training export)
TARGET_MODES = tuple(m for m in QUANT_MODES if m != "qat")


@dataclass(frozen=True)
class Target:
    """Where and how a model is timed.

    Attributes:
        name: identifier used on the command line and as CSV column prefix (``<name>_ms``).
        quant: export mode of the .tflite that runs there.
        runtime: ``"litert"`` (this machine, ``ai_edge_litert``), ``"adb"`` (Android phone,
            ``benchmark_model``) or ``"sim"`` (simulated accelerator, ZigZag; the target's
            definition is the folder ``benchmarks/simulated/targets/<name>/``).
        threads: interpreter threads (the paper's protocol: 1).
        delegate: ``"xnnpack"`` (LiteRT's default CPU path), ``"none"`` (built-in reference
            kernels), ``"gpu"``, ``"hexagon"`` or ``"nnapi"`` (phones), ``"zigzag"``
            (simulated targets).
        paper_column: the Table-1 column this target corresponds to, if any.
        description: one line for humans.
        accelerator: NNAPI accelerator to pin (``benchmark_model
            --nnapi_accelerator_name``), e.g. ``"google-edgetpu"``; ``None`` lets NNAPI choose.
    """

    name: str
    quant: str
    runtime: str = "litert"
    threads: int = 1
    delegate: str = "xnnpack"
    paper_column: str | None = None
    description: str = ""
    accelerator: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not self.name.replace(
                "_", "").isalnum():
            raise ValueError(f"target name must be letters, digits and '_', got {self.name!r}")
        if self.quant not in TARGET_MODES:
            raise ValueError(f"target {self.name}: unknown quant {self.quant!r}; "
                             f"expected one of {', '.join(TARGET_MODES)}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"target {self.name}: unknown runtime {self.runtime!r}; "
                             f"expected one of {', '.join(RUNTIMES)}")
        if self.delegate not in DELEGATES:
            raise ValueError(f"target {self.name}: unknown delegate {self.delegate!r}; "
                             f"expected one of {', '.join(DELEGATES)}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"target {self.name}: threads must be an integer >= 1, "
                             f"got {self.threads!r}")
        if self.accelerator is not None and (self.delegate != "nnapi" or not isinstance(
                self.accelerator, str) or not self.accelerator.strip()):
            raise ValueError(f"target {self.name}: accelerator {self.accelerator!r} needs "
                             "delegate 'nnapi' and a non-empty NNAPI device name")
        if self.runtime == "litert" and self.delegate not in ("xnnpack", "none"):
            raise ValueError(f"target {self.name}: delegate {self.delegate!r} needs a phone "
                             "(runtime 'adb')")
        if (self.runtime == "sim") != (self.delegate == "zigzag"):
            raise ValueError(f"target {self.name}: runtime 'sim' and delegate 'zigzag' go "
                             "together (a simulated accelerator)")

    @property
    def is_local(self) -> bool:
        """True when the target runs on this machine (LiteRT)."""
        return self.runtime == "litert"

    @property
    def is_simulated(self) -> bool:
        """True for a simulated accelerator (latency from ZigZag, not measured)."""
        return self.runtime == "sim"

    @property
    def label(self) -> str:
        """The name, with ``(simulated)`` for simulated targets: what reports print."""
        return f"{self.name} (simulated)" if self.is_simulated else self.name

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


def _load_builtin() -> dict[str, Target]:
    text = resources.files("mhzoo.benchmarks").joinpath("data/targets.json").read_text()
    data = json.loads(text)
    out: dict[str, Target] = {}
    for raw in data["targets"]:
        t = Target(**raw)
        out[t.name] = t
    return out


_TARGETS: dict[str, Target] = _load_builtin()


def register_target(target: Target, *, overwrite: bool = False) -> Target:
    """Add a target to the registry (``ValueError`` if the name exists and not ``overwrite``)."""
    if not isinstance(target, Target):
        raise ValueError(f"expected a Target, got {type(target).__name__}")
    if target.name in _TARGETS and not overwrite:
        raise ValueError(f"target {target.name!r} already exists")
    _TARGETS[target.name] = target
    return target


def list_targets(runtime: str | None = None) -> list[Target]:
    """Known targets, in definition order; ``runtime="litert"`` gives this machine's targets."""
    return [t for t in _TARGETS.values() if runtime is None or t.runtime == runtime]


def get_target(name: str | Target) -> Target:
    """A target by name; ``ValueError`` naming the known targets otherwise."""
    if isinstance(name, Target):
        return name
    if not isinstance(name, str):
        raise ValueError(f"target name must be a string, got {type(name).__name__}")
    t = _TARGETS.get(name.strip())
    if t is not None:
        return t
    close = difflib.get_close_matches(name, list(_TARGETS), n=2, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    if name.strip().startswith("sim_"):
        sims = [n for n, t in _TARGETS.items() if t.is_simulated]
        raise ValueError(f"unknown simulated target {name.strip()!r}{hint}; simulated targets: "
                         f"{', '.join(sims)}")
    raise ValueError(f"unknown target {name!r}{hint}; known targets: {', '.join(_TARGETS)}")


def simulated_names(targets: list[str] | tuple[str, ...]) -> list[str]:
    """The names among ``targets`` that are simulated targets (unknown names are skipped)."""
    return [n for n in targets if n in _TARGETS and _TARGETS[n].is_simulated]


def parse_targets(text: str | list[str] | tuple[str, ...]) -> list[Target]:
    """``"cpu_fp32,cpu_int8"`` (or a list of names) -> targets, in order, without repeats."""
    names = text.split(",") if isinstance(text, str) else list(text)
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise ValueError("no targets given; e.g. --targets cpu_fp32,cpu_int8")
    out: list[Target] = []
    for n in names:
        t = get_target(n)
        if t not in out:
            out.append(t)
    return out
