"""Shared test setup: quiet TensorFlow, the shared data fixtures, live test models.

The shared data (paper tables, upstream checkpoints written by timm / the TF Model Garden) is
not part of the repository. Tests reach it only through the ``shared_data`` / ``shared_path``
fixtures, which read one variable, ``MHZOO_SHARED_DATA`` (default: ``../shared/data`` beside
the clone). When it is absent, those tests are skipped with a one-line reason naming the
variable, except under ``CI=true``, where a missing fixture is a failure.

Numeric-equivalence tests get models whose outputs depend on their input from the
``calibrate_weights`` fixture (module ``live_models`` beside this file, which also holds the
scale-relative comparisons).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_models import calibrate

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_VAR = "MHZOO_SHARED_DATA"
DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data_root() -> Path:
    """The shared data folder in effect: ``$MHZOO_SHARED_DATA`` or ``../shared/data``."""
    value = os.environ.get(SHARED_DATA_VAR)
    return Path(value).expanduser() if value else DEFAULT_SHARED_DATA


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require_shared(*parts: str) -> Path:
    """``shared_data_root() / parts``; skips the test when it is missing (fails under CI)."""
    root = shared_data_root()
    path = root.joinpath(*parts)
    if not path.exists():
        what = "/".join(parts) or "the shared data folder"
        reason = (f"shared fixture {what} not found at {path}: set {SHARED_DATA_VAR} to the "
                  f"shared data folder (default {DEFAULT_SHARED_DATA})")
        if _under_ci():
            pytest.fail(f"{reason} [CI=true: a missing fixture is a failure]", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``MHZOO_SHARED_DATA``, default ``../shared/data``)."""
    return require_shared()


@pytest.fixture(scope="session")
def shared_path() -> Callable[..., Path]:
    """``shared_path("timm-fixtures", "mobilenetv2_100")``: a path inside the shared data
    folder, the test skipped (failed under CI) when it is missing."""
    return require_shared


@pytest.fixture(scope="session")
def paper_csv(shared_path) -> Path:
    """The paper's Table 1 (``paper_table1_pixel4.csv``) of the shared data."""
    return shared_path("paper_table1_pixel4.csv")


@pytest.fixture(scope="session")
def shared_dir(shared_data) -> Path:
    """The folder holding the shared data folder (``../shared``); kept for older tests, new
    ones use :func:`shared_data` / :func:`shared_path`."""
    return shared_data.parent


@pytest.fixture(scope="session")
def calibrate_weights() -> Callable[..., object]:
    """``calibrate_weights(model, images=None, seed=0)``: :func:`live_models.calibrate`, which
    gives a model (Keras 3 or tf_keras) He-scaled kernels, random batch-norm gamma / beta and
    moving statistics measured on random images, so that its outputs depend on the input at
    the scale of the outputs; it fails the test when two different images give outputs closer
    than the comparison tolerance (the guard, :func:`live_models.check_input_dependence`).
    Every numeric-equivalence test builds its models with it."""
    return calibrate


class StateLeakWarning(UserWarning):
    """A test changed process-wide state (environment, cwd, Keras settings, a registry) and
    did not restore it; the :func:`isolate_global_state` fixture restored it after the test."""


def _keras_settings() -> dict[str, object]:
    """Global Keras / TensorFlow settings a test could change (modules already imported only)."""
    out: dict[str, object] = {}
    if "keras" in sys.modules:
        import keras

        out.update({"keras.floatx": keras.config.floatx(),
                    "keras.image_data_format": keras.config.image_data_format(),
                    "keras.epsilon": keras.config.epsilon(),
                    "keras.dtype_policy": keras.config.dtype_policy().name})
    if "tf_keras" in sys.modules:
        import tf_keras

        out.update({"tf_keras.floatx": tf_keras.backend.floatx(),
                    "tf_keras.image_data_format": tf_keras.backend.image_data_format(),
                    "tf_keras.epsilon": tf_keras.backend.epsilon(),
                    "tf_keras.dtype_policy": tf_keras.mixed_precision.global_policy().name})
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        out["tf.run_functions_eagerly"] = tf.config.functions_run_eagerly()
    return out


def _restore_keras_settings(settings: dict[str, object]) -> None:
    for key, value in settings.items():
        if key.startswith("keras."):
            import keras

            setter = {"floatx": keras.config.set_floatx,
                      "image_data_format": keras.config.set_image_data_format,
                      "epsilon": keras.config.set_epsilon,
                      "dtype_policy": keras.config.set_dtype_policy}[key.split(".", 1)[1]]
        elif key.startswith("tf_keras."):
            import tf_keras

            setter = {"floatx": tf_keras.backend.set_floatx,
                      "image_data_format": tf_keras.backend.set_image_data_format,
                      "epsilon": tf_keras.backend.set_epsilon,
                      "dtype_policy": tf_keras.mixed_precision.set_global_policy,
                      }[key.split(".", 1)[1]]
        else:
            import tensorflow as tf

            setter = tf.config.run_functions_eagerly
        setter(value)


def _registries() -> dict[str, dict]:
    """The mutable registries of mhzoo (models, pretrained tags, benchmark targets)."""
    registry = importlib.import_module("mhzoo.registry")
    pretrained = importlib.import_module("mhzoo.weights.pretrained")
    targets = importlib.import_module("mhzoo.benchmarks.targets")
    registry._ensure_loaded()
    return {"mhzoo model registry": registry._REGISTRY,
            "pretrained tag registry": pretrained._REGISTRY,
            "benchmark target registry": targets._TARGETS}


def _environment() -> dict[str, str]:
    """``os.environ`` without the variable pytest itself changes per test phase."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture(autouse=True)
def isolate_global_state(request) -> Iterator[None]:
    """Every test starts from, and leaves behind, the same process-wide state.

    The environment, the working directory, Keras' global settings (float type, image data
    format, epsilon, dtype / mixed-precision policy; ``run_functions_eagerly``) and mhzoo's
    registries are recorded before the test and restored after it. A test that changed one
    without restoring it (use ``monkeypatch`` / try-finally) gets a :class:`StateLeakWarning`
    naming what leaked, so the test can be fixed; the next test is not affected either way.
    """
    env, cwd, keras_state = _environment(), os.getcwd(), _keras_settings()
    regs = {name: dict(reg) for name, reg in _registries().items()}
    yield
    leaks: list[str] = []
    now_env = _environment()
    if now_env != env:
        changed = sorted(k for k in set(env) | set(now_env) if env.get(k) != now_env.get(k))
        leaks.append("environment " + ", ".join(changed))
        for key in changed:
            if key in env:
                os.environ[key] = env[key]
            else:
                del os.environ[key]
    if os.getcwd() != cwd:
        leaks.append(f"working directory {os.getcwd()}")
        os.chdir(cwd)
    now = _keras_settings()
    changed_settings = {k: v for k, v in keras_state.items() if now.get(k) != v}
    if changed_settings:
        leaks.append("settings " + ", ".join(sorted(changed_settings)))
        _restore_keras_settings(changed_settings)
    for name, reg in _registries().items():
        if reg != regs[name]:
            leaks.append(f"{name} ({', '.join(sorted(set(reg) ^ set(regs[name]))) or 'entries'})")
            reg.clear()
            reg.update(regs[name])
    if leaks:
        warnings.warn(StateLeakWarning(f"{request.node.nodeid} leaked: {'; '.join(leaks)}"),
                      stacklevel=1)


@pytest.fixture(autouse=True)
def isolated_user_caches(isolate_global_state, tmp_path_factory, monkeypatch) -> None:
    """mhzoo's and huggingface_hub's cache folders point into a fresh temporary folder for each
    test: nothing is written under ``~/.cache``, and no test is served what another cached."""
    root = tmp_path_factory.getbasetemp() / "user-caches" / f"{next(_CACHE_IDS):05d}"
    for var, sub in (("MHZOO_HOME", "mhzoo"), ("HF_HUB_CACHE", "hf"),
                     ("HF_HOME", "hf-home")):
        monkeypatch.setenv(var, str(root / sub))


_CACHE_IDS = itertools.count()
_SKIPPED_FOR_SHARED: list[str] = []


def pytest_runtest_logreport(report) -> None:
    """Note the tests skipped for a missing shared fixture (also the reports of xdist workers)."""
    if report.skipped and isinstance(report.longrepr, tuple) and \
            SHARED_DATA_VAR in str(report.longrepr[2]):
        _SKIPPED_FOR_SHARED.append(report.nodeid)


def pytest_terminal_summary(terminalreporter) -> None:
    """Name the tests skipped because the shared data is missing, and how to run them."""
    if _SKIPPED_FOR_SHARED:
        tr = terminalreporter
        tr.write_sep("-", f"{len(_SKIPPED_FOR_SHARED)} test(s) skipped: shared data not found "
                          f"at {shared_data_root()} (set {SHARED_DATA_VAR})")
        for nodeid in sorted(_SKIPPED_FOR_SHARED):
            tr.write_line(f"  {nodeid}")


def pytest_configure(config):
    """Import TensorFlow once, quietly."""
    from mhzoo._quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
