"""Per-hardware compatibility of a .tflite: which targets run every op, which ops fall back.

The rules are data (``export/rules/<target>.json``), each citing its sources: required tensor
types and static shapes, the supported operators (with highest accepted versions where the
source states them), unsupported graph patterns (squeeze-and-excite gates on EdgeTPU) and soft
preferences reported as warnings (the paper's Hexagon preferences: kernels <= 5, filters a
multiple of 32). ``fully_supported`` is the S_i of eq. 1 in the paper.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from mhzoo.export.inventory import ModelInventory

__all__ = ["TARGETS", "CompatReport", "TargetResult", "check_compatibility", "load_rules"]

TARGETS = ("edgetpu", "gpu", "hexagon", "nnapi")
#: what the graph patterns of the inventory (``ModelInventory.patterns``) are, in words
PATTERN_LABELS = {"SE_GATE": "squeeze-excite gate (MUL by per-channel sigmoid)"}


@dataclass
class TargetResult:
    """The verdict for one target."""

    target: str
    title: str
    fully_supported: bool
    fallback_ops: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.fully_supported:
            head = "fully supported"
        else:
            ops = ", ".join(f"{o['op']} v{o['version']} x{o['count']}" for o in self.fallback_ops)
            parts = ([f"falls back: {ops}"] if ops else []) + self.problems
            head = "NOT fully supported (" + "; ".join(parts) + ")"
        if self.warnings:
            head += f" [{len(self.warnings)} warning(s)]"
        return head


@dataclass
class CompatReport:
    """Verdicts for every target."""

    targets: dict[str, TargetResult]

    @property
    def fully_supported(self) -> dict[str, bool]:
        return {k: v.fully_supported for k, v in self.targets.items()}

    def to_dict(self) -> dict[str, Any]:
        return {k: asdict(v) for k, v in self.targets.items()}

    def format(self) -> str:
        lines = []
        for t in self.targets.values():
            lines.append(f"  {t.target:8s} {t.summary()}")
            lines.extend(f"           warning: {w}" for w in t.warnings[:5])
            if len(t.warnings) > 5:
                lines.append(f"           ... {len(t.warnings) - 5} more warning(s)")
        return "\n".join(lines)


@cache
def load_rules(target: str) -> dict[str, Any]:
    """The rule data of ``target`` (one of :data:`TARGETS`)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    text = resources.files("mhzoo.export").joinpath("rules", f"{target}.json").read_text()
    return json.loads(text)


def _check(inv: ModelInventory, rules: dict[str, Any]) -> TargetResult:
    req = rules.get("requires", {})
    res = TargetResult(rules["target"], rules["title"], True,
                       sources=[s["url"] for s in rules.get("sources", [])])
    supported = rules["ops"]
    for op in inv.ops:
        spec = supported.get(op.name)
        reason = None
        if spec is None:
            reason = "operator not supported"
        elif spec.get("max_version") is not None and op.version > spec["max_version"]:
            reason = f"version {op.version} > {spec['max_version']}"
        if reason:
            res.fallback_ops.append({"op": op.name, "version": op.version, "count": op.count,
                                     "reason": reason})
    for pattern, reason in rules.get("patterns", {}).items():
        n = inv.patterns.get(pattern, 0)
        if n:  # a graph pattern, not a TFLite operator: reported as a problem
            label = PATTERN_LABELS.get(pattern, pattern)
            res.problems.append(f"{label} x{n}: {reason}")
    if req.get("integer_only") and not inv.integer_only:
        res.problems.append("needs a fully integer (int8/uint8) model; float ops: "
                            + ", ".join(inv.float_ops))
    if req.get("static_shapes") and not inv.static_shapes:
        res.problems.append(f"dynamic tensor shapes ({len(inv.dynamic_tensors)} tensors, e.g. "
                            f"{inv.dynamic_tensors[0]}); export with batch size 1")
    if req.get("max_leading_dim") is not None and inv.max_leading_dim > req["max_leading_dim"]:
        res.problems.append(f"4-D tensors with a leading dimension of {inv.max_leading_dim}; "
                            "only the 3 innermost dimensions may exceed 1")
    if req.get("max_conv_stride") is not None:
        bad = [c for c in inv.convs if max(c.stride) > req["max_conv_stride"]]
        if bad:
            res.problems.append(f"{len(bad)} convolution(s) with stride > "
                                f"{req['max_conv_stride']}")
    prefs = rules.get("preferences", {})
    for c in inv.convs:
        if "preprocessing" in c.output:  # the input normalization (QAT), not a network layer
            continue
        k = max(c.kernel)
        if prefs.get("max_kernel") and k > prefs["max_kernel"]:
            res.warnings.append(f"{c.op} {c.output}: {c.kernel[0]}x{c.kernel[1]} kernel "
                                f"(prefers <= {prefs['max_kernel']})")
        m = prefs.get("filters_multiple_of")
        if m and c.filters % m:
            res.warnings.append(f"{c.op} {c.output}: {c.filters} filters (prefers a multiple "
                                f"of {m})")
    res.fully_supported = not res.fallback_ops and not res.problems
    return res


def check_compatibility(inv: ModelInventory, targets: tuple[str, ...] = TARGETS
                        ) -> CompatReport:
    """Check a model inventory (see :func:`mhzoo.export.inventory.inventory`) per target."""
    return CompatReport({t: _check(inv, load_rules(t)) for t in targets})
