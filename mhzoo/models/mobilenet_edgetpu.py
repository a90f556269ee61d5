"""MobileNet-EdgeTPU (Gupta & Akin 2019) — TF Model Garden ``MNV3EdgeTPU_BLOCK_SPECS``."""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec


@register_model(title="Mobilenet-EdgeTPU", paper_row="mobilenet_edgetpu",
                sources=(src.TFM, src.SLIM_V3))
def mobilenet_edgetpu() -> ArchSpec:
    """MobileNet-EdgeTPU: fused inverted bottlenecks in the early stages, relu, no SE."""
    return ArchSpec(
        "mobilenet_edgetpu",
        table(
            "conv_k3_s2_c32_relu",
            "ib_k3_s1_e1_c16_relu_fused",  # fused, no expansion: a lone 1x1 projection
            "ib_k3_s2_e8_c32_relu_fused",
            "ib_k3_s1_e4_c32_relu_fused",
            "ib_k3_s1_e4_c32_relu_fused",
            "ib_k3_s1_e4_c32_relu_fused_out",
            "ib_k3_s2_e8_c48_relu_fused",
            "ib_k3_s1_e4_c48_relu_fused",
            "ib_k3_s1_e4_c48_relu_fused",
            "ib_k3_s1_e4_c48_relu_fused_out",
            "ib_k3_s2_e8_c96_relu",
            "ib_k3_s1_e4_c96_relu",
            "ib_k3_s1_e4_c96_relu",
            "ib_k3_s1_e4_c96_relu",
            "ib_k3_s1_e8_c96_relu_noskip",
            "ib_k3_s1_e4_c96_relu",
            "ib_k3_s1_e4_c96_relu",
            "ib_k3_s1_e4_c96_relu_out",
            "ib_k5_s2_e8_c160_relu",
            "ib_k5_s1_e4_c160_relu",
            "ib_k5_s1_e4_c160_relu",
            "ib_k5_s1_e4_c160_relu",
            "ib_k3_s1_e8_c192_relu_out",
            "conv_k1_s1_c1280_relu",
        ),
        description="MobileNet-EdgeTPU (TF Model Garden MNV3EdgeTPU_BLOCK_SPECS)",
    )
