"""Fixtures for the weights tests: isolated caches, a loopback Hub, the converted fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from weights_helpers import TFM_FIXTURE, LocalHub


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch) -> None:
    """Every test gets empty Hub / mhzoo caches and no Hub settings from the environment."""
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setenv("HF_HUB_CACHE", str(root / "hf"))
    monkeypatch.setenv("MHZOO_CACHE", str(root / "mhzoo"))
    monkeypatch.setenv("KERAS_HOME", str(root / "keras"))
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
def tfm_converted(tmp_path_factory) -> Path:
    """The Model Garden fixture converted once with the CLI (shared by several tests)."""
    from click.testing import CliRunner

    from mhzoo.cli import main

    out = tmp_path_factory.mktemp("tfm") / "multi_max_100"
    res = CliRunner().invoke(main, ["convert", "--from", "tf-model-garden",
                                    str(TFM_FIXTURE / "ckpt"), "--model", "multi_max",
                                    "--num-classes", "1001", "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out
