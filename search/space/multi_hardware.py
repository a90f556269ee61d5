"""``multi_hardware``: the paper's multi-hardware search space (Chu et al. 2021, section 6.1).

MobileNetV3-Large skeleton with ReLU only, no squeeze-excite, no hard-swish, so that every point
runs on CPU, GPU, DSP and EdgeTPU (paper eq. 1):

* stem: conv 3x3, stride 2, 32 channels (fixed);
* five inverted-bottleneck stages with strides 2, 2, 2, 1, 2, each of 1-4 layers (the first
  cannot be skipped); per layer: regular or fused IB, kernel 3 or 5, expansion 1-6 times the
  sampled base input width (TuNAS ``FilterMultiplier``; the expand conv is always built);
* per stage an output width: multipliers (0.5, 0.625, 0.75, 1, 1.25, 1.5, 2) of the base widths
  (16, 32, 64, 128, 256) (TuNAS ``mobilenet_v3_like`` base filters), rounded half-up to a
  multiple of 32 (``filters_base=32``) and deduplicated: {32}, {32, 64}, {32 .. 128},
  {64 .. 256}, {128 .. 512};
* head: conv 1x1 960, pool, conv 1x1 1280 (fixed).

With these base widths Multi-AVG and Multi-MAX are exact points. The option ``width`` applies the
TuNAS width rule (every width, the stem, the head and the absolute expansions rounded half-up to
``divisible_by``) to every decoded point, so ``scale_spec(multi_avg, 0.75, divisible_by=32)`` is a
point of ``get_space("multi_hardware", width=0.75)``: the genotype is the same at every width.

The non-structural option ``width_divisor`` (default: ``divisible_by``) is the divisor of that
second rounding only (``round_half_up(base * width, width_divisor)``; the base widths, the
choices and the genotypes stay those of ``divisible_by``). It exists for proxy decodings: at
``width=0.25`` with multiples of 32, 21 of the 64 decisions have choices that decode to the same
proxy network (stage 3's four widths all to 32 channels); with ``width_divisor=8`` every base
width (a multiple of 32) scales exactly and no two choices of a decision merge. The deployment
decoding keeps the default. When it equals ``divisible_by`` it is left out of ``options`` (and of
genotype strings), so existing genotypes keep their text.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mhzoo.search.space.base import Space
from mhzoo.search.space.staged import Width, add_ib_stage, check_common, check_pos, width
from mhzoo.spec import Conv, GlobalPool
from mhzoo.widths import check_width, round_half_up

__all__ = ["MultiHardwareSpace"]

STAGE_BASE = (16, 32, 64, 128, 256)  # TuNAS mobilenet_v3_like base filters of blocks 1-5
STEM, HEAD = 32, (960, 1280)  # paper section 6.1 / TuNAS mobilenet_multi_avg
STRIDES = (2, 2, 2, 1, 2)  # MobileNetV3-Large stage strides


class MultiHardwareSpace(Space):
    """The paper's multi-hardware space (see module docstring)."""

    name = "multi_hardware"
    summary = ("paper section 6.1: V3-Large skeleton, ReLU, no SE; 5 stages x 1-4 layers; "
               "regular/fused IB, k3/5, expansion 1-6; width multipliers; widths % 32")
    DEFAULTS: ClassVar[dict[str, Any]] = {"input_size": 224, "stem_stride": 2, "strides": STRIDES,
                                "width": 1.0, "divisible_by": 32, "max_layers": 4,
                                "width_divisor": None}
    STRUCTURAL = ("divisible_by", "max_layers")

    def _check_options(self, o: dict[str, Any]) -> dict[str, Any]:
        out = check_common(o, len(STRIDES)) | {
            "width": check_width(o["width"]),
            "divisible_by": check_pos("divisible_by", o["divisible_by"]),
            "max_layers": check_pos("max_layers", o["max_layers"]),
        }
        wd = out.pop("width_divisor")
        if wd is not None and check_pos("width_divisor", wd) != out["divisible_by"]:
            out["width_divisor"] = wd  # recorded only when it differs from the default
        return out

    @property
    def width_divisor(self) -> int:
        """Divisor of the rounding after the width multiplier (default ``divisible_by``)."""
        return self.options.get("width_divisor", self.options["divisible_by"])

    def _spec_fields(self) -> dict[str, Any]:
        return {"divisible_by": self.width_divisor}

    def _build(self) -> None:
        o = self.options
        b, w, b2 = o["divisible_by"], o["width"], self.width_divisor
        stem = Width(fixed=round_half_up(STEM, b))
        self.add_slot("stem", "stem", lambda idx: Conv(round_half_up(stem.fixed * w, b2), 3,
                                                     o["stem_stride"], "relu"))
        cin = stem
        for i, (base, stride) in enumerate(zip(STAGE_BASE, o["strides"], strict=True)):
            cout = width(self, f"stage{i + 1}/filters", base, b)
            add_ib_stage(self, stage=f"stage{i + 1}", stride=stride, layers=o["max_layers"],
                         cin=cin, cout=cout, divisor=b, scale=w, ops=("ib", "fused"),
                         kernels=(3, 5), expansions=(1, 2, 3, 4, 5, 6), scale_divisor=b2)
            cin = cout
        h1, h2 = (round_half_up(round_half_up(h, b) * w, b2) for h in HEAD)
        self.add_slot("head/conv", "head", lambda idx: Conv(h1, 1, 1, "relu"),
                      in_width=cin.decision)
        self.add_slot("head/pool", "head", lambda idx: GlobalPool())
        self.add_slot("head/conv2", "head", lambda idx: Conv(h2, 1, 1, "relu"))

