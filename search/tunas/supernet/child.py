"""Child inheritance: a sampled architecture's weights sliced out of the supernet in mhzoo's
variable names, and the child built with :func:`mhzoo.build` holding them (a warm start for
retraining; the child reproduces the supernet path's logits)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mhzoo.builder import build
from mhzoo.search.tunas.supernet.plan import BranchPlan, FamilyPlan
from mhzoo.spec import Conv, DepthwiseSeparable, InvertedBottleneck
from mhzoo.variables import assign_named_weights
from mhzoo.widths import se_filters

__all__ = ["build_child", "child_weights"]


def child_weights(supernet: Any, idx: Sequence[int]) -> dict[str, np.ndarray]:
    """The weights of the architecture ``idx`` (choice indices) sliced out of ``supernet``, in
    mhzoo's variable names (``mhzoo.variables``).

    Batch-norm moving statistics are 0 / 1: call the child with ``training=True`` or set
    them from a batch (:meth:`build_child` with ``calibrate``).
    """
    out: dict[str, np.ndarray] = {}
    i, cin = 0, 3
    for sp, slot, layer in zip(supernet.plan.slots, supernet.space.slots, supernet.slot_layers):
        block = slot.emit(idx)
        if block is None:
            continue
        _, _, bi = sp.entry(idx)
        br = sp.branches[bi]
        fam = sp.families[br.family]
        w = {k: v.numpy() for k, v in layer.w.items()}
        _child_block(out, f"block{i}", block, fam, br, w, cin)
        cin = getattr(block, "filters", cin)
        i += 1
    out["classifier/kernel"] = supernet.classifier.kernel.numpy()[:cin]
    out["classifier/bias"] = supernet.classifier.bias.numpy()
    return out


def build_child(supernet: Any, idx: Sequence[int], *, input_size: int | None = None,
                calibrate: Any = None, **build_kwargs: Any) -> Any:
    """``mhzoo.build(space.decode(genotype))`` holding the inherited weights.

    ``calibrate``: a batch of images whose statistics become the batch-norm moving
    statistics (then the child in inference mode reproduces the supernet path on that
    batch). Other keywords go to :func:`mhzoo.build` (default: logits, no dropout).
    """
    spec = supernet.space.decode(list(idx))
    size = input_size or supernet.space.options.get("input_size", 224)
    kw = {"input_shape": (size, size, 3), "num_classes": supernet.num_classes,
          "classifier_activation": None, "dropout_rate": 0.0,
          "preprocessing": supernet.preprocessing, **build_kwargs}
    model = build(spec, **kw)
    assign_named_weights(model, child_weights(supernet, idx))
    if calibrate is not None:
        bns = [la for la in model.layers if type(la).__name__ == "BatchNormalization"]
        saved = [la.momentum for la in bns]
        for la in bns:
            la.momentum = 0.0
        model(tf.cast(calibrate, tf.float32), training=True)
        for la, m in zip(bns, saved):
            la.momentum = m
    return model


def _bn_child(out: dict[str, np.ndarray], name: str, w: dict[str, np.ndarray], key: str,
              c: int) -> None:
    out[f"{name}/gamma"] = w[f"{key}_gamma"][:c]
    out[f"{name}/beta"] = w[f"{key}_beta"][:c]
    out[f"{name}/moving_mean"] = np.zeros([c], np.float32)
    out[f"{name}/moving_variance"] = np.ones([c], np.float32)


def _child_block(out: dict[str, np.ndarray], p: str, b: Any, fam: FamilyPlan, br: BranchPlan,
                 w: dict[str, np.ndarray], cin: int) -> None:
    """Slice one block's weights out of its family (mhzoo.layers naming)."""
    n = fam.name
    if isinstance(b, Conv):
        k = b.kernel
        out[f"{p}_conv/kernel"] = w[f"{n}_k{k}_kernel"][:, :, :cin, :b.filters]
        if b.bias:
            out[f"{p}_conv/bias"] = w[f"{n}_k{k}_bias"][:b.filters]
        if b.batch_norm:
            _bn_child(out, f"{p}_conv_bn", w, f"{n}_k{k}_bn", b.filters)
    elif isinstance(b, DepthwiseSeparable):
        k = b.kernel
        out[f"{p}_dw/kernel"] = w[f"{n}_k{k}_dw"][:, :, :cin]
        _bn_child(out, f"{p}_dw_bn", w, f"{n}_k{k}_dw_bn", cin)
        out[f"{p}_pw/kernel"] = w[f"{n}_pw"][:, :, :cin, :b.filters]
        _bn_child(out, f"{p}_pw_bn", w, f"{n}_pw_bn", b.filters)
    elif isinstance(b, InvertedBottleneck):
        k, g = b.kernel, b.groups
        inner = cin
        if b.expansion_filters is not None:
            inner = b.expansion_filters
            if b.fused:
                out[f"{p}_expand/kernel"] = w[f"{n}_k{k}_expand"][:, :, :cin, :inner]
                _bn_child(out, f"{p}_expand_bn", w, f"{n}_k{k}_expand_bn", inner)
            else:
                out[f"{p}_expand/kernel"] = w[f"{n}_expand"][:, :, :cin // g, :inner]
                _bn_child(out, f"{p}_expand_bn", w, f"{n}_expand_bn", inner)
        if not b.fused:
            out[f"{p}_dw/kernel"] = w[f"{n}_k{k}_dw"][:, :, :inner]
            _bn_child(out, f"{p}_dw_bn", w, f"{n}_k{k}_dw_bn", inner)
        if b.se_ratio is not None:
            sq = se_filters(inner, b.se_ratio)
            out[f"{p}_se_reduce/kernel"] = w[f"{n}_se_reduce_kernel"][:, :, :inner, :sq]
            out[f"{p}_se_reduce/bias"] = w[f"{n}_se_reduce_bias"][:sq]
            out[f"{p}_se_expand/kernel"] = w[f"{n}_se_expand_kernel"][:, :, :sq, :inner]
            out[f"{p}_se_expand/bias"] = w[f"{n}_se_expand_bias"][:inner]
        out[f"{p}_project/kernel"] = w[f"{n}_project"][:, :, :inner // g, :b.filters]
        _bn_child(out, f"{p}_project_bn", w, f"{n}_project_bn", b.filters)
