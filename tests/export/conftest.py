"""Fixtures for the export tests: real photographs (scikit-image's bundled samples), generated
images, calibration folders, and exports shared across tests (session scope)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

PHOTOS = ("astronaut", "chelsea", "coffee")


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Real RGB photographs shipped with scikit-image (uint8, various sizes)."""
    import skimage.data

    return [np.ascontiguousarray(getattr(skimage.data, n)()) for n in PHOTOS]


def generated_images(n: int, size: int = 160, seed: int = 0) -> list[np.ndarray]:
    """Smooth random colour images (uint8 HxWx3)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        y, x = np.mgrid[0:size, 0:size] / size
        base = rng.uniform(0, 255, 3)
        img = base + 80 * np.stack([np.sin(6 * x + rng.uniform(0, 6)),
                                    np.cos(5 * y + rng.uniform(0, 6)),
                                    np.sin(4 * (x + y))], -1)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="session")
def calib_images(photos) -> list[np.ndarray]:
    """Three photographs and three generated images."""
    return [*photos, *generated_images(3)]


def write_image(path: Path, image: np.ndarray) -> Path:
    import tensorflow as tf

    data = tf.io.encode_png(image) if path.suffix == ".png" else tf.io.encode_jpeg(image)
    path.write_bytes(data.numpy())
    return path


@pytest.fixture(scope="session")
def image_writer():
    """:func:`write_image` (JPEG or PNG by suffix), as a fixture."""
    return write_image


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory, calib_images) -> Path:
    """A calibration folder: photographs as JPEG, generated images as PNG (one in a subfolder)."""
    root = tmp_path_factory.mktemp("calib")
    (root / "sub").mkdir()
    for i, img in enumerate(calib_images):
        if i < 3:
            write_image(root / f"photo{i}.jpg", img)
        else:
            write_image((root / "sub" if i == 5 else root) / f"gen{i}.png", img)
    return root


@pytest.fixture(scope="session")
def labels_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("labels") / "labels.txt"
    p.write_text("".join(f"mhzoo_class_{i}\n" for i in range(5)))
    return p


def build_random(name: str, calibrate, **kwargs):
    """A model with live random weights (``calibrate_weights``: logits that depend on the
    image at the scale of the logits)."""
    import mhzoo

    model = mhzoo.build(name, **kwargs)
    calibrate(model, seed=1)
    return model


class ExportCache:
    """Exports made once per session and shared by the tests that inspect them."""

    def __init__(self, root: Path, images: list[np.ndarray], calibrate) -> None:
        self.root = root
        self.calibrate = calibrate
        self.images = images
        self.models: dict[str, object] = {}
        self.results: dict[tuple[str, str], object] = {}

    def model(self, name: str):
        if name not in self.models:
            # the default head: Dense `classifier` + softmax `predictions`
            self.models[name] = build_random(name, self.calibrate)
        return self.models[name]

    def export(self, name: str, quant: str):
        from mhzoo.export import to_tflite

        key = (name, quant)
        if key not in self.results:
            data = self.images if quant != "float32" else None
            self.results[key] = to_tflite(self.model(name), self.root / f"{name}_{quant}.tflite",
                                          quant=quant, representative_data=data,
                                          calibration_steps=4, fidelity_images=2)
        return self.results[key]


@pytest.fixture(scope="session")
def exports(tmp_path_factory, calib_images, calibrate_weights) -> ExportCache:
    """Exports of calibrated registry models, made once per session."""
    return ExportCache(tmp_path_factory.mktemp("exports"), calib_images, calibrate_weights)
