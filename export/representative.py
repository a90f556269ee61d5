"""Representative (calibration / fine-tuning) images from a folder, a tf.data dataset or arrays.

Every source ends as one float32 array ``(N, H, W, C)`` of RGB pixel values in [0, 255] at the
model's input size, which is what an mhzoo export takes (its normalization is inside the model).
Folder images (JPEG / PNG, found by their magic bytes) are decoded, converted to the model's
channel count, centre-cropped to the model's aspect ratio and resized with anti-aliased bilinear
interpolation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["find_images", "load_image", "representative_array", "representative_fn"]

_MAGIC = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png"}


def _kind(path: Path) -> str | None:
    with path.open("rb") as f:
        head = f.read(8)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def find_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted; hidden files skipped).

    Raises:
        ValueError: the folder is missing or empty, or holds a file that is not a JPEG/PNG
            image (the error names it).
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"calibration folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not files:
        raise ValueError(f"calibration folder {root} is empty; put JPEG or PNG images in it")
    for p in files:
        if _kind(p) is None:
            raise ValueError(f"{p} is not a JPEG or PNG image; calibration folders may hold "
                             "only images")
    return files


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize (bilinear, anti-aliased)."""
    import tensorflow as tf

    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        new_w = max(1, round(h * target))
        x0 = (w - new_w) // 2
        image = image[:, x0:x0 + new_w]
    elif w / h < target:
        new_h = max(1, round(w / target))
        y0 = (h - new_h) // 2
        image = image[y0:y0 + new_h]
    if image.shape[:2] == (height, width):
        return image.astype(np.float32)
    out = tf.image.resize(image.astype(np.float32), (height, width), method="bilinear",
                          antialias=True)
    return np.clip(out.numpy(), 0.0, 255.0)


def _tf_message(message: str) -> str:
    """A TensorFlow op error without its ``{{function_node ...}}`` and ``[Op:...]`` noise."""
    text = message.splitlines()[0] if message else ""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    text = re.sub(r"\s*\[Op:[^\]]*\]", "", text).strip()
    return text.rstrip(".") or "not a decodable image"


def load_image(path: str | os.PathLike, height: int, width: int, channels: int = 3
               ) -> np.ndarray:
    """Decode one JPEG/PNG into float32 ``(height, width, channels)`` pixels in [0, 255]."""
    import tensorflow as tf

    from mhzoo.export._quiet import captured_output

    p = Path(path)
    try:
        with captured_output():  # libjpeg prints "Improper call to JPEG library" on stderr
            img = tf.io.decode_image(p.read_bytes(), channels=channels,
                                     expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        raise ValueError(f"cannot decode image {p}: {_tf_message(exc.message)} (is the file "
                         "truncated or corrupt?)") from None
    img = img.numpy()
    if img.dtype == np.uint16:  # 16-bit PNG
        img = (img.astype(np.float32) / 257.0)
    return _fit(img, height, width)


def _check_array(x: np.ndarray, channels: int, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{where}: expected images shaped (N, H, W, C) or (H, W, C), got "
                         f"shape {x.shape}")
    if x.shape[-1] != channels:
        raise ValueError(f"{where}: images have {x.shape[-1]} channels but the model takes "
                         f"{channels} ({'RGB' if channels == 3 else 'grayscale'})")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{where}: images must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size and (not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 255.0):
        raise ValueError(f"{where}: pixel values must lie in [0, 255] (the model normalizes "
                         f"inside); got range [{float(np.nanmin(x)):.3g}, "
                         f"{float(np.nanmax(x)):.3g}]")
    return x


def _iter_source(data: Any, channels: int) -> Iterator[np.ndarray]:
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        for item in data:
            if isinstance(item, tuple | list):  # (image, label)
                item = item[0]
            if isinstance(item, dict):
                raise ValueError("tf.data elements must be images or (image, label) pairs")
            yield from _check_array(np.asarray(item), channels, "tf.data element")
        return
    if isinstance(data, np.ndarray):
        yield from _check_array(data, channels, "representative array")
        return
    if isinstance(data, Iterable) and not isinstance(data, str | bytes):
        for i, item in enumerate(data):
            yield from _check_array(np.asarray(item), channels, f"representative item {i}")
        return
    raise ValueError("representative_data must be an image folder, a tf.data.Dataset or numpy "
                     f"arrays, got {type(data).__name__}")


def representative_array(data: Any, input_shape: tuple[int, int, int], steps: int,
                         progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Up to ``steps`` images from ``data`` as float32 ``(N, H, W, C)`` pixels in [0, 255].

    Args:
        data: an image folder path, a ``tf.data.Dataset`` of images (batched or not, or
            ``(image, label)`` pairs) or numpy arrays (one ``(N, H, W, C)`` array or a list).
        input_shape: the model's ``(height, width, channels)``.
        steps: the most images to use (``calibration_steps``).
        progress: called with the number of images added, for progress bars.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"calibration_steps must be an integer >= 1, got {steps!r}")
    h, w, c = input_shape
    out: list[np.ndarray] = []
    if isinstance(data, str | os.PathLike):
        for p in find_images(data)[:steps]:
            out.append(load_image(p, h, w, c))
            if progress:
                progress(1)
    else:
        for img in _iter_source(data, c):
            if img.shape[:2] != (h, w):
                img = _fit(img, h, w)
            out.append(img.astype(np.float32))
            if progress:
                progress(1)
            if len(out) >= steps:
                break
    if not out:
        raise ValueError("representative data is empty; give at least one image")
    return np.stack(out)


def representative_fn(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """A converter ``representative_dataset`` over ``images``.

    The first sample carries one pixel at 0 and one at 255, so the calibrated input range is
    exactly [0, 255]: a uint8 input then has scale 1 and zero point 0, and raw pixels go in
    unchanged (what MediaPipe and the Task Library feed a uint8 model).
    """
    anchored = images.copy()
    anchored[0, 0, 0, :] = 0.0
    anchored[0, -1, -1, :] = 255.0

    def gen() -> Iterator[list[np.ndarray]]:
        for img in anchored:
            yield [img[None]]

    return gen
