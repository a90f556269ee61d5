"""MobileNetV1 (Howard et al. 2017) — TF Model Garden ``MNV1_BLOCK_SPECS``."""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec


@register_model(title="MobileNetV1", paper_row="mobilenet_v1", sources=(src.TFM, src.SLIM_V1))
def mobilenet_v1() -> ArchSpec:
    """MobileNetV1: 13 depthwise-separable blocks, relu6; the paper's normalization reference."""
    return ArchSpec(
        "mobilenet_v1",
        table(
            "conv_k3_s2_c32_relu6",
            "ds_k3_s1_c64_relu6",
            "ds_k3_s2_c128_relu6",
            "ds_k3_s1_c128_relu6_out",
            "ds_k3_s2_c256_relu6",
            "ds_k3_s1_c256_relu6_out",
            "ds_k3_s2_c512_relu6",
            "ds_k3_s1_c512_relu6",
            "ds_k3_s1_c512_relu6",
            "ds_k3_s1_c512_relu6",
            "ds_k3_s1_c512_relu6",
            "ds_k3_s1_c512_relu6_out",
            "ds_k3_s2_c1024_relu6",
            "ds_k3_s1_c1024_relu6_out",
        ),
        divisible_by=1,  # V1 widths: round(f * width), at least 8 (TF Model Garden)
        finegrain=False,  # the 1024 layer scales at every width
        description="MobileNetV1 (TF Model Garden MNV1_BLOCK_SPECS)",
    )
