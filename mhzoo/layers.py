"""Decoding a concrete :class:`~mhzoo.spec.ArchSpec` into layers of either Keras.

One generic decoder for every model. It takes the Keras module (``keras`` 3 or ``tf_keras``) as
an argument, so both frameworks get the same graph with the same layer names in the same order,
which is what makes weights portable between them (see :mod:`mhzoo.variables`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, GlobalPool, InvertedBottleneck
from mhzoo.widths import se_filters

__all__ = ["decode_body", "hard_sigmoid", "hard_sigmoid_tfm", "hard_swish",
           "register_serializables"]


def hard_swish(x: Any) -> Any:
    """x * relu6(x + 3) / 6 (MobileNetV3), written so TFLite lowers it to HARD_SWISH."""
    import tensorflow as tf

    return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def hard_sigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6, the MobileNetV3 squeeze-excite gate."""
    import tensorflow as tf

    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def hard_sigmoid_tfm(x: Any) -> Any:
    """relu6(x + 3) * 0.16667: the TF Model Garden's hard sigmoid (``official/modeling/
    activations/sigmoid.py``), the squeeze-excite gate of its MobileNetV3 checkpoints. The
    constant differs from 1/6 by 2e-5 relative, which moves a MobileNetV3's logits by about
    7e-4 of their scale, far above float32 round-off."""
    import tensorflow as tf

    return tf.nn.relu6(x + 3.0) * 0.16667


def register_serializables(km: ModuleType) -> None:
    """Register :func:`hard_swish` / :func:`hard_sigmoid` / :func:`hard_sigmoid_tfm` as
    ``mhzoo>...`` in this Keras, so models that use them can be saved, reloaded and cloned
    (idempotent)."""
    saving = getattr(km, "saving", None)
    register = getattr(saving, "register_keras_serializable", None) or \
        km.utils.register_keras_serializable
    registered = getattr(saving, "get_registered_name", None) or km.utils.get_registered_name
    for fn in (hard_swish, hard_sigmoid, hard_sigmoid_tfm):
        if registered(fn) != f"mhzoo>{fn.__name__}":
            register(package="mhzoo")(fn)


def _activation(km: ModuleType, kind: str, name: str) -> Any:
    if kind == "relu":
        return km.layers.ReLU(name=name)
    if kind == "relu6":
        return km.layers.ReLU(6.0, name=name)
    if kind == "hard_swish":
        return km.layers.Activation(hard_swish, name=name)
    if kind == "hard_sigmoid":
        return km.layers.Activation(hard_sigmoid, name=name)
    if kind == "hard_sigmoid_tfm":
        return km.layers.Activation(hard_sigmoid_tfm, name=name)
    if kind == "sigmoid":
        return km.layers.Activation("sigmoid", name=name)
    raise ValueError(f"unknown activation {kind!r}")


class _Decoder:
    """Stateful helper that appends layers to a functional graph."""

    def __init__(self, km: ModuleType, spec: ArchSpec) -> None:
        self.km = km
        self.spec = spec

    def _pad(self, x: Any, k: int, stride: int, name: str) -> tuple[Any, str]:
        """PyTorch-style symmetric padding before strided convs when the spec asks for it."""
        if self.spec.padding == "symmetric" and stride > 1 and k > 1:
            x = self.km.layers.ZeroPadding2D(k // 2, name=f"{name}_pad")(x)
            return x, "valid"
        return x, "same"

    def bn(self, x: Any, name: str) -> Any:
        return self.km.layers.BatchNormalization(
            epsilon=self.spec.bn_epsilon, momentum=self.spec.bn_momentum, name=name)(x)

    def conv(self, x: Any, filters: int, k: int, stride: int, name: str, *, bias: bool = False,
             groups: int = 1) -> Any:
        x, padding = self._pad(x, k, stride, name)
        if groups > 1 and x.shape[-1] % groups:
            raise ValueError(f"{name}: {x.shape[-1]} input channels are not divisible by groups "
                             f"{groups}")
        return self.km.layers.Conv2D(filters, k, strides=stride, padding=padding, use_bias=bias,
                                    groups=groups, name=name)(x)

    def dwconv(self, x: Any, k: int, stride: int, name: str) -> Any:
        x, padding = self._pad(x, k, stride, name)
        return self.km.layers.DepthwiseConv2D(k, strides=stride, padding=padding, use_bias=False,
                                             name=name)(x)

    def conv_bn_act(self, x: Any, filters: int, k: int, stride: int, act: str | None,
                    name: str, groups: int = 1) -> Any:
        x = self.conv(x, filters, k, stride, name, groups=groups)
        x = self.bn(x, f"{name}_bn")
        return _activation(self.km, act, f"{name}_act")(x) if act else x

    def block(self, x: Any, i: int, b: Any) -> Any:
        km = self.km
        p = f"block{i}"
        if isinstance(b, Conv):
            x = self.conv(x, b.filters, b.kernel, b.stride, f"{p}_conv", bias=b.bias)
            if b.batch_norm:
                x = self.bn(x, f"{p}_conv_bn")
            return _activation(km, b.activation, f"{p}_conv_act")(x)
        if isinstance(b, DepthwiseSeparable):
            x = self.dwconv(x, b.kernel, b.stride, f"{p}_dw")
            x = self.bn(x, f"{p}_dw_bn")
            x = _activation(km, b.activation, f"{p}_dw_act")(x)
            return self.conv_bn_act(x, b.filters, 1, 1, b.activation, f"{p}_pw")
        if isinstance(b, InvertedBottleneck):
            shortcut = x
            cin = x.shape[-1]
            inner = cin
            if b.expansion_filters is not None:
                inner = b.expansion_filters
                k, s = (b.kernel, b.stride) if b.fused else (1, 1)
                x = self.conv_bn_act(x, inner, k, s, b.activation, f"{p}_expand",
                                     groups=1 if b.fused else b.groups)
            if not b.fused:
                x = self.dwconv(x, b.kernel, b.stride, f"{p}_dw")
                x = self.bn(x, f"{p}_dw_bn")
                x = _activation(km, b.activation, f"{p}_dw_act")(x)
            if b.se_ratio is not None:
                x = self.squeeze_excite(x, inner, se_filters(inner, b.se_ratio), p)
            x = self.conv_bn_act(x, b.filters, 1, 1, None, f"{p}_project", groups=b.groups)
            if b.residual and b.stride == 1 and cin == b.filters:
                x = km.layers.Add(name=f"{p}_add")([shortcut, x])
            return x
        if isinstance(b, GlobalPool):
            return km.layers.GlobalAveragePooling2D(keepdims=True, name=f"{p}_pool")(x)
        raise ValueError(f"cannot decode block {b!r}")

    def squeeze_excite(self, x: Any, channels: int, squeeze: int, p: str) -> Any:
        km = self.km
        s = km.layers.GlobalAveragePooling2D(keepdims=True, name=f"{p}_se_pool")(x)
        s = km.layers.Conv2D(squeeze, 1, use_bias=True, name=f"{p}_se_reduce")(s)
        s = km.layers.ReLU(name=f"{p}_se_act")(s)
        s = km.layers.Conv2D(channels, 1, use_bias=True, name=f"{p}_se_expand")(s)
        s = _activation(km, self.spec.se_gate, f"{p}_se_gate")(s)
        return km.layers.Multiply(name=f"{p}_se_mul")([x, s])


def decode_body(km: ModuleType, spec: ArchSpec, x: Any) -> tuple[Any, dict[int, Any]]:
    """Apply every block of a concrete ``spec`` to tensor ``x``.

    Returns:
        The final tensor and ``{block index: tensor}`` for the blocks flagged as endpoints.
    """
    register_serializables(km)
    dec = _Decoder(km, spec)
    endpoints: dict[int, Any] = {}
    for i, b in enumerate(spec.blocks):
        x = dec.block(x, i, b)
        if getattr(b, "endpoint", False):
            endpoints[i] = x
    return x, endpoints
