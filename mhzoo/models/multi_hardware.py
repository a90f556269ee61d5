"""Multi-AVG and Multi-MAX (Chu et al. 2021, Table 1) and their segmentation backbones —
TF Model Garden ``MNMultiAVG/MAX[_SEG]_BLOCK_SPECS`` (= TuNAS ``mobilenet_multi_avg/max``).

ReLU only, no squeeze-excite, no hard-swish, no 7x7 kernels: every op runs on CPU int8, GPU,
DSP and EdgeTPU. The last 1x1 conv has batch norm and no bias (TF Model Garden; the paper-era
TuNAS code used a bias and no batch norm, with equal weight counts). Use ``divisible_by=32`` for
the TuNAS width rule of the paper's search space.
"""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec

_HEAD = ("conv_k1_s1_c960_relu", "pool", "conv_k1_s1_c1280_relu")


@register_model(title="Multi-AVG", paper_row="multi_avg", sources=(src.PAPER, src.TFM, src.TUNAS))
def multi_avg() -> ArchSpec:
    """Multi-AVG: searched for the best average MN-Norm latency over five hardware targets."""
    return ArchSpec(
        "multi_avg",
        table(
            "conv_k3_s2_c32_relu",
            "ib_k3_s2_e3_c32_relu",
            "ib_k3_s1_e2_c32_relu_out",
            "ib_k5_s2_e5_c64_relu",
            "ib_k3_s1_e3_c64_relu",
            "ib_k3_s1_e2_c64_relu",
            "ib_k3_s1_e3_c64_relu_out",
            "ib_k5_s2_e6_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e6_c160_relu",
            "ib_k3_s1_e4_c160_relu_out",
            "ib_k3_s2_e6_c192_relu",
            "ib_k5_s1_e4_c192_relu",
            "ib_k5_s1_e4_c192_relu",
            "ib_k5_s1_e4_c192_relu_out",
            *_HEAD,
        ),
        description="Multi-AVG (paper Table 1; TF Model Garden MobileNetMultiAVG)",
    )


@register_model(title="Multi-MAX", paper_row="multi_max", sources=(src.PAPER, src.TFM, src.TUNAS))
def multi_max() -> ArchSpec:
    """Multi-MAX: searched for the best worst-case MN-Norm latency over five hardware targets."""
    return ArchSpec(
        "multi_max",
        table(
            "conv_k3_s2_c32_relu",
            "ib_k3_s2_e3_c32_relu_out",
            "ib_k5_s2_e6_c64_relu",
            "ib_k3_s1_e2_c64_relu",
            "ib_k3_s1_e2_c64_relu_out",
            "ib_k5_s2_e6_c128_relu",
            "ib_k3_s1_e4_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e6_c128_relu",
            "ib_k3_s1_e3_c128_relu_out",
            "ib_k3_s2_e6_c160_relu",
            "ib_k5_s1_e4_c160_relu",
            "ib_k3_s1_e5_c160_relu",
            "ib_k5_s1_e4_c160_relu_out",
            *_HEAD,
        ),
        description="Multi-MAX (paper Table 1; TF Model Garden MobileNetMultiMAX)",
    )


@register_model(title="Multi-AVG-Seg", kind="backbone", sources=(src.TFM,))
def multi_avg_seg() -> ArchSpec:
    """Multi-AVG-Seg: Multi-AVG with a narrowed last stage and a 448 feature conv."""
    return ArchSpec(
        "multi_avg_seg",
        table(
            "conv_k3_s2_c32_relu",
            "ib_k3_s2_e3_c32_relu",
            "ib_k3_s1_e2_c32_relu_out",
            "ib_k5_s2_e5_c64_relu",
            "ib_k3_s1_e3_c64_relu",
            "ib_k3_s1_e2_c64_relu",
            "ib_k3_s1_e3_c64_relu_out",
            "ib_k5_s2_e6_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e6_c160_relu",
            "ib_k3_s1_e4_c160_relu_out",
            "ib_k3_s2_e6_c192_relu",
            "ib_k5_s1_e2_c96_relu",
            "ib_k5_s1_e4_c96_relu",
            "ib_k5_s1_e4_c96_relu",
            "conv_k1_s1_c448_relu_out",
            "pool",
            "conv_k1_s1_c1280_relu",
        ),
        description="Multi-AVG-Seg backbone (TF Model Garden MobileNetMultiAVGSeg)",
    )


@register_model(title="Multi-MAX-Seg", kind="backbone", sources=(src.TFM,))
def multi_max_seg() -> ArchSpec:
    """Multi-MAX-Seg: Multi-MAX with a narrowed last stage and a 448 feature conv."""
    return ArchSpec(
        "multi_max_seg",
        table(
            "conv_k3_s2_c32_relu",
            "ib_k3_s2_e3_c32_relu_out",
            "ib_k5_s2_e6_c64_relu",
            "ib_k3_s1_e2_c64_relu",
            "ib_k3_s1_e2_c64_relu_out",
            "ib_k5_s2_e6_c128_relu",
            "ib_k3_s1_e4_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e3_c128_relu",
            "ib_k3_s1_e6_c128_relu",
            "ib_k3_s1_e3_c128_relu_out",
            "ib_k3_s2_e6_c160_relu",
            "ib_k5_s1_e2_c96_relu",
            "ib_k3_s1_e4_c96_relu",
            "ib_k5_s1_e3.3333333333333335_c96_relu",  # 320 / 96
            "conv_k1_s1_c448_relu_out",
            "pool",
            "conv_k1_s1_c1280_relu",
        ),
        description="Multi-MAX-Seg backbone (TF Model Garden MobileNetMultiMAXSeg)",
    )
