"""Fixtures for the weights tests: isolated caches, a loopback Hub, the upstream fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from weights_helpers import TFM_FIXTURE_PARTS, TFM_FIXTURES, TIMM_FIXTURES_PARTS, LocalHub


@pytest.fixture(autouse=True)
def isolated_caches(isolated_user_caches, tmp_path_factory, monkeypatch) -> None:
    """Every test gets empty Hub / mhzoo / keras caches (the first two from the root conftest's
    ``isolated_user_caches``) and no Hub settings from the environment."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("caches") / "keras"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def local_hub(monkeypatch) -> Iterator[LocalHub]:
    """A started :class:`LocalHub`, selected with ``HF_ENDPOINT``."""
    hub = LocalHub()
    monkeypatch.setenv("HF_ENDPOINT", hub.start())
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def tfm_fixture(shared_path) -> Path:
    """The Model Garden fixture folder (``ckpt.*``, ``reference_io.npz``) of the shared data."""
    return shared_path(*TFM_FIXTURE_PARTS)


@pytest.fixture(scope="session")
def timm_fixtures(shared_path) -> Path:
    """The folder of timm fixtures (one sub-folder per architecture) of the shared data."""
    return shared_path(*TIMM_FIXTURES_PARTS)


def _convert_with_cli(src: Path, model: str, out: Path) -> Path:
    from click.testing import CliRunner

    from mhzoo.cli import main

    res = CliRunner().invoke(main, ["convert", "--from", "tf-model-garden", str(src / "ckpt"),
                                    "--model", model, "--num-classes", "1001", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="session")
def tfm_converted(tmp_path_factory, tfm_fixture) -> Path:
    """The Multi-MAX Model Garden fixture converted once with the CLI (shared by tests)."""
    return _convert_with_cli(tfm_fixture, "multi_max",
                             tmp_path_factory.mktemp("tfm") / "multi_max_100")


@pytest.fixture(scope="session")
def tfm_fixture_converted(tmp_path_factory, shared_path) -> Callable[[str], tuple[Path, Path]]:
    """``f(folder)`` -> (fixture folder, its CLI conversion) for every Model Garden fixture
    (:data:`weights_helpers.TFM_FIXTURES`), each converted once per session."""
    done: dict[str, tuple[Path, Path]] = {}

    def get(folder: str) -> tuple[Path, Path]:
        if folder not in done:
            src = shared_path("tf-model-garden-fixtures", folder)
            out = tmp_path_factory.mktemp("tfm") / folder
            done[folder] = (src, _convert_with_cli(src, TFM_FIXTURES[folder][1], out))
        return done[folder]

    return get
