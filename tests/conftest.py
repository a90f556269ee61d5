"""Shared test setup: quiet TensorFlow, paths to ../shared, small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ../shared folder (paper data and upstream fixtures)."""
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; the tests need the shared data")
    return SHARED


def randomize_batchnorm(model, seed: int = 0) -> None:
    """Give every batch-norm layer non-trivial gamma/beta/mean/variance, so equivalence tests
    cannot pass by accident."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.1, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, n).astype("float32"))


@pytest.fixture(scope="session")
def randomize_bn():
    """The :func:`randomize_batchnorm` helper, as a fixture."""
    return randomize_batchnorm


def pytest_configure(config):
    """Import TensorFlow once, quietly."""
    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
