"""``mobilenet_v3_like``: TuNAS ``mobilenet_v3_like_search`` (search-algorithm.md section 1.4).

Channel base 8, width multipliers (0.5 ... 2) of the base widths, squeeze-excite searched:

* stem: conv s2 with kernel 3 or 5, hard-swish, width 16 x multipliers -> {8, 16, 24, 32}; then
  a skippable residual separable layer (depthwise kernel 3/5/7, ReLU, no expansion conv);
* blocks 1-5 (strides 2, 2, 2, 1, 2; ReLU, ReLU, hard-swish x3; base widths 16, 32, 64, 128,
  256): a first IB and three skippable IBs, each with kernel 3/5/7, expansion 1-6x of the
  sampled input width and SE (ratio 0.25) on or off;
* head: conv 1x1 (BN, hard-swish) 512 x multipliers, pool, conv 1x1 (bias, no BN, hard-swish)
  1024 x multipliers.

86 decisions, as in TuNAS; raw product 10^42.9 (TuNAS README: 10^43). The SE gate is the zoo's
hard-sigmoid (the TuNAS reproduction of MobileNetV3 uses a plain sigmoid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from mhzoo.search.space.base import Space
from mhzoo.search.space.staged import add_ib_stage, check_common, width
from mhzoo.spec import Conv, GlobalPool, InvertedBottleneck

__all__ = ["MobileNetV3LikeSpace"]

BASE = (16, 16, 32, 64, 128, 256, 512, 1024)  # TuNAS base_filters: stem, blocks 1-5, heads
STRIDES = (2, 2, 2, 1, 2)
ACTS = ("relu", "relu", "hard_swish", "hard_swish", "hard_swish")


class MobileNetV3LikeSpace(Space):
    """TuNAS's MobileNetV3-like space (see module docstring)."""

    name = "mobilenet_v3_like"
    summary = ("TuNAS mobilenet_v3_like_search: searched widths (base 8), k3/5/7, expansion "
               "1-6, SE on/off, hard-swish late stages, skippable stem sepconv")
    DEFAULTS: ClassVar[dict[str, Any]] = {"input_size": 224, "stem_stride": 2, "strides": STRIDES}

    def _check_options(self, o: dict[str, Any]) -> dict[str, Any]:
        return check_common(o, len(STRIDES))

    def _build(self) -> None:
        o = self.options
        stem_w = width(self, "stem/filters", BASE[0], 8)
        kdec = self.decide("stem/kernel", "op", (3, 5))
        self.add_slot("stem", "stem", lambda idx: Conv(stem_w.base(self, idx),
                                                     self.value(idx, kdec), o["stem_stride"],
                                                     "hard_swish"),
                   out_width=stem_w.decision, ops=[kdec])
        sep_op = self.decide("stem/sepconv/op", "op", ("sepconv", "skip"))
        sep_k = self.decide("stem/sepconv/kernel", "op", (3, 5, 7), sep_op, (0,))

        def sepconv(idx: Sequence[int]) -> InvertedBottleneck | None:
            if idx[sep_op] == 1:
                return None
            return InvertedBottleneck(stem_w.base(self, idx), self.value(idx, sep_k), 1,
                                      expansion=1.0, activation="relu")

        self.add_slot("stem/sepconv", "stem", sepconv, in_width=stem_w.decision,
                   out_width=stem_w.decision, ops=[sep_op, sep_k])
        cin = stem_w
        for i, (stride, act) in enumerate(zip(o["strides"], ACTS, strict=True)):
            cout = width(self, f"block{i + 1}/filters", BASE[i + 1], 8)
            add_ib_stage(self, stage=f"block{i + 1}", stride=stride, layers=4, cin=cin,
                         cout=cout, divisor=8, scale=1.0, ops=("ib",), kernels=(3, 5, 7),
                         expansions=(1, 2, 3, 4, 5, 6), se=True, activation=act)
            cin = cout
        h1 = width(self, "head/filters", BASE[6], 8)
        h2 = width(self, "head2/filters", BASE[7], 8)
        self.add_slot("head/conv", "head", lambda idx: Conv(h1.base(self, idx), 1, 1, "hard_swish"),
                   in_width=cin.decision, out_width=h1.decision)
        self.add_slot("head/pool", "head", lambda idx: GlobalPool())
        self.add_slot("head2/conv", "head",
                   lambda idx: Conv(h2.base(self, idx), 1, 1, "hard_swish", batch_norm=False,
                                    bias=True),
                   in_width=h1.decision, out_width=h2.decision)
