"""Per-hardware compatibility of a .tflite: which rule sets run every op, which ops fall back.

The rules are data (``export/rules/<rule set>.json``), checked against the delegates' own
sources (LiteRT ``nnapi_delegate.cc``, ``hexagon/utils.cc``, ``gpu/common/model_builder.cc``,
``gpu_compatibility.cc``, the Coral Edge TPU table). Every entry names its source; facts that
could not be checked against one carry ``"unverified"``. Per operator a rule set gives the
highest accepted version (``max_version``), the lowest Android API level (``min_api``, NNAPI),
the lowest Edge TPU runtime (``min_runtime``) and ``conditions``: predicates from the closed
vocabulary :data:`CONDITION_KINDS`, evaluated on each operator instance of the inventory. An
unknown condition kind, option name or key is an error when the rules load, and limitations
that cannot be checked from a .tflite are listed as ``unchecked`` in every report that meets
the op, so nothing written in a rule file is silently ignored.

NNAPI is checked per Android API level (default the newest; :attr:`RuleSetResult.fallback_by_api`
lists what falls back on each older level). The Edge TPU compiler builds one Edge TPU subgraph:
everything from the first unsupported operator on runs on the CPU, which
:attr:`RuleSetResult.cpu_share` reports as a share of operators and of multiply-adds.
``fully_supported`` is the S_i of eq. 1 in the paper.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from mhzoo.export.op_inventory import ModelInventory, OpDetail, TensorInfo

__all__ = ["CONDITION_KINDS", "RULE_SETS", "CompatReport", "RuleSetResult",
           "check_compatibility", "load_rules", "validate_rules"]

#: the compatibility rule sets (one ``export/rules/<name>.json`` each); not benchmark targets
RULE_SETS = ("edgetpu", "gpu", "hexagon", "nnapi")
#: what the graph patterns of the inventory (``ModelInventory.patterns``) are, in words
PATTERN_LABELS = {"SE_GATE": "squeeze-excite gate (MUL by per-channel sigmoid)"}
#: builtin option names a condition may test (keys of :attr:`OpDetail.options`)
OPTION_NAMES = frozenset({
    "fused_activation", "padding", "depth_multiplier", "beta", "keep_dims", "keep_num_dims",
    "weights_format", "axis", "align_corners", "half_pixel_centers", "ellipsis_mask",
    "new_axis_mask", "shrink_axis_mask", "mode", "num_splits", "stride", "dilation", "filter",
    "per_channel_weights"})
_WHICH = ("all", "inputs", "first_input", "outputs")
_TENSOR_TYPES = frozenset({"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16", "INT8", "UINT8", "INT16",
                           "UINT16", "INT32", "UINT32", "INT64", "UINT64", "INT4", "BOOL",
                           "STRING", "COMPLEX64", "COMPLEX128"})


class _NoDataError(Exception):
    """The inventory lacks what a condition needs (an inventory built from op counts only)."""


# ------------------------------------------------------------------------------- conditions


def _tensors(d: OpDetail, which: str, live_only: bool = False) -> list[TensorInfo]:
    if not d.inputs and not d.outputs:
        raise _NoDataError
    ins = [(t, c) for t, c in zip(d.inputs, d.const_inputs or (False,) * len(d.inputs),
                                  strict=True) if t is not None]
    if which == "first_input":
        ins = ins[:1]
    picked = [(t, c) for t, c in ins] if which != "outputs" else []
    if which in ("all", "outputs"):
        picked += [(t, False) for t in d.outputs]
    return [t for t, c in picked if not (live_only and c)]


def _input(d: OpDetail, index: int) -> TensorInfo | None:
    if not d.inputs and not d.outputs:
        raise _NoDataError
    return d.inputs[index] if index < len(d.inputs) else None


def _option(d: OpDetail, name: str) -> Any:
    if not d.inputs and not d.outputs:
        raise _NoDataError
    return d.options.get(name)


def _c_max_rank(d: OpDetail, p: dict[str, Any]) -> str | None:
    bad = [len(t.shape) for t in _tensors(d, p.get("which", "all")) if len(t.shape) > p["value"]]
    return f"rank {max(bad)} > {p['value']}" if bad else None


def _c_min_rank(d: OpDetail, p: dict[str, Any]) -> str | None:
    bad = [len(t.shape) for t in _tensors(d, p.get("which", "all")) if len(t.shape) < p["value"]]
    return f"rank {min(bad)} < {p['value']}" if bad else None


def _c_max_nontrivial_dims(d: OpDetail, p: dict[str, Any]) -> str | None:
    for t in _tensors(d, p.get("which", "all")):
        n = sum(1 for s in t.shape if s > 1)
        if n > p["value"]:
            return f"{list(t.shape)} has {n} dimensions > 1 (at most {p['value']})"
    return None


def _c_max_elements(d: OpDetail, p: dict[str, Any]) -> str | None:
    for t in _tensors(d, p.get("which", "all")):
        n = math.prod(max(s, 1) for s in t.shape)
        if n > p["value"]:
            return f"{n} elements > {p['value']}"
    return None


def _c_fused_activation_in(d: OpDetail, p: dict[str, Any]) -> str | None:
    act = _option(d, "fused_activation")
    if act is None or act in p["values"]:
        return None
    return f"fused activation {act} (accepted: {', '.join(p['values'])})"


def _c_option_equals(d: OpDetail, p: dict[str, Any]) -> str | None:
    value = _option(d, p["option"])
    wanted = p["value"] if isinstance(p["value"], list) else [p["value"]]
    if value is None or value in wanted:
        return None
    return f"{p['option']} = {value!r} (needs {' or '.join(repr(w) for w in wanted)})"


def _c_depth_multiplier(d: OpDetail, p: dict[str, Any]) -> str | None:
    dm = _option(d, "depth_multiplier")
    if dm is None or dm == p["value"]:
        return None
    x = _input(d, 0)
    if p.get("or_single_input_channel") and x is not None and x.shape and x.shape[-1] == 1:
        return None
    return f"depth multiplier {dm} (needs {p['value']})"


def _c_softmax_beta(d: OpDetail, p: dict[str, Any]) -> str | None:
    beta = _option(d, "beta")
    if beta is None or abs(float(beta) - float(p["value"])) <= 1e-6:
        return None
    return f"beta {beta:g} (needs {p['value']:g})"


def _c_exact_version(d: OpDetail, p: dict[str, Any]) -> str | None:
    return None if d.version == p["value"] else f"version {d.version} (needs exactly " \
                                                 f"{p['value']})"


def _c_zero_point_zero_below_api(d: OpDetail, p: dict[str, Any]) -> str | None:
    x = _input(d, 0)
    if x is None or x.dtype not in p["types"] or x.zero_point in (0, None):
        return None
    return f"{x.dtype} input with zero point {x.zero_point} (needs 0 below API {p['below_api']})"


def _c_input_type_in(d: OpDetail, p: dict[str, Any]) -> str | None:
    x = _input(d, p.get("index", 0))
    if x is None or x.dtype in p["types"]:
        return None
    return f"input {p.get('index', 0)} is {x.dtype} (accepted: {', '.join(p['types'])})"


def _c_output_type_in(d: OpDetail, p: dict[str, Any]) -> str | None:
    if not d.outputs:
        raise _NoDataError
    y = d.outputs[0]
    return None if y.dtype in p["types"] else \
        f"output is {y.dtype} (accepted: {', '.join(p['types'])})"


def _c_tensor_types_in(d: OpDetail, p: dict[str, Any]) -> str | None:
    bad = sorted({t.dtype for t in _tensors(d, p.get("which", "all"), live_only=True)
                  if t.dtype not in p["types"]})
    return f"{'/'.join(bad)} tensors (accepted: {', '.join(p['types'])})" if bad else None


def _c_has_bias(d: OpDetail, p: dict[str, Any]) -> str | None:
    if not d.inputs and not d.outputs:
        raise _NoDataError
    return None if len(d.inputs) >= 3 and d.inputs[2] is not None else "no bias input"


def _c_dilation(d: OpDetail, p: dict[str, Any]) -> str | None:
    dil = _option(d, "dilation")
    return f"dilation {tuple(dil)} (at most {p['max']})" if dil and max(dil) > p["max"] else None


def _c_dilation_needs_unit_stride(d: OpDetail, p: dict[str, Any]) -> str | None:
    dil, stride = _option(d, "dilation"), _option(d, "stride")
    if dil and max(dil) > 1 and stride and max(stride) > 1:
        return f"dilation {tuple(dil)} with stride {tuple(stride)} (dilation needs stride 1)"
    return None


def _c_equal_dilation(d: OpDetail, p: dict[str, Any]) -> str | None:
    dil = _option(d, "dilation")
    return f"dilation {tuple(dil)} differs in x and y" if dil and dil[0] != dil[1] else None


def _c_min_filter_height(d: OpDetail, p: dict[str, Any]) -> str | None:
    w = _input(d, 1)
    if w is None or len(w.shape) < 2 or w.shape[1] >= p["value"]:
        return None
    return f"filter height {w.shape[1]} (needs >= {p['value']})"


def _c_max_stride(d: OpDetail, p: dict[str, Any]) -> str | None:
    stride = _option(d, "stride")
    return f"stride {tuple(stride)} > {p['value']}" if stride and max(stride) > p["value"] \
        else None


def _c_constant_input(d: OpDetail, p: dict[str, Any]) -> str | None:
    i = p["index"]
    if _input(d, i) is None or (i < len(d.const_inputs) and d.const_inputs[i]):
        return None
    return f"input {i} is not a constant"


def _c_runtime_input(d: OpDetail, p: dict[str, Any]) -> str | None:
    i = p["index"]
    if _input(d, i) is None or not (i < len(d.const_inputs) and d.const_inputs[i]):
        return None
    return f"input {i} is a constant"


def _c_max_inputs(d: OpDetail, p: dict[str, Any]) -> str | None:
    if not d.inputs and not d.outputs:
        raise _NoDataError
    return f"{len(d.inputs)} inputs (at most {p['value']})" if len(d.inputs) > p["value"] \
        else None


def _c_per_tensor_weights(d: OpDetail, p: dict[str, Any]) -> str | None:
    return "per-channel quantized weights" if _option(d, "per_channel_weights") else None


def _c_reduce_axes(d: OpDetail, p: dict[str, Any]) -> str | None:
    x = _input(d, 0)
    if x is None:
        return None
    values = d.const_values[1] if len(d.const_values) > 1 else None
    if values is None:
        raise _NoDataError
    rank = len(x.shape)
    axes = sorted({a % rank for a in values}) if rank else []
    bad = [a for a in axes if a in p.get("forbid", [])]
    if bad:
        return f"reduces axis {bad[0]}"
    m = p.get("channel_multiple")
    if m and rank and rank - 1 in axes and x.shape[-1] % m:
        return f"reduces {x.shape[-1]} channels (needs a multiple of {m})"
    return None


#: kind -> (required parameters, optional parameters, evaluator); ``below_api`` (apply only
#: below an API level) and, in ``op_defaults``, ``except_ops`` are allowed on every kind
CONDITION_KINDS: dict[str, tuple[frozenset[str], frozenset[str],
                                 Callable[[OpDetail, dict[str, Any]], str | None]]] = {
    "max_rank": (frozenset({"value"}), frozenset({"which"}), _c_max_rank),
    "min_rank": (frozenset({"value"}), frozenset({"which"}), _c_min_rank),
    "max_nontrivial_dims": (frozenset({"value"}), frozenset({"which"}), _c_max_nontrivial_dims),
    "max_elements": (frozenset({"value"}), frozenset({"which"}), _c_max_elements),
    "fused_activation_in": (frozenset({"values"}), frozenset(), _c_fused_activation_in),
    "option_equals": (frozenset({"option", "value"}), frozenset(), _c_option_equals),
    "depth_multiplier": (frozenset({"value"}), frozenset({"or_single_input_channel"}),
                         _c_depth_multiplier),
    "softmax_beta": (frozenset({"value"}), frozenset(), _c_softmax_beta),
    "exact_version": (frozenset({"value"}), frozenset(), _c_exact_version),
    "zero_point_zero_below_api": (frozenset({"below_api", "types"}), frozenset(),
                                  _c_zero_point_zero_below_api),
    "input_type_in": (frozenset({"types"}), frozenset({"index"}), _c_input_type_in),
    "output_type_in": (frozenset({"types"}), frozenset(), _c_output_type_in),
    "tensor_types_in": (frozenset({"types"}), frozenset({"which"}), _c_tensor_types_in),
    "has_bias": (frozenset(), frozenset(), _c_has_bias),
    "dilation": (frozenset({"max"}), frozenset(), _c_dilation),
    "dilation_needs_unit_stride": (frozenset(), frozenset(), _c_dilation_needs_unit_stride),
    "equal_dilation": (frozenset(), frozenset(), _c_equal_dilation),
    "min_filter_height": (frozenset({"value"}), frozenset(), _c_min_filter_height),
    "max_stride": (frozenset({"value"}), frozenset(), _c_max_stride),
    "constant_input": (frozenset({"index"}), frozenset(), _c_constant_input),
    "runtime_input": (frozenset({"index"}), frozenset(), _c_runtime_input),
    "max_inputs": (frozenset({"value"}), frozenset(), _c_max_inputs),
    "per_tensor_weights": (frozenset(), frozenset(), _c_per_tensor_weights),
    "reduce_axes": (frozenset(), frozenset({"forbid", "channel_multiple"}), _c_reduce_axes),
}

# ---------------------------------------------------------------------------- rule loading

_TOP_KEYS = frozenset({"target", "schema", "title", "sources", "api_levels", "requires",
                       "op_defaults", "partition", "patterns", "preferences", "ops"})
_OP_KEYS = frozenset({"max_version", "min_api", "min_runtime", "conditions", "unchecked",
                      "source", "unverified"})
_REQUIRES = frozenset({"integer_only", "static_shapes", "max_leading_dim", "max_conv_stride"})
_PREFERENCES = frozenset({"max_kernel", "filters_multiple_of"})
_ENTRY_META = frozenset({"source", "unverified"})


def _err(name: str, where: str, msg: str) -> ValueError:
    return ValueError(f"rules {name!r}, {where}: {msg}")


def _check_source(name: str, where: str, entry: dict[str, Any], ids: set[str],
                  key: str = "source") -> None:
    s = entry.get(key)
    if not isinstance(s, dict) or set(s) != {"ref", "at"} or not s.get("at"):
        raise _err(name, where, f'needs "{key}": {{"ref": <source id>, "at": <function, '
                                'line or section>}}')
    if s["ref"] not in ids:
        raise _err(name, where, f"source {s['ref']!r} is not one of {', '.join(sorted(ids))}")
    if "unverified" in entry and not (isinstance(entry["unverified"], str)
                                      and entry["unverified"]):
        raise _err(name, where, '"unverified" must say why, as a non-empty string')


def _check_condition(name: str, where: str, c: Any, ids: set[str], has_api: bool,
                     in_defaults: bool) -> None:
    if not isinstance(c, dict) or "kind" not in c:
        raise _err(name, where, "a condition must be an object with a 'kind'")
    kind = c["kind"]
    if kind not in CONDITION_KINDS:
        raise _err(name, where, f"unknown condition kind {kind!r}; known: "
                                f"{', '.join(sorted(CONDITION_KINDS))}")
    required, optional, _ = CONDITION_KINDS[kind]
    extra = {"below_api"} | ({"except_ops"} if in_defaults else set())
    params = set(c) - {"kind"} - _ENTRY_META
    missing, unknown = required - params, params - required - optional - extra
    if missing or unknown:
        raise _err(name, where, f"condition {kind!r}: "
                   + (f"missing {', '.join(sorted(missing))}" if missing else
                      f"unknown parameter(s) {', '.join(sorted(unknown))}"))
    if "below_api" in c and (not has_api or not isinstance(c["below_api"], int)):
        raise _err(name, where, f"condition {kind!r}: 'below_api' needs an integer and a rule "
                                "set with 'api_levels'")
    if c.get("which", "all") not in _WHICH:
        raise _err(name, where, f"condition {kind!r}: 'which' must be one of "
                                f"{', '.join(_WHICH)}")
    if kind == "option_equals" and c["option"] not in OPTION_NAMES:
        raise _err(name, where, f"unknown option {c['option']!r}; known: "
                                f"{', '.join(sorted(OPTION_NAMES))}")
    types = list(c.get("types", []))
    if any(t not in _TENSOR_TYPES for t in types):
        raise _err(name, where, f"unknown tensor type in {types}")
    _check_source(name, where + f", condition {kind!r}", c, ids)


def validate_rules(rules: Any, name: str = "<rules>") -> dict[str, Any]:
    """Check a rule set's structure; ``ValueError`` naming the first problem.

    Every entry (requirement, preference, pattern, partition, op and condition) must name a
    declared source; condition kinds, their parameters and option names must be known.
    """
    if not isinstance(rules, dict):
        raise _err(name, "top level", "expected a JSON object")
    unknown = set(rules) - _TOP_KEYS
    if unknown:
        raise _err(name, "top level", f"unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("target", "title", "sources", "ops"):
        if key not in rules:
            raise _err(name, "top level", f"missing {key!r}")
    ids = set()
    for s in rules["sources"]:
        if not isinstance(s, dict) or not s.get("id") or not str(s.get("url", "")).startswith(
                "https://") or not s.get("used_for"):
            raise _err(name, "sources", "each source needs an 'id', an https 'url' and "
                                        "'used_for'")
        ids.add(s["id"])
    api = rules.get("api_levels")
    if api is not None:
        levels = api.get("levels")
        if not levels or sorted(levels) != levels or api.get("default") not in levels:
            raise _err(name, "api_levels", "needs sorted 'levels' and a 'default' among them")
        _check_source(name, "api_levels", api, ids)
    for group, allowed in (("requires", _REQUIRES), ("preferences", _PREFERENCES)):
        for key, entry in rules.get(group, {}).items():
            if key not in allowed or not isinstance(entry, dict) or "value" not in entry:
                raise _err(name, f"{group}.{key}", f"unknown {group[:-1]} or missing 'value'")
            _check_source(name, f"{group}.{key}", entry, ids)
    for key, entry in rules.get("patterns", {}).items():
        if key not in PATTERN_LABELS or not isinstance(entry, dict) or not entry.get("reason"):
            raise _err(name, f"patterns.{key}", "unknown pattern or missing 'reason'")
        _check_source(name, f"patterns.{key}", entry, ids)
    part = rules.get("partition")
    if part is not None:
        if part.get("kind") != "single_subgraph" or set(part) - {
                "kind", "boundary_ops", "source", "boundary_source", "unverified"}:
            raise _err(name, "partition", "only {'kind': 'single_subgraph', 'boundary_ops': "
                                          "[...]} is known")
        _check_source(name, "partition", part, ids)
        if part.get("boundary_ops"):
            _check_source(name, "partition", part, ids, key="boundary_source")
    defaults = rules.get("op_defaults", {})
    if set(defaults) - {"conditions"}:
        raise _err(name, "op_defaults", "only 'conditions' is known")
    for c in defaults.get("conditions", []):
        _check_condition(name, "op_defaults", c, ids, api is not None, in_defaults=True)
    for op, entry in rules["ops"].items():
        where = f"ops.{op}"
        if not isinstance(entry, dict):
            raise _err(name, where, "expected an object")
        unknown = set(entry) - _OP_KEYS
        if unknown:
            raise _err(name, where, f"unknown key(s) {', '.join(sorted(unknown))} (a limitation "
                                    "that cannot be checked goes in 'unchecked')")
        for key in ("max_version", "min_api", "min_runtime"):
            if key in entry and not (isinstance(entry[key], int) and entry[key] >= 1):
                raise _err(name, where, f"{key!r} must be a positive integer")
        if "min_api" in entry and api is None:
            raise _err(name, where, "'min_api' needs a rule set with 'api_levels'")
        _check_source(name, where, entry, ids)
        for c in entry.get("conditions", []):
            _check_condition(name, where, c, ids, api is not None, in_defaults=False)
    return rules


@cache
def load_rules(target: str) -> dict[str, Any]:
    """The validated rule data of ``target`` (one of :data:`RULE_SETS`)."""
    if target not in RULE_SETS:
        raise ValueError(f"unknown compatibility rule set {target!r}; expected one of "
                         f"{', '.join(RULE_SETS)}")
    text = resources.files("mhzoo.export").joinpath("rules", f"{target}.json").read_text()
    rules = validate_rules(json.loads(text), target)
    if rules["target"] != target:
        raise ValueError(f"rules file {target}.json names target {rules['target']!r}")
    return rules


# --------------------------------------------------------------------------------- results


@dataclass
class RuleSetResult:
    """The verdict for one rule set.

    ``fallback_ops`` lists the operators the delegate rejects (grouped by op, version and
    reason); ``problems`` model-level failures; ``warnings`` soft preferences; ``unchecked``
    limitations of ops in the model that a .tflite cannot show. NNAPI: ``api_level`` is the
    level checked, ``fallback_by_api`` what falls back on each older level ("API 29": [...]),
    ``min_api_fully_supported`` the lowest level from which the model runs fully. Edge TPU:
    ``cpu_share`` the operators and multiply-adds left on the CPU by the single-subgraph rule;
    ``requirements`` e.g. the lowest Edge TPU runtime the ops need.
    """

    target: str
    title: str
    fully_supported: bool
    fallback_ops: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    api_level: int | None = None
    fallback_by_api: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    min_api_fully_supported: int | None = None
    cpu_share: dict[str, Any] | None = None
    requirements: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the verdict, the API level (NNAPI) and the CPU share (Edge TPU)."""
        at = f" at API {self.api_level}" if self.api_level is not None else ""
        if self.fully_supported:
            head = "fully supported" + at
        else:
            ops = ", ".join(f"{o['op']} v{o['version']} x{o['count']}" for o in self.fallback_ops)
            parts = ([f"falls back: {ops}"] if ops else []) + self.problems
            head = f"NOT fully supported{at} (" + "; ".join(parts) + ")"
        share = self.cpu_share
        if share and share["cpu_ops"]:
            head += (f" [CPU: {share['ops']:.0%} of ops, {share['madds']:.0%} of MAdds]")
        if self.warnings:
            head += f" [{len(self.warnings)} warning(s)]"
        return head


@dataclass
class CompatReport:
    """Verdicts for every rule set."""

    targets: dict[str, RuleSetResult]

    @property
    def fully_supported(self) -> dict[str, bool]:
        return {k: v.fully_supported for k, v in self.targets.items()}

    def to_dict(self) -> dict[str, Any]:
        return {k: asdict(v) for k, v in self.targets.items()}

    def format(self) -> str:
        lines = []
        for t in self.targets.values():
            lines.append(f"  {t.target:8s} {t.summary()}")
            for level, ops in t.fallback_by_api.items():
                names = ", ".join(f"{o['op']} x{o['count']}" for o in ops[:6])
                more = f", ... ({len(ops)} kinds)" if len(ops) > 6 else ""
                lines.append(f"           {level}: falls back {names}{more}")
            share = t.cpu_share
            if share and share["first_cpu_op"] is not None:
                first = share["first_cpu_op"]
                lines.append(f"           Edge TPU subgraph ends at op {first['index']} "
                             f"{first['op']} ({first['reason']}); {share['cpu_ops']} of "
                             f"{share['total_ops']} ops run on the CPU")
            lines.extend(f"           requires: {r}" for r in t.requirements)
            lines.extend(f"           unchecked: {u}" for u in t.unchecked[:3])
            if len(t.unchecked) > 3:
                lines.append(f"           ... {len(t.unchecked) - 3} more unchecked")
            lines.extend(f"           warning: {w}" for w in t.warnings[:5])
            if len(t.warnings) > 5:
                lines.append(f"           ... {len(t.warnings) - 5} more warning(s)")
        return "\n".join(lines)


# -------------------------------------------------------------------------------- checking


def _details(inv: ModelInventory) -> list[OpDetail]:
    if inv.op_details:
        return list(inv.op_details)
    out: list[OpDetail] = []  # an inventory made from op counts: names and versions only
    for o in inv.ops:
        out.extend(OpDetail(len(out) + i, o.name, o.version, (), ()) for i in range(o.count))
    return out


def _applies(c: dict[str, Any], op: str, api: int | None) -> bool:
    if op in c.get("except_ops", ()):
        return False
    return "below_api" not in c or api is None or api < c["below_api"]


def _op_reason(d: OpDetail, rules: dict[str, Any], api: int | None,
               unchecked: set[str]) -> str | None:
    """Why ``d`` falls back under ``rules`` at ``api`` (None: it runs on the delegate)."""
    spec = rules["ops"].get(d.name)
    if spec is None:
        return "operator not supported"
    if spec.get("max_version") is not None and d.version > spec["max_version"]:
        return f"version {d.version} > {spec['max_version']}"
    if api is not None and api < spec.get("min_api", 0):
        return f"needs API {spec['min_api']}"
    conditions = rules.get("op_defaults", {}).get("conditions", []) + spec.get("conditions", [])
    for c in conditions:
        if not _applies(c, d.name, api):
            continue
        try:
            reason = CONDITION_KINDS[c["kind"]][2](d, c)
        except _NoDataError:
            unchecked.add(f"{d.name}: condition {c['kind']!r} not checked (the inventory has "
                          "no tensor data)")
            continue
        if reason:
            return reason + (f" below API {c['below_api']}" if "below_api" in c
                             and c["kind"] != "zero_point_zero_below_api" else "")
    return None


def _group(failed: Iterable[tuple[OpDetail, str]]) -> list[dict[str, Any]]:
    counts = Counter((d.name, d.version, r) for d, r in failed)
    return [{"op": n, "version": v, "count": k, "reason": r} for (n, v, r), k in counts.items()]


def _single_subgraph(details: list[OpDetail], reasons: list[str | None],
                     rules: dict[str, Any]) -> dict[str, Any]:
    """Ops and MAdds left on the CPU when the compiler maps one subgraph: unsupported I/O
    boundary ops (QUANTIZE of a graph input, DEQUANTIZE to a graph output) stay on the CPU
    alone; from the first other unsupported op (or pattern) on, everything runs on the CPU."""
    boundary = set(rules["partition"].get("boundary_ops", []))
    patterns = set(rules.get("patterns", {}))
    on_cpu = [False] * len(details)
    first = None
    for i, (d, r) in enumerate(zip(details, reasons, strict=True)):
        pattern = next((p for p in d.patterns if p in patterns), None)
        if r is None and pattern is None:
            continue
        is_edge = d.name in boundary and (d.graph_input or d.graph_output)
        if is_edge and pattern is None:
            on_cpu[i] = True
            continue
        first = {"index": d.index, "op": d.name, "output": d.outputs[0].name if d.outputs
                 else "", "reason": r or PATTERN_LABELS.get(pattern, pattern)}
        for j in range(i, len(details)):
            on_cpu[j] = True
        break
    total_madds = sum(d.madds for d in details)
    cpu_madds = sum(d.madds for d, c in zip(details, on_cpu, strict=True) if c)
    n_cpu = sum(on_cpu)
    return {"ops": n_cpu / len(details) if details else 0.0,
            "madds": cpu_madds / total_madds if total_madds else 0.0,
            "cpu_ops": n_cpu, "total_ops": len(details), "cpu_madds": cpu_madds,
            "total_madds": total_madds, "first_cpu_op": first,
            "cpu_op_indices": [d.index for d, c in zip(details, on_cpu, strict=True) if c]}


def _fallbacks(details: list[OpDetail], rules: dict[str, Any], api: int | None,
               unchecked: set[str]) -> tuple[list[str | None], list[dict[str, Any]]]:
    reasons = [_op_reason(d, rules, api, unchecked) for d in details]
    return reasons, _group((d, r) for d, r in zip(details, reasons, strict=True) if r)


def _check(inv: ModelInventory, rules: dict[str, Any], api_level: int | None = None
           ) -> RuleSetResult:
    req = {k: v["value"] for k, v in rules.get("requires", {}).items()}
    res = RuleSetResult(rules["target"], rules["title"], True,
                       sources=[s["url"] for s in rules.get("sources", [])])
    api_spec = rules.get("api_levels")
    api = None
    if api_spec is not None:
        api = api_spec["default"] if api_level is None else api_level
        res.api_level = api
    details = _details(inv)
    unchecked: set[str] = set()
    reasons, res.fallback_ops = _fallbacks(details, rules, api, unchecked)
    if api_spec is not None:
        older = [lv for lv in api_spec["levels"] if lv < api]
        for level in reversed(older):
            failed = _fallbacks(details, rules, level, unchecked)[1]
            if failed:
                res.fallback_by_api[f"API {level}"] = failed
        if not res.fallback_ops:
            res.min_api_fully_supported = api
            for level in reversed(older):
                if f"API {level}" in res.fallback_by_api:
                    break
                res.min_api_fully_supported = level
    for name in sorted({d.name for d in details}):
        spec = rules["ops"].get(name, {})
        if spec.get("unchecked"):
            unchecked.add(f"{name}: {spec['unchecked']}")
    runtimes = [(rules["ops"][d.name]["min_runtime"], d.name) for d in details
                if "min_runtime" in rules["ops"].get(d.name, {})]
    if runtimes:
        need, op = max(runtimes)
        res.requirements.append(f"Edge TPU runtime >= {need} (for {op})")
    res.unchecked = sorted(unchecked)
    for pattern, entry in rules.get("patterns", {}).items():
        n = inv.patterns.get(pattern, 0)
        if n:  # a graph pattern, not a TFLite operator: reported as a problem
            label = PATTERN_LABELS.get(pattern, pattern)
            res.problems.append(f"{label} x{n}: {entry['reason']}")
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
    if rules.get("partition") and details:
        res.cpu_share = _single_subgraph(details, reasons, rules)
    prefs = {k: v["value"] for k, v in rules.get("preferences", {}).items()}
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


def check_compatibility(inv: ModelInventory, targets: tuple[str, ...] = RULE_SETS,
                        api_level: int | None = None) -> CompatReport:
    """Check a model inventory (see :func:`mhzoo.export.op_inventory.inventory`) per rule set.

    Args:
        inv: the inventory of a .tflite.
        targets: rule sets to check (:data:`RULE_SETS`).
        api_level: Android API level for the NNAPI rules (default the newest they know);
            rule sets without API levels ignore it.

    Raises:
        ValueError: an unknown rule set, or an API level that is not an integer in 1..newest.
    """
    if api_level is not None:
        newest = max(load_rules("nnapi")["api_levels"]["levels"])
        if isinstance(api_level, bool) or not isinstance(api_level, int) \
                or not 1 <= api_level <= newest:
            raise ValueError(f"api_level must be an Android API level between 1 and {newest}, "
                             f"got {api_level!r}")
    return CompatReport({t: _check(inv, load_rules(t), api_level) for t in targets})
