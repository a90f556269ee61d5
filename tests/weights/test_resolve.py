"""mhzoo.weights.resolve: one place maps every weights= value to a source."""

from __future__ import annotations

import pytest

from mhzoo.weights import resolve
from mhzoo.weights.pretrained import PRETRAINED_TAGS, list_pretrained, tag_from_row


def test_table_rows_are_the_registered_tags():
    names = {tag_from_row(r).name for r in PRETRAINED_TAGS}
    assert len(names) == len(PRETRAINED_TAGS)
    assert names <= set(list_pretrained())
    assert "mobilenet_v3_large_100.keras_in1k" in names
    with pytest.raises(ValueError, match="unknown preprocessing 'sRGB'"):
        tag_from_row({**PRETRAINED_TAGS[0], "preprocessing": "sRGB"})


def test_conversion_without_a_builder_says_how(tmp_path, monkeypatch):
    """A keras tag not yet converted needs a builder; resolve never imports one itself."""
    monkeypatch.setenv("MHZOO_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing is downloaded either way
    with pytest.raises(ValueError, match="not in the mhzoo cache"):
        resolve.open_weights("mobilenet_v2_035.keras_in1k", build=None)
    with pytest.raises(ValueError, match="needs a model builder"):
        resolve._need_builder(None, "x")
    with pytest.raises(ValueError, match="neither a path"):
        resolve.open_weights("imagenet_but_no_dot")
