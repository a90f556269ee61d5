"""``proxylessnas``: TuNAS ``proxylessnas_search`` (search-algorithm.md section 1.3).

Fixed widths (32, 16, 32, 40, 80, 96, 192, 320, 1280; TuNAS ``PROXYLESSNAS_MOBILE_FILTERS``),
channel base 8, no SE:

* stem conv 3x3 s2 32; block 1: a depthwise-separable layer (IB without expansion conv) with
  kernel 3, 5 or 7 and 16 channels;
* blocks 2-6 (strides 2, 2, 2, 1, 2): a first IB that cannot be skipped and three skippable
  IBs; block 7 (stride 1): one IB; every IB has kernel 3/5/7 and expansion 3x or 6x of its input
  width (TuNAS ``collapse_shared_ops=True``: one layer = kernel, expansion and skip decisions);
* head conv 1x1 1280.

ProxylessNAS-Mobile (the registered ``proxylessnas_mobile``) is an exact point. Its official
activation is relu6, which is the default here; ``activation="relu"`` gives the TuNAS variant.
Size 10^21.3 (raw product 3 * 6^6 * 12^15, the TuNAS README's 10^21).
"""

from __future__ import annotations

from typing import Any, ClassVar

from mhzoo.search.space.base import Space
from mhzoo.search.space.staged import Width, add_ib_stage, check_common
from mhzoo.spec import Conv

__all__ = ["ProxylessNASSpace"]

FILTERS = (32, 16, 32, 40, 80, 96, 192, 320, 1280)  # TuNAS PROXYLESSNAS_MOBILE_FILTERS
STRIDES = (1, 2, 2, 2, 1, 2, 1)  # blocks 1-7
LAYERS = (1, 4, 4, 4, 4, 4, 1)
ACTIVATIONS = ("relu6", "relu")


class ProxylessNASSpace(Space):
    """TuNAS's ProxylessNAS space (see module docstring)."""

    name = "proxylessnas"
    summary = ("TuNAS proxylessnas_search: fixed widths, 7 blocks, k3/5/7, expansion 3/6, "
               "15 skippable layers; ProxylessNAS-Mobile is a point")
    DEFAULTS: ClassVar[dict[str, Any]] = {"input_size": 224, "stem_stride": 2, "strides": STRIDES,
                                "activation": "relu6"}
    STRUCTURAL = ()

    def _check_options(self, o: dict[str, Any]) -> dict[str, Any]:
        if o["activation"] not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got "
                             f"{o['activation']!r}")
        return check_common(o, len(STRIDES))

    def _spec_fields(self) -> dict[str, Any]:
        return {"divisible_by": 8}

    def _build(self) -> None:
        o = self.options
        act = o["activation"]
        self.add_slot("stem", "stem", lambda idx: Conv(FILTERS[0], 3, o["stem_stride"], act))
        cin = Width(fixed=FILTERS[0])
        for i, (stride, layers) in enumerate(zip(o["strides"], LAYERS, strict=True)):
            cout = Width(fixed=FILTERS[i + 1])
            add_ib_stage(self, stage=f"block{i + 1}", stride=stride, layers=layers, cin=cin,
                         cout=cout, divisor=8, scale=1.0, ops=("ib",), kernels=(3, 5, 7),
                         expansions=None if i == 0 else (3, 6), activation=act)
            cin = cout
        self.add_slot("head/conv", "head", lambda idx: Conv(FILTERS[-1], 1, 1, act))
