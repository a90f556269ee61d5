"""Architecture as data: ``ArchSpec`` and its block types.

Every tool in mhzoo reads the same value: the builder, the profiler, the exporters, the weight
converters, the benchmark harness and the search space. A spec stores *base* widths (width
multiplier 1.0); :func:`mhzoo.widths.scale_spec` turns it into a concrete spec for any width.

Two lossless encodings exist:

* JSON (:meth:`ArchSpec.to_json` / :meth:`ArchSpec.from_json`), for files and configs;
* a compact one-line-per-block string (:meth:`ArchSpec.to_string` / :func:`parse_block`) in the
  spirit of timm's block strings, e.g. ``ib_k5_s2_e6_c64_relu_out``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Union

__all__ = [
    "ACTIVATIONS",
    "MAX_BLOCKS",
    "MAX_EXPANSION",
    "MAX_FILTERS",
    "MAX_KERNEL",
    "STRIDES",
    "ArchSpec",
    "Block",
    "Conv",
    "DepthwiseSeparable",
    "GlobalPool",
    "InvertedBottleneck",
    "parse_block",
]

#: Supported activations. ``hard_swish`` is x * relu6(x + 3) / 6.
ACTIVATIONS = ("relu", "relu6", "hard_swish")
_ACT_TOKENS = {"relu": "relu", "relu6": "relu6", "hs": "hard_swish"}
_ACT_TO_TOKEN = {v: k for k, v in _ACT_TOKENS.items()}
PADDINGS = ("same", "symmetric")
#: Squeeze-excite gates. ``hard_sigmoid`` is relu6(x + 3) / 6 (paper, keras.applications, timm);
#: ``hard_sigmoid_tfm`` is the TF Model Garden's relu6(x + 3) * 0.16667 (official/modeling/
#: activations/sigmoid.py), 2e-5 relative from 1/6: enough to move the logits of a
#: MobileNetV3 by ~7e-4 of their scale, so Model Garden checkpoints convert with it.
SE_GATES = ("hard_sigmoid", "hard_sigmoid_tfm", "sigmoid")

# Bounds checked when a spec is made, so that absurd values fail here with one clear line and
# never reach TensorFlow (see also mhzoo.bounds.check_spec_bounds for the concrete spec).
#: most channels of any layer (base width; the scaled widths are bounded by mhzoo.bounds)
MAX_FILTERS = 16384
#: largest kernel (odd sizes only: 'same' and symmetric padding are centred)
MAX_KERNEL = 15
#: strides a block may have
STRIDES = (1, 2)
#: largest expansion ratio of an inverted bottleneck
MAX_EXPANSION = 32.0
#: most blocks in one spec
MAX_BLOCKS = 512
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")


def _check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {_short(value)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {_short(value)}")


def _short(value: Any) -> str:
    """``repr`` cut to 40 characters (a 4000-digit integer stays one readable line)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10 ** 30 else \
        f"an integer of {len(str(abs(value)))} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def _check_kernel_stride(block: Any) -> None:
    _check_int("kernel", block.kernel, maximum=MAX_KERNEL)
    if block.kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (1, 3, 5, ... {MAX_KERNEL}), got {block.kernel}")
    _check_int("stride", block.stride)
    if block.stride not in STRIDES:
        raise ValueError(f"stride must be one of {', '.join(map(str, STRIDES))}, got "
                         f"{_short(block.stride)}")


def _check_bools(block: Any, *names: str) -> None:
    for name in names:
        value = getattr(block, name)
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")


def _check_activation(value: Any) -> None:
    if value not in ACTIVATIONS:
        raise ValueError(f"unknown activation {value!r}; expected one of {', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class Conv:
    """A k x k convolution, then batch norm (optional), then the activation.

    Used for stems and head convolutions. ``batch_norm=False, bias=True`` gives the
    MobileNetV3-style 1x1 head conv after pooling.
    """

    filters: int
    kernel: int = 1
    stride: int = 1
    activation: str = "relu"
    batch_norm: bool = True
    bias: bool = False
    endpoint: bool = False

    kind: ClassVar[str] = "conv"

    def __post_init__(self) -> None:
        _check_int("filters", self.filters, maximum=MAX_FILTERS)
        _check_kernel_stride(self)
        _check_activation(self.activation)
        _check_bools(self, "batch_norm", "bias", "endpoint")

    def to_string(self) -> str:
        parts = ["conv", f"k{self.kernel}", f"s{self.stride}", f"c{self.filters}",
                 _ACT_TO_TOKEN[self.activation]]
        if not self.batch_norm:
            parts.append("nobn")
        if self.bias:
            parts.append("bias")
        if self.endpoint:
            parts.append("out")
        return "_".join(parts)


@dataclass(frozen=True)
class DepthwiseSeparable:
    """MobileNetV1 block: depthwise k x k + BN + act, then pointwise 1x1 + BN + act."""

    filters: int
    kernel: int = 3
    stride: int = 1
    activation: str = "relu6"
    endpoint: bool = False

    kind: ClassVar[str] = "ds"

    def __post_init__(self) -> None:
        _check_int("filters", self.filters, maximum=MAX_FILTERS)
        _check_kernel_stride(self)
        _check_activation(self.activation)
        _check_bools(self, "endpoint")

    def to_string(self) -> str:
        parts = ["ds", f"k{self.kernel}", f"s{self.stride}", f"c{self.filters}",
                 _ACT_TO_TOKEN[self.activation]]
        if self.endpoint:
            parts.append("out")
        return "_".join(parts)


@dataclass(frozen=True)
class InvertedBottleneck:
    """Inverted bottleneck (MobileNetV2/V3), regular or fused.

    * ``expansion`` is a ratio of the (scaled) input width; ``expansion_filters`` is an absolute
      expanded width (TuNAS style) and wins over the ratio when set. With a ratio <= 1 there is
      no expansion conv at all (TF Model Garden semantics).
    * regular: 1x1 expand -> depthwise k x k (stride) -> [SE] -> 1x1 linear projection.
    * fused: k x k full conv (stride) expand -> [SE] -> 1x1 linear projection. A fused block
      without expansion degenerates to the lone projection (as in TF Model Garden and slim).
    * SE: global pool -> 1x1 conv (bias) -> relu -> 1x1 conv (bias) -> gate -> multiply, with
      ``make_divisible(expanded * se_ratio, 8)`` squeeze filters.
    * the residual add is used iff ``residual`` and stride 1 and input width == ``filters``.
    * ``groups`` > 1 (regular blocks only): the 1x1 expand and project convs are grouped
      convolutions (FBNet ``k3_e1_g2``; no channel shuffle), weights and MAdds / ``groups``.
    """

    filters: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 6.0
    expansion_filters: int | None = None
    se_ratio: float | None = None
    activation: str = "relu"
    fused: bool = False
    residual: bool = True
    endpoint: bool = False
    groups: int = 1

    kind: ClassVar[str] = "ib"

    def __post_init__(self) -> None:
        _check_int("filters", self.filters, maximum=MAX_FILTERS)
        _check_kernel_stride(self)
        _check_activation(self.activation)
        if isinstance(self.expansion, bool) or not isinstance(self.expansion, int | float) or not (
            0 < self.expansion <= MAX_EXPANSION  # False for NaN; no float() of huge integers
        ):
            raise ValueError(f"expansion must be a number in (0, {MAX_EXPANSION:g}], got "
                             f"{_short(self.expansion)}")
        if self.expansion_filters is not None:
            _check_int("expansion_filters", self.expansion_filters, maximum=MAX_FILTERS)
        if self.se_ratio is not None and (isinstance(self.se_ratio, bool) or not (
            isinstance(self.se_ratio, int | float) and 0 < self.se_ratio <= 1
        )):
            raise ValueError(f"se_ratio must be in (0, 1], got {self.se_ratio!r}")
        _check_bools(self, "fused", "residual", "endpoint")
        _check_int("groups", self.groups, maximum=MAX_FILTERS)
        if self.groups > 1:
            if self.fused:
                raise ValueError("groups > 1 applies to the 1x1 expand / project convs of a "
                                 "regular (not fused) inverted bottleneck")
            for name in ("filters", "expansion_filters"):
                value = getattr(self, name)
                if value is not None and value % self.groups:
                    raise ValueError(f"{name} {value} is not divisible by groups {self.groups}")

    def to_string(self) -> str:
        parts = ["ib", f"k{self.kernel}", f"s{self.stride}"]
        if self.expansion_filters is not None:
            parts.append(f"x{self.expansion_filters}")
        else:
            parts.append(f"e{_fmt_float(self.expansion)}")
        parts.append(f"c{self.filters}")
        if self.groups > 1:
            parts.append(f"g{self.groups}")
        if self.se_ratio is not None:
            parts.append(f"se{_fmt_float(self.se_ratio)}")
        parts.append(_ACT_TO_TOKEN[self.activation])
        if self.fused:
            parts.append("fused")
        if not self.residual:
            parts.append("noskip")
        if self.endpoint:
            parts.append("out")
        return "_".join(parts)


@dataclass(frozen=True)
class GlobalPool:
    """Global average pooling that keeps the spatial dims (1 x 1), as in MobileNetV3 heads."""

    kind: ClassVar[str] = "pool"

    def to_string(self) -> str:
        return "pool"


Block = Union[Conv, DepthwiseSeparable, InvertedBottleneck, GlobalPool]  # noqa: UP007
_BLOCK_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (Conv, DepthwiseSeparable, InvertedBottleneck, GlobalPool)
}


def _fmt_float(value: float) -> str:
    """Shortest string that round-trips ``value`` (``6.0`` -> ``6``, ``2.3`` -> ``2.3``)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


_TOKEN_RE = re.compile(r"^(k|s|e|x|c|g|se)(\d+(?:\.\d+)?(?:e-?\d+)?)$")


def parse_block(text: str) -> Block:
    """Decode one compact block string (the inverse of ``Block.to_string``).

    Grammar: ``TYPE`` then ``_``-separated tokens: ``k<kernel>``, ``s<stride>``, ``c<filters>``,
    ``e<ratio>`` or ``x<absolute expanded filters>``, ``g<groups>``, ``se<ratio>``, an
    activation (``relu``, ``relu6``, ``hs``), and flags ``fused``, ``noskip``, ``nobn``,
    ``bias``, ``out`` (endpoint).
    """
    if not isinstance(text, str):
        raise ValueError(f"a block string must be text, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValueError("empty block string")
    if len(text) > 120:
        raise ValueError(f"block string too long ({len(text)} characters): {_short(text)}")
    tokens = text.split("_")
    kind = tokens[0]
    if kind not in _BLOCK_TYPES:
        raise ValueError(
            f"unknown block type {kind!r} in {text!r}; expected one of {', '.join(_BLOCK_TYPES)}"
        )
    if kind == "pool":
        if len(tokens) > 1:
            raise ValueError(f"'pool' takes no options, got {text!r}")
        return GlobalPool()
    kwargs: dict[str, Any] = {}
    names = {"k": "kernel", "s": "stride", "c": "filters", "e": "expansion",
             "x": "expansion_filters", "g": "groups", "se": "se_ratio"}
    flags = {"fused": ("fused", True), "noskip": ("residual", False),
             "nobn": ("batch_norm", False), "bias": ("bias", True), "out": ("endpoint", True)}
    for tok in tokens[1:]:
        if tok in _ACT_TOKENS:
            kwargs["activation"] = _ACT_TOKENS[tok]
        elif tok in flags:
            key, val = flags[tok]
            kwargs[key] = val
        else:
            m = _TOKEN_RE.match(tok)
            if not m:
                raise ValueError(f"unknown token {tok!r} in block string {text!r}")
            key = names[m.group(1)]
            raw = m.group(2)
            if key in ("expansion", "se_ratio"):
                kwargs[key] = float(raw)
            elif raw.isdigit():
                kwargs[key] = int(raw)
            else:
                raise ValueError(f"{key} must be a whole number in {tok!r} of {text!r}")
    cls = _BLOCK_TYPES[kind]
    allowed = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise ValueError(f"option(s) {', '.join(bad)} not valid for a {kind!r} block: {text!r}")
    if "filters" not in kwargs:
        raise ValueError(f"block string {text!r} lacks the output width token c<filters>")
    return cls(**kwargs)


@dataclass(frozen=True)
class ArchSpec:
    """A whole network body: an ordered list of blocks plus the rules to scale and build it.

    Attributes:
        name: registry name (e.g. ``"multi_max"``) or a free name for searched architectures.
        blocks: the blocks, stem first; widths are base widths (width multiplier 1.0).
        divisible_by: channel divisor of the width rule (TF Model Garden: 8; MobileNetV1: 1).
        min_depth: smallest width a scaled layer may get.
        finegrain: keep the last width-carrying layer at its base width when width < 1
            (TF Model Garden ``finegrain_classification_mode``).
        bn_epsilon, bn_momentum: batch-norm settings (TF: 1e-3 / 0.99; PyTorch: 1e-5).
        padding: ``"same"`` (TF) or ``"symmetric"`` (PyTorch, k // 2 on each side).
        se_gate: gate of squeeze-excite blocks, ``"hard_sigmoid"``, ``"hard_sigmoid_tfm"`` (the
            Model Garden's constant 0.16667 instead of 1/6) or ``"sigmoid"``.
        description: one line for humans.
    """

    name: str
    blocks: tuple[Block, ...]
    divisible_by: int = 8
    min_depth: int = 8
    finegrain: bool = True
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    padding: str = "same"
    se_gate: str = "hard_sigmoid"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("ArchSpec.name must be a non-empty string")
        if not _NAME_RE.match(self.name):
            raise ValueError(f"ArchSpec.name must be 1-100 letters, digits, '_', '.' or '-' "
                             f"(it names files and layers), got {_short(self.name)}")
        if isinstance(self.blocks, str | bytes) or not hasattr(self.blocks, "__iter__"):
            raise ValueError(f"ArchSpec.blocks must be a sequence of blocks, got {self.blocks!r}")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if not self.blocks:
            raise ValueError(f"ArchSpec {self.name!r} has no blocks")
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"ArchSpec {self.name!r} has {len(self.blocks)} blocks; at most "
                             f"{MAX_BLOCKS} are supported")
        for b in self.blocks:
            if not isinstance(b, tuple(_BLOCK_TYPES.values())):
                raise ValueError(f"not a block: {b!r}")
        if not isinstance(self.blocks[0], Conv | DepthwiseSeparable):
            raise ValueError(f"ArchSpec {self.name!r} must start with a conv (or depthwise-"
                             f"separable) block, not {self.blocks[0].to_string()!r}")
        _check_int("divisible_by", self.divisible_by, maximum=MAX_FILTERS)
        _check_int("min_depth", self.min_depth, maximum=MAX_FILTERS)
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        if self.se_gate not in SE_GATES:
            raise ValueError(f"se_gate must be one of {SE_GATES}, got {self.se_gate!r}")
        if isinstance(self.bn_epsilon, bool) or not (
                isinstance(self.bn_epsilon, int | float) and 0 < self.bn_epsilon <= 1):
            raise ValueError(f"bn_epsilon must be in (0, 1], got {_short(self.bn_epsilon)}")
        if isinstance(self.bn_momentum, bool) or not (
                isinstance(self.bn_momentum, int | float) and 0 <= self.bn_momentum < 1):
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum!r}")
        _check_bools(self, "finegrain")

    # ------------------------------------------------------------------ views
    @property
    def endpoint_indices(self) -> tuple[int, ...]:
        """Indices of the blocks flagged as feature endpoints."""
        return tuple(i for i, b in enumerate(self.blocks) if getattr(b, "endpoint", False))

    def replace(self, **changes: Any) -> ArchSpec:
        """A copy with some fields changed (``dataclasses.replace``)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown spec field(s): {', '.join(unknown)}; expected some of "
                             f"{', '.join(sorted(known))}")
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, suitable for JSON."""
        blocks = []
        for b in self.blocks:
            d: dict[str, Any] = {"type": b.kind}
            d.update(dataclasses.asdict(b))
            blocks.append(d)
        out = {f.name: getattr(self, f.name)
               for f in dataclasses.fields(self) if f.name != "blocks"}
        out["blocks"] = blocks
        return out

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on malformed data."""
        if not isinstance(data, dict):
            raise ValueError("spec JSON must be an object with 'name' and 'blocks'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown spec field(s): {', '.join(unknown)}")
        if "name" not in data or "blocks" not in data:
            raise ValueError("spec JSON needs 'name' and 'blocks'")
        if not isinstance(data["blocks"], list):
            raise ValueError("spec 'blocks' must be a list")
        blocks = []
        for i, raw in enumerate(data["blocks"]):
            if isinstance(raw, str):
                blocks.append(parse_block(raw))
                continue
            if not isinstance(raw, dict) or "type" not in raw:
                raise ValueError(f"block {i} must be an object with a 'type' (or a block string)")
            kind = raw["type"]
            if not isinstance(kind, str) or kind not in _BLOCK_TYPES:
                raise ValueError(f"block {i}: unknown type {_short(kind)}")
            btype = _BLOCK_TYPES[kind]
            fields = {k: v for k, v in raw.items() if k != "type"}
            allowed = {f.name for f in dataclasses.fields(btype)}
            bad = sorted(set(fields) - allowed)
            if bad:
                raise ValueError(f"block {i} ({kind}): unknown field(s) {', '.join(bad)}")
            try:
                blocks.append(btype(**fields))
            except TypeError as exc:
                raise ValueError(f"block {i} ({kind}): {exc}") from None
        rest = {k: v for k, v in data.items() if k != "blocks"}
        return cls(blocks=tuple(blocks), **rest)

    def to_json(self, indent: int | None = 1) -> str:
        """Lossless JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        """Parse :meth:`to_json` output; ``ValueError`` with the reason on malformed input."""
        from mhzoo.safe_json import loads_bounded

        return cls.from_dict(loads_bounded(text, what="spec JSON"))

    @classmethod
    def from_file(cls, path: str | Path) -> ArchSpec:
        """Read a spec JSON file (or a ``config.json`` whose ``"spec"`` key holds one)."""
        from mhzoo.safe_json import read_json_file

        p = Path(path)
        data = read_json_file(p, what=f"spec JSON in {p}", file_label=f"spec file {p}",
                              expected="spec JSON")
        if isinstance(data, dict) and "spec" in data and "blocks" not in data:
            data = data["spec"]
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None

    # ------------------------------------------------------------------ compact string
    def to_string(self) -> str:
        """Readable one-line-per-block form: a header line, then one block string per line."""
        opts = [f"divisible_by={self.divisible_by}"]
        if self.min_depth != 8:
            opts.append(f"min_depth={self.min_depth}")
        if not self.finegrain:
            opts.append("finegrain=False")
        if self.bn_epsilon != 1e-3:
            opts.append(f"bn_epsilon={self.bn_epsilon!r}")
        if self.bn_momentum != 0.99:
            opts.append(f"bn_momentum={self.bn_momentum!r}")
        if self.padding != "same":
            opts.append(f"padding={self.padding}")
        if self.se_gate != "hard_sigmoid":
            opts.append(f"se_gate={self.se_gate}")
        lines = [f"{self.name}: {' '.join(opts)}"]
        lines += [f"  {i:>2} {b.to_string()}" for i, b in enumerate(self.blocks)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_string()
