"""Built models save, reload and clone in both frameworks (hard-swish models included)."""

from __future__ import annotations

import numpy as np
import pytest

import mhzoo

X = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype("float32")


@pytest.mark.parametrize("framework", ["keras", "tf_keras"])
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "multi_max"])
def test_save_load_and_clone(name, framework, tmp_path):
    model = mhzoo.build(name, input_shape=(64, 64, 3), framework=framework)
    path = tmp_path / "model.keras"
    model.save(str(path))
    again = mhzoo.load_model(path, framework=framework)
    np.testing.assert_array_equal(np.asarray(model(X)), np.asarray(again(X)))
    km = mhzoo.builder.get_keras(framework)
    clone = km.models.clone_model(model)
    assert clone.count_params() == model.count_params()
    assert [la.name for la in clone.layers] == [la.name for la in model.layers]


def test_load_model_missing_file(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        mhzoo.load_model(tmp_path / "nope.keras")
