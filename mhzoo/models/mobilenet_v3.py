"""MobileNetV3 (Howard et al. 2019) — TF Model Garden ``MNV3Large/Small_BLOCK_SPECS`` and slim
``V3_LARGE_MINIMALISTIC``.

Stems scale with the width (TF Model Garden / slim; Keras keeps 16). The 1x1 head conv after
pooling has a bias and no batch norm.
"""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec


@register_model(title="MobilenetV3 Large", paper_row="mobilenet_v3_large",
                sources=(src.TFM, src.SLIM_V3))
def mobilenet_v3_large() -> ArchSpec:
    """MobileNetV3 Large: hard-swish, squeeze-excite with hard-sigmoid gate."""
    return ArchSpec(
        "mobilenet_v3_large",
        table(
            "conv_k3_s2_c16_hs",
            "ib_k3_s1_e1_c16_relu",
            "ib_k3_s2_e4_c24_relu",
            "ib_k3_s1_e3_c24_relu_out",
            "ib_k5_s2_e3_c40_se0.25_relu",
            "ib_k5_s1_e3_c40_se0.25_relu",
            "ib_k5_s1_e3_c40_se0.25_relu_out",
            "ib_k3_s2_e6_c80_hs",
            "ib_k3_s1_e2.5_c80_hs",
            "ib_k3_s1_e2.3_c80_hs",
            "ib_k3_s1_e2.3_c80_hs",
            "ib_k3_s1_e6_c112_se0.25_hs",
            "ib_k3_s1_e6_c112_se0.25_hs_out",
            "ib_k5_s2_e6_c160_se0.25_hs",
            "ib_k5_s1_e6_c160_se0.25_hs",
            "ib_k5_s1_e6_c160_se0.25_hs_out",
            "conv_k1_s1_c960_hs",
            "pool",
            "conv_k1_s1_c1280_hs_nobn_bias",
        ),
        description="MobileNetV3 Large (TF Model Garden MNV3Large_BLOCK_SPECS)",
    )


@register_model(title="MobilenetV3 Large minimalistic",
                paper_row="mobilenet_v3_large_minimalistic", sources=(src.SLIM_V3, src.KERAS_V3))
def mobilenet_v3_large_minimalistic() -> ArchSpec:
    """MobileNetV3 Large minimalistic: 3x3 kernels, relu, no SE, no hard-swish."""
    return ArchSpec(
        "mobilenet_v3_large_minimalistic",
        table(
            "conv_k3_s2_c16_relu",
            "ib_k3_s1_e1_c16_relu",
            "ib_k3_s2_e4_c24_relu",
            "ib_k3_s1_e3_c24_relu_out",
            "ib_k3_s2_e3_c40_relu",
            "ib_k3_s1_e3_c40_relu",
            "ib_k3_s1_e3_c40_relu_out",
            "ib_k3_s2_e6_c80_relu",
            "ib_k3_s1_e2.5_c80_relu",
            "ib_k3_s1_e2.3_c80_relu",
            "ib_k3_s1_e2.3_c80_relu",
            "ib_k3_s1_e6_c112_relu",
            "ib_k3_s1_e6_c112_relu_out",
            "ib_k3_s2_e6_c160_relu",
            "ib_k3_s1_e6_c160_relu",
            "ib_k3_s1_e6_c160_relu_out",
            "conv_k1_s1_c960_relu",
            "pool",
            "conv_k1_s1_c1280_relu_nobn_bias",
        ),
        description="MobileNetV3 Large minimalistic (slim V3_LARGE_MINIMALISTIC)",
    )


@register_model(title="MobilenetV3 Small", sources=(src.TFM, src.SLIM_V3))
def mobilenet_v3_small() -> ArchSpec:
    """MobileNetV3 Small: the low-resource V3 (not in the paper's Table 1)."""
    return ArchSpec(
        "mobilenet_v3_small",
        table(
            "conv_k3_s2_c16_hs",
            "ib_k3_s2_e1_c16_se0.25_relu_out",
            "ib_k3_s2_e4.5_c24_relu",  # 72/16
            "ib_k3_s1_e3.6666666666666665_c24_relu_out",  # 88/24
            "ib_k5_s2_e4_c40_se0.25_hs",
            "ib_k5_s1_e6_c40_se0.25_hs",
            "ib_k5_s1_e6_c40_se0.25_hs",
            "ib_k5_s1_e3_c48_se0.25_hs",
            "ib_k5_s1_e3_c48_se0.25_hs_out",
            "ib_k5_s2_e6_c96_se0.25_hs",
            "ib_k5_s1_e6_c96_se0.25_hs",
            "ib_k5_s1_e6_c96_se0.25_hs_out",
            "conv_k1_s1_c576_hs",
            "pool",
            "conv_k1_s1_c1024_hs_nobn_bias",
        ),
        description="MobileNetV3 Small (TF Model Garden MNV3Small_BLOCK_SPECS)",
    )
