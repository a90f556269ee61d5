"""``fbnet``: the FBNet space of HW-NAS-Bench / HELP (22 layers x 9 ops).

Op indices (the ``ops`` column of ../shared/data/fbnet-latency; HW-NAS-Bench
``hw_nas_bench_api``): 0 k3_e1, 1 k3_e1_g2, 2 k3_e3, 3 k3_e6, 4 k5_e1, 5 k5_e1_g2, 6 k5_e3,
7 k5_e6, 8 skip. A ``kK_eE[_gG]`` op is an inverted bottleneck that always builds its 1x1 expand
conv (``E`` x input width, exact), a depthwise K x K conv and a linear 1x1 projection, ReLU; with
``gG`` both 1x1 convs are grouped (HW-NAS-Bench also shuffles the channels after the expand conv;
mhzoo's grouped block has no shuffle, see :class:`mhzoo.spec.InvertedBottleneck`). ``skip`` is
the identity when the shape is unchanged, else a 1x1 conv + BN + ReLU with the layer's stride.

Stages have ``[1, 4, 4, 4, 4, 4, 1]`` with widths
``[16, 24, 32, 64, 112, 184, 352]``; stem conv 3x3 16; head conv 1x1 then global pooling and the
classifier. Two configurations (``config``):

* ``"cifar"`` (default; the shared latency data): 32 px, stem stride 1, strides
  ``[1, 1, 2, 2, 1, 2, 1]``, head 1504, 100 classes;
* ``"imagenet"``: 224 px, stem stride 2, strides ``[1, 2, 2, 2, 1, 2, 1]``, head 1984, 1000
  classes.

The options ``input_size``, ``stem_stride``, ``strides`` and ``head`` override the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar

from mhzoo.search.space.base import Space
from mhzoo.search.space.genotype import Genotype
from mhzoo.search.space.staged import check_common, check_pos
from mhzoo.spec import ArchSpec, Block, Conv, InvertedBottleneck

__all__ = ["CONFIGS", "OPS", "FBNetSpace"]

#: (name, kernel, expansion, groups); None = skip (HW-NAS-Bench PRIMITIVES order)
OPS: tuple[tuple[str, int, int, int] | tuple[str, None, None, None], ...] = (
    ("k3_e1", 3, 1, 1), ("k3_e1_g2", 3, 1, 2), ("k3_e3", 3, 3, 1), ("k3_e6", 3, 6, 1),
    ("k5_e1", 5, 1, 1), ("k5_e1_g2", 5, 1, 2), ("k5_e3", 5, 3, 1), ("k5_e6", 5, 6, 1),
    ("skip", None, None, None),
)
LAYERS = (1, 4, 4, 4, 4, 4, 1)  # HW-NAS-Bench num_layer_list (FBNetV1)
WIDTHS = (16, 24, 32, 64, 112, 184, 352)  # num_channel_list
STEM = 16
#: HW-NAS-Bench fbnet_get_metrics: CIFAR-100 and ImageNet settings
CONFIGS: dict[str, dict[str, Any]] = {
    "cifar": {"input_size": 32, "stem_stride": 1, "strides": (1, 1, 2, 2, 1, 2, 1),
              "head": 1504, "num_classes": 100},
    "imagenet": {"input_size": 224, "stem_stride": 2, "strides": (1, 2, 2, 2, 1, 2, 1),
                 "head": 1984, "num_classes": 1000},
}


class FBNetSpace(Space):
    """The HW-NAS-Bench FBNet space (see module docstring)."""

    name = "fbnet"
    summary = "HW-NAS-Bench / HELP FBNet: 22 layers x 9 ops (k3/k5, e1/e3/e6, g2, skip)"
    DEFAULTS: ClassVar[dict[str, Any]] = {"config": "cifar", "input_size": None,
                                          "stem_stride": None, "strides": None, "head": None}

    def __init__(self, **options: Any) -> None:
        cfg = options.get("config") or self.DEFAULTS["config"]
        if cfg not in CONFIGS:
            raise ValueError(f"fbnet config must be one of {', '.join(CONFIGS)}, got {cfg!r}")
        filled = {k: CONFIGS[cfg][k] for k in ("input_size", "stem_stride", "strides", "head")}
        filled.update({k: v for k, v in options.items() if v is not None})
        super().__init__(**{**filled, "config": cfg})

    def _check_options(self, o: dict[str, Any]) -> dict[str, Any]:
        return check_common(o, len(LAYERS)) | {"head": check_pos("head", o["head"])}

    def _spec_fields(self) -> dict[str, Any]:
        # PyTorch batch-norm defaults of the HW-NAS-Bench models
        return {"divisible_by": 8, "bn_epsilon": 1e-5, "bn_momentum": 0.9}

    @property
    def num_classes(self) -> int:
        """Classifier size of the configuration (100 for CIFAR-100, 1000 for ImageNet)."""
        return CONFIGS[self.options["config"]]["num_classes"]

    def _build(self) -> None:
        o = self.options
        self.add_slot("stem", "stem", lambda idx: Conv(STEM, 3, o["stem_stride"], "relu"))
        cin = STEM
        n = 0
        for s, (layers, cout, stride) in enumerate(zip(LAYERS, WIDTHS, o["strides"],
                                                       strict=True)):
            for j in range(layers):
                d = self.decide(f"stage{s}/layer{j}/op", "op", tuple(op[0] for op in OPS))
                self.add_slot(f"layer{n}", "body",
                           lambda idx, _d=d, _ci=cin if j == 0 else cout, _co=cout,
                           _st=stride if j == 0 else 1: _block(idx[_d], _ci, _co, _st),
                           ops=[d])
                n += 1
            cin = cout
        self.add_slot("head/conv", "head", lambda idx: Conv(o["head"], 1, 1, "relu"))

    def decode_ops(self, ops: Sequence[int] | str) -> ArchSpec:
        """The spec of a list of 22 op indices (the ``ops`` column of the latency CSV)."""
        return self.decode(self.genotype_from_ops(ops))

    def genotype_from_ops(self, ops: Sequence[int] | str) -> Genotype:
        """Genotype of 22 op indices (a list, or a space-separated string as in the CSV)."""
        if isinstance(ops, str):
            try:
                ops = [int(t) for t in ops.split()]
            except ValueError:
                raise ValueError(f"fbnet ops must be integers 0-8, got {ops!r:.60}") from None
        return self.genotype(list(ops))


@lru_cache(maxsize=1024)
def _block(op: int, cin: int, cout: int, stride: int) -> Block | None:
    """The block of one op (cached: blocks are immutable)."""
    _, k, e, g = OPS[op]
    if k is None:
        if stride == 1 and cin == cout:
            return None
        return Conv(cout, 1, stride, "relu")
    return InvertedBottleneck(cout, k, stride, expansion=1.0, expansion_filters=cin * e,
                              activation="relu", groups=g)
