"""MobileNetV2 (Sandler et al. 2018) — TF Model Garden ``MNV2_BLOCK_SPECS``."""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec


@register_model(title="MobileNetV2", paper_row="mobilenet_v2", sources=(src.TFM,))
def mobilenet_v2() -> ArchSpec:
    """MobileNetV2: inverted bottlenecks with linear projections, relu6."""
    return ArchSpec(
        "mobilenet_v2",
        table(
            "conv_k3_s2_c32_relu6",
            "ib_k3_s1_e1_c16_relu6",
            "ib_k3_s2_e6_c24_relu6",
            "ib_k3_s1_e6_c24_relu6_out",
            "ib_k3_s2_e6_c32_relu6",
            "ib_k3_s1_e6_c32_relu6",
            "ib_k3_s1_e6_c32_relu6_out",
            "ib_k3_s2_e6_c64_relu6",
            "ib_k3_s1_e6_c64_relu6",
            "ib_k3_s1_e6_c64_relu6",
            "ib_k3_s1_e6_c64_relu6",
            "ib_k3_s1_e6_c96_relu6",
            "ib_k3_s1_e6_c96_relu6_out",
            "ib_k3_s1_e6_c96_relu6",
            "ib_k3_s2_e6_c160_relu6",
            "ib_k3_s1_e6_c160_relu6",
            "ib_k3_s1_e6_c160_relu6",
            "ib_k3_s1_e6_c320_relu6_out",
            "conv_k1_s1_c1280_relu6",
        ),
        description="MobileNetV2 (TF Model Garden MNV2_BLOCK_SPECS)",
    )
