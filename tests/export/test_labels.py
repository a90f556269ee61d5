"""Classes from a labels file: the rule ``mhzoo export --labels`` uses, in the Python API."""

from __future__ import annotations

import pytest

from mhzoo.export import labels_and_classes, read_labels


def test_labels_give_the_class_count_unless_given_or_fixed_by_weights(tmp_path):
    f = tmp_path / "labels.txt"
    f.write_text("cat\ndog\nbird\n\n", encoding="utf-8")
    assert read_labels(f) == ["cat", "dog", "bird"]
    assert labels_and_classes(f) == (["cat", "dog", "bird"], 3)
    assert labels_and_classes(f, 5) == (["cat", "dog", "bird"], 5)
    assert labels_and_classes(f, weights="ckpt") == (["cat", "dog", "bird"], None)
    assert labels_and_classes(None, 7) == (None, 7)
    with pytest.raises(ValueError, match="labels file not found"):
        labels_and_classes(tmp_path / "missing.txt")
