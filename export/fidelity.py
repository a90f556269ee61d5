"""How closely an exported .tflite follows the Keras model it came from, measured on LiteRT.

The comparison is on logits (issue 3: "float TFLite vs Keras max abs logit difference;
quantized vs float ... top-1 agreement and SQNR or cosine similarity of logits"). A model that
ends in SOFTMAX is run with the SOFTMAX op's input added as an extra graph output (the
flatbuffer is repacked, every kernel and delegate stays as deployed), dequantized with that
tensor's own scale and zero point, and compared with the Keras ``classifier`` layer output.
A uint8 softmax output (scale 1/256) cannot show logit-level differences, so probabilities are
only a secondary figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["FidelityReport", "compare", "logits_tensor", "run_tflite", "run_tflite_outputs"]

#: single-input ops that may sit between the SOFTMAX and the graph output
_PASS_THROUGH = ("QUANTIZE", "DEQUANTIZE", "RESHAPE")


def _op_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as S

    return {v: k for k, v in vars(S.BuiltinOperator).items()
            if not k.startswith("_") and isinstance(v, int)}


def logits_tensor(model: bytes) -> int | None:
    """Index (subgraph 0) of the logits of a single-output model that ends in SOFTMAX: the
    SOFTMAX op's input, found by walking back from the output through QUANTIZE / DEQUANTIZE /
    RESHAPE. ``None`` when the output is not produced by a SOFTMAX."""
    from ai_edge_litert import schema_py_generated as S

    m = S.Model.GetRootAsModel(model, 0)
    sg = m.Subgraphs(0)
    if sg.OutputsLength() != 1:
        return None
    names = _op_names()
    producer: dict[int, tuple[str, list[int]]] = {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "")
        ins = [op.Inputs(j) for j in range(op.InputsLength()) if op.Inputs(j) >= 0]
        for j in range(op.OutputsLength()):
            producer[op.Outputs(j)] = (name, ins)
    tensor = sg.Outputs(0)
    for _ in range(8):
        name, ins = producer.get(tensor, ("", []))
        if name == "SOFTMAX" and ins:
            return ins[0]
        if name not in _PASS_THROUGH or not ins:
            return None
        tensor = ins[0]
    return None


def _with_extra_output(model: bytes, tensor: int) -> bytes:
    """The model with ``tensor`` appended to subgraph 0's outputs (repacked flatbuffer)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    mt = S.ModelT.InitFromPackedBuf(bytearray(model), 0)
    sg = mt.subgraphs[0]
    sg.outputs = [*list(sg.outputs), tensor]
    builder = flatbuffers.Builder(1024)
    builder.Finish(mt.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _dequantize(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    y = y.astype(np.float32)
    if detail["dtype"] in (np.uint8, np.int8, np.int16):
        scale, zp = detail["quantization"]
        y = (y - zp) * scale
    return y


def run_tflite_outputs(model: bytes, images: np.ndarray, num_threads: int = 1
                       ) -> dict[str, np.ndarray | None]:
    """Run a single-input, single-output .tflite on ``images`` (N, H, W, C floats in [0, 255])
    with ``ai_edge_litert``.

    Returns ``{"output": ..., "logits": ...}``, both float (dequantized) and stacked over N;
    ``logits`` is the SOFTMAX input of a model that ends in SOFTMAX (see :func:`logits_tensor`),
    the output itself for a model that does not.
    """
    from ai_edge_litert.interpreter import Interpreter

    from mhzoo.export._quiet import captured_output

    logit_idx = logits_tensor(model)
    content = _with_extra_output(model, logit_idx) if logit_idx is not None else model
    with captured_output():  # "Created TensorFlow Lite XNNPACK delegate"
        it = Interpreter(model_content=content, num_threads=num_threads)
        it.allocate_tensors()
    inp = it.get_input_details()[0]
    outs = it.get_output_details()
    out = outs[0]
    logit = next((d for d in outs if d["index"] == logit_idx), None)
    got: list[np.ndarray] = []
    got_logits: list[np.ndarray] = []
    for img in images:
        x = img[None].astype(np.float32)
        if inp["dtype"] in (np.uint8, np.int8):
            scale, zp = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zp), info.min, info.max)
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        it.invoke()
        got.append(_dequantize(it.get_tensor(out["index"]), out)[0])
        if logit is not None:
            got_logits.append(_dequantize(it.get_tensor(logit["index"]), logit)[0])
    output = np.stack(got)
    return {"output": output, "logits": np.stack(got_logits) if logit is not None else output}


def run_tflite(model: bytes, images: np.ndarray, num_threads: int = 1, *,
               logits: bool = False) -> np.ndarray:
    """The model's (dequantized) output on ``images``, stacked over N; with ``logits=True`` the
    logits instead (the SOFTMAX input when the model ends in SOFTMAX)."""
    res = run_tflite_outputs(model, images, num_threads)
    return res["logits"] if logits else res["output"]  # type: ignore[return-value]


@dataclass
class FidelityReport:
    """Export fidelity, printed after an export and stored next to the model as JSON.

    ``sqnr_db`` is ``None`` when the error is exactly 0 (infinite SQNR; JSON has no infinity).
    """

    mode: str
    output_kind: str  # "logits", or "probabilities" / "outputs" when no logits were found
    num_images: int
    images: str
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    cosine_similarity: float
    sqnr_db: float | None
    #: images whose float top-1 margin (best - second best) is below the largest output error:
    #: their top-1 can flip on noise alone (typical of untrained, near-uniform outputs)
    ambiguous_top1: int = 0
    #: where the logits were read: "SOFTMAX input" or "model output"
    logits_from: str | None = None
    #: secondary figure for softmax models: largest absolute difference of the probabilities
    probabilities_max_abs_diff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def format(self) -> str:
        sqnr = "inf" if self.sqnr_db is None else f"{self.sqnr_db:.1f}"
        kind = self.output_kind + (f" ({self.logits_from})" if self.logits_from else "")
        probs = (f"; probabilities max |diff| {self.probabilities_max_abs_diff:.3g}"
                 if self.probabilities_max_abs_diff is not None else "")
        return (f"  {self.mode} vs Keras float on {self.num_images} {self.images} image(s), "
                f"{kind}: max |diff| {self.max_abs_diff:.3g}, top-1 agreement "
                f"{self.top1_agreement:.1%}, cosine {self.cosine_similarity:.4f}, "
                f"SQNR {sqnr} dB{probs}" + (
                    f" ({self.ambiguous_top1} of {self.num_images} image(s) have a float top-1 "
                    "margin below the output error, e.g. untrained weights: their top-1 can flip "
                    "on noise alone)" if self.ambiguous_top1 else ""))


def compare(reference: np.ndarray, exported: np.ndarray, *, mode: str, output_kind: str,
            images: str, logits_from: str | None = None,
            probabilities: tuple[np.ndarray, np.ndarray] | None = None) -> FidelityReport:
    """Fidelity of ``exported`` outputs against ``reference`` (both (N, classes) floats).

    ``probabilities``: optional (reference, exported) softmax outputs for the secondary figure.
    """
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = exported.reshape(len(exported), -1).astype(np.float64)
    if not (np.isfinite(ref).all() and np.isfinite(got).all()):
        raise ValueError(f"{mode} export produced non-finite outputs (NaN or inf); the model "
                         "or its weights overflow")
    diff = np.abs(ref - got)
    num = np.sum(ref * got, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cos = np.clip(np.where(den > 0, num / np.maximum(den, 1e-300), 1.0), -1.0, 1.0)
    noise = float(np.sum((ref - got) ** 2))
    signal = float(np.sum(ref ** 2))
    sqnr = None if noise == 0 else float(10 * math.log10(max(signal, 1e-300) / noise))
    prob_diff = None
    if probabilities is not None:
        pr, pg = (np.asarray(p, np.float64).reshape(len(p), -1) for p in probabilities)
        prob_diff = float(np.abs(pr - pg).max())
    return FidelityReport(
        mode=mode, output_kind=output_kind, num_images=len(ref), images=images,
        max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
        top1_agreement=float(np.mean(ref.argmax(1) == got.argmax(1))),
        cosine_similarity=float(cos.mean()), sqnr_db=sqnr,
        ambiguous_top1=_ambiguous_top1(ref, float(diff.max())), logits_from=logits_from,
        probabilities_max_abs_diff=prob_diff)


def _ambiguous_top1(ref: np.ndarray, error: float) -> int:
    """How many rows have a top-1 margin no larger than ``error``."""
    if ref.shape[1] < 2:
        return 0
    top2 = np.sort(ref, axis=1)[:, -2:]
    return int(np.sum(top2[:, 1] - top2[:, 0] <= error))
