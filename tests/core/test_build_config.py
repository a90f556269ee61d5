"""The build config travels with the model: save, reload in a new process, export, profile."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mhzoo
from mhzoo.build_record import BuildConfig, build_config
from mhzoo.builder import rebuild

FRAMEWORKS = ("keras", "tf_keras")


def test_config_records_what_build_did():
    m = mhzoo.build("multi_avg", 0.75, input_shape=(64, 96, 3), num_classes=7, divisible_by=32,
                    dropout_rate=0.1, classifier_activation=None)
    cfg = build_config(m)
    assert cfg.architecture == "multi_avg"
    assert cfg.width == 0.75 and cfg.divisible_by == 32
    assert cfg.input_shape == (64, 96, 3) and cfg.num_classes == 7
    assert cfg.classifier_activation is None and cfg.dropout_rate == 0.1
    assert cfg.spec == mhzoo.scale_spec(mhzoo.build_config(m).base_spec, 0.75, 32)
    assert m.arch_spec is cfg.spec and m.width == 0.75
    again = BuildConfig.from_json(cfg.to_json())
    assert again == cfg
    twin = rebuild(cfg, batch_size=1)
    assert twin.count_params() == m.count_params()
    assert build_config(twin).batch_size == 1


def test_config_of_backbones_and_feature_extractors():
    m = mhzoo.build("multi_max", 0.5, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    cfg = build_config(m)
    assert not cfg.include_top and cfg.pooling == "avg" and cfg.num_classes is None
    f = mhzoo.build("multi_max", 0.5, features_only=True, input_shape=(64, 64, 3))
    fcfg = build_config(f)
    assert fcfg.features_only and fcfg.name == "multi_max_050"
    assert set(rebuild(fcfg).output) == set(f.output)


def test_foreign_model_is_refused_in_one_line(tmp_path):
    import keras

    inp = keras.Input((8, 8, 3))
    plain = keras.Model(inp, keras.layers.Conv2D(2, 1)(inp))
    with pytest.raises(ValueError, match=r"built by mhzoo\.build"):
        build_config(plain)
    from mhzoo.export import to_tflite

    with pytest.raises(ValueError, match=r"built by mhzoo\.build"):
        to_tflite(plain, tmp_path / "x.tflite")
    assert not list(tmp_path.iterdir())


def test_width_and_alpha_must_agree():
    with pytest.raises(ValueError, match="alias"):
        mhzoo.build("multi_max", 0.5, alpha=0.75, input_shape=(32, 32, 3))
    m = mhzoo.build("multi_max", 0.5, alpha=0.5, input_shape=(32, 32, 3))
    assert m.width == 0.5


def test_train_save_reload_in_new_process_then_export(tmp_path):
    """The normal life of a model, in both frameworks: build, train a step, save, reload in a
    new process, export float32 and int8_full, profile, save_pretrained and load that back."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 48, 48, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    models = {}
    for fw in FRAMEWORKS:
        m = mhzoo.build("multi_max", 0.35, input_shape=(48, 48, 3), num_classes=4, framework=fw)
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.train_on_batch(x, np.arange(4) % 4)
        m.save(tmp_path / f"{fw}.keras")
        np.save(tmp_path / f"{fw}.npy", np.asarray(m(x)))
        models[fw] = m
    script = textwrap.dedent(f"""
        import json, numpy as np, mhzoo
        from mhzoo.export import to_tflite
        d = {str(tmp_path)!r}
        x = np.load(d + "/x.npy")
        out = {{}}
        for fw in {FRAMEWORKS!r}:
            r = mhzoo.load_model(f"{{d}}/{{fw}}.keras", framework=fw)
            diff = float(np.abs(np.asarray(r(x)) - np.load(f"{{d}}/{{fw}}.npy")).max())
            f = to_tflite(r, f"{{d}}/{{fw}}_f.tflite")
            q = to_tflite(r, f"{{d}}/{{fw}}_q.tflite", quant="int8_full", representative_data=x)
            ck = mhzoo.save_pretrained(r, f"{{d}}/{{fw}}_ck")
            back = mhzoo.build("multi_max", weights=ck, framework=fw, input_shape=(48, 48, 3))
            out[fw] = {{"diff": diff, "cls": type(r).__name__, "cfg": r.mhzoo_config.to_dict(),
                       "float_err": f.fidelity.max_abs_diff, "int8_only": q.inventory.integer_only,
                       "params": mhzoo.profile(r).params,
                       "bdiff": float(np.abs(np.asarray(back(x)) - np.asarray(r(x))).max())}}
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for fw, m in models.items():
        out = result[fw]
        assert out["diff"] == 0.0, fw
        assert out["cls"] == "MhzooModel"
        assert BuildConfig.from_dict(out["cfg"]) == build_config(m)
        assert out["float_err"] < 1e-4 and out["int8_only"] is True
        assert out["params"] == mhzoo.profile(m).params
        assert out["bdiff"] < 1e-5
        ck_cfg = json.loads((tmp_path / f"{fw}_ck" / "config.json").read_text())
        assert BuildConfig.from_dict(ck_cfg["build"]).spec == build_config(m).spec
