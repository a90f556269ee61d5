"""How closely an exported .tflite follows the Keras model it came from, measured on LiteRT.

Float exports: the largest absolute output difference from Keras. Quantized exports: top-1
agreement, cosine similarity and SQNR of the outputs against the float Keras model on the
calibration (or evaluation) images.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["FidelityReport", "compare", "run_tflite"]


def run_tflite(model: bytes, images: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Run a single-input, single-output .tflite on ``images`` (N, H, W, C floats in [0, 255])
    with ``ai_edge_litert``; returns float outputs (dequantized), stacked over N."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model, num_threads=num_threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    results = []
    for img in images:
        x = img[None].astype(np.float32)
        if inp["dtype"] in (np.uint8, np.int8):
            scale, zp = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zp), info.min, info.max)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        y = it.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] in (np.uint8, np.int8):
            scale, zp = out["quantization"]
            y = (y - zp) * scale
        results.append(y[0])
    return np.stack(results)


@dataclass
class FidelityReport:
    """Export fidelity, printed after an export and stored next to the model as JSON."""

    mode: str
    output_kind: str  # "probabilities" (softmax output) or "logits"
    num_images: int
    images: str
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    cosine_similarity: float
    sqnr_db: float
    #: images whose float top-1 margin (best - second best) is below the largest output error:
    #: their top-1 can flip on noise alone (typical of untrained, near-uniform outputs)
    ambiguous_top1: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def format(self) -> str:
        return (f"  {self.mode} vs Keras float on {self.num_images} {self.images} image(s), "
                f"{self.output_kind}: max |diff| {self.max_abs_diff:.3g}, top-1 agreement "
                f"{self.top1_agreement:.1%}, cosine {self.cosine_similarity:.4f}, "
                f"SQNR {self.sqnr_db:.1f} dB" + (
                    f" ({self.ambiguous_top1} of {self.num_images} image(s) have a float top-1 "
                    "margin below the output error, e.g. untrained weights: their top-1 can flip "
                    "on noise alone)" if self.ambiguous_top1 else ""))


def compare(reference: np.ndarray, exported: np.ndarray, *, mode: str, output_kind: str,
            images: str) -> FidelityReport:
    """Fidelity of ``exported`` outputs against ``reference`` (both (N, classes) floats)."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = exported.reshape(len(exported), -1).astype(np.float64)
    diff = np.abs(ref - got)
    num = np.sum(ref * got, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cos = np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)
    noise = np.sum((ref - got) ** 2)
    signal = np.sum(ref ** 2)
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(max(signal, 1e-30) / noise))
    return FidelityReport(
        mode=mode, output_kind=output_kind, num_images=len(ref), images=images,
        max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
        top1_agreement=float(np.mean(ref.argmax(1) == got.argmax(1))),
        cosine_similarity=float(cos.mean()), sqnr_db=sqnr,
        ambiguous_top1=_ambiguous_top1(ref, float(diff.max())))


def _ambiguous_top1(ref: np.ndarray, error: float) -> int:
    """How many rows have a top-1 margin no larger than ``error``."""
    if ref.shape[1] < 2:
        return 0
    top2 = np.sort(ref, axis=1)[:, -2:]
    return int(np.sum(top2[:, 1] - top2[:, 0] <= error))
