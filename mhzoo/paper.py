"""Figures published in the paper (Chu et al. 2021), kept as data.

Table 1: Pixel 4, TFLite, batch 1, one thread (big core) for CPU; GPU = OpenCL delegate,
DSP = Hexagon delegate, EdgeTPU = NNAPI. ``None`` = not supported on that hardware.
Params/MAdds count conv/depthwise/dense kernels with a 1001-way classifier (no BN, no biases).
A test checks this table against ../shared/data/paper_table1_pixel4.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAPER_TARGETS", "TABLE1", "PaperRow", "table1_row"]

#: Hardware columns of Table 1, in the paper's order (CSV column = name + "_ms").
PAPER_TARGETS = ("cpu_float", "cpu_uint8", "gpu", "dsp", "edgetpu")


@dataclass(frozen=True)
class PaperRow:
    """One row of Table 1."""

    model: str
    width_multiplier: float
    top1_accuracy_pct: float
    params_m: float
    madds_m: float
    latency_ms: dict[str, float | None]
    mn_norm_avg: float | None
    mn_norm_max: float | None


def _row(model: str, wm: float, acc: float, params: float, madds: float,
         ms: tuple[float | None, ...], avg: float | None, mx: float | None) -> PaperRow:
    return PaperRow(model, wm, acc, params, madds, dict(zip(PAPER_TARGETS, ms)), avg, mx)


# Table 1 of the paper (Pixel 4): model, width, top-1 %, params M, MAdds M,
# (cpu_float, cpu_uint8, gpu, dsp, edgetpu) ms, MN-Norm avg, MN-Norm max.
TABLE1: tuple[PaperRow, ...] = (
    _row("mobilenet_v1", 1.25, 75.1, 6.25, 883, (54.7, 18.2, 7.12, 3.72, 2.84), 1.36, 1.49),
    _row("mobilenet_v2", 1.25, 75.3, 5.01, 487, (38.8, 16.6, 5.74, 4.97, 2.93), 1.28, 1.62),
    _row("mobilenet_v3_large", 1.0, 75.3, 5.45, 217, (20.3, 13.2, 5.61, 4.51, None), None, None),
    _row("mobilenet_v3_large_minimalistic", 1.25, 74.9, 5.73, 346,
         (27.7, 12.6, 4.56, 3.81, 2.58), 1.00, 1.25),
    _row("proxylessnas_mobile", 1.0, 74.9, 4.05, 321, (27.6, 14.8, 5.92, 3.90, 3.09), 1.14, 1.30),
    _row("mobilenet_edgetpu", 1.0, 76.2, 4.05, 991, (59.3, 19.4, 7.52, 4.29, 2.67), 1.44, 1.61),
    _row("multi_avg", 1.0, 75.8, 4.91, 433, (31.0, 13.9, 5.40, 3.81, 2.40), 1.06, 1.25),
    _row("multi_max", 1.0, 74.9, 4.39, 349, (25.2, 11.7, 4.47, 3.38, 2.22), 0.91, 1.10),
)


def table1_row(model: str, width: float | None = None) -> PaperRow | None:
    """The Table-1 row of ``model`` (at ``width`` when given), or ``None``."""
    for r in TABLE1:
        if r.model == model and (width is None or abs(r.width_multiplier - width) < 1e-9):
            return r
    return None
