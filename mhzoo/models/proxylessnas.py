"""ProxylessNAS-Mobile (Cai et al. 2019) — official ``proxyless_mobile.config``.

There is no official width rule; other widths use the TF Model Garden rule (a zoo choice).
"""

from mhzoo.models import _sources as src
from mhzoo.models._entry import register_model
from mhzoo.models._table import table
from mhzoo.spec import ArchSpec


@register_model(title="ProxylessNAS-Mobile", paper_row="proxylessnas_mobile",
                sources=(src.PROXYLESS, src.OSMR, src.TUNAS))
def proxylessnas_mobile() -> ArchSpec:
    """ProxylessNAS-Mobile: searched for the Pixel 1 CPU; kernels 3/5/7, relu6."""
    return ArchSpec(
        "proxylessnas_mobile",
        table(
            "conv_k3_s2_c32_relu6",
            "ib_k3_s1_e1_c16_relu6",
            "ib_k5_s2_e3_c32_relu6",
            "ib_k3_s1_e3_c32_relu6_out",
            "ib_k7_s2_e3_c40_relu6",
            "ib_k3_s1_e3_c40_relu6",
            "ib_k5_s1_e3_c40_relu6",
            "ib_k5_s1_e3_c40_relu6_out",
            "ib_k7_s2_e6_c80_relu6",
            "ib_k5_s1_e3_c80_relu6",
            "ib_k5_s1_e3_c80_relu6",
            "ib_k5_s1_e3_c80_relu6",
            "ib_k5_s1_e6_c96_relu6",
            "ib_k5_s1_e3_c96_relu6",
            "ib_k5_s1_e3_c96_relu6",
            "ib_k5_s1_e3_c96_relu6_out",
            "ib_k7_s2_e6_c192_relu6",
            "ib_k7_s1_e6_c192_relu6",
            "ib_k7_s1_e3_c192_relu6",
            "ib_k7_s1_e3_c192_relu6",
            "ib_k7_s1_e6_c320_relu6_out",
            "conv_k1_s1_c1280_relu6",
        ),
        description="ProxylessNAS-Mobile (official proxyless_mobile.config)",
    )
