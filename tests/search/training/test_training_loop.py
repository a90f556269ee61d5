"""Training end to end on a tiny budget: run folder, final checkpoint in both frameworks,
resume / finished reruns, fine-tuning, evaluation (Keras and TFLite) and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mhzoo.search.training import data as D
from mhzoo.search.training.loop import train

TINY = dict(preset="cifar10-proxy", overrides=dict(epochs=2, global_batch=16), width=0.25,
            limit_train=32, limit_held_out=32, log_every=1, progress=False)


@pytest.fixture(scope="module")
def cifar(shared_dir):
    return D.open_data(shared_dir / "data" / "cifar10")


@pytest.fixture(scope="module")
def run(cifar, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "run"
    first = train("multi_max", cifar, out, max_steps=2, **TINY)
    assert not first.finished and first.step == 2 and first.model_dir is None
    result = train("multi_max", cifar, out, **TINY)
    return first, result


def test_run_resumes_and_finishes(run):
    _, result = run
    assert result.resumed_from == 2 and result.finished
    assert result.step == result.total_steps == 4  # 32 images / 16 x 2 epochs
    assert [h["step"] for h in result.history] == [2, 4]
    out = result.out_dir
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "history.json", "model",
                                                     "run.json", "tensorboard"]
    assert list((out / "tensorboard" / "train").glob("events.out.tfevents.*"))
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["status"] == "finished" and run_json["metrics"]["test_images"] == 32
    # the splits are recorded (rule mhzoo.splits/v1, the preset's 5,000 test images, split seed
    # 0): the same test images as a search or regenerate on this data
    splits = run_json["request"]["data"]["splits"]
    assert splits == D.make_splits(50000, 5000, 0, 0).describe()
    assert run_json["request"]["data"]["train_split"] == "train"
    hist = json.loads((out / "history.json").read_text())
    assert "test_top1" in hist[-1] and "held_out_top1" not in hist[-1]


def test_final_checkpoint_records_and_loads_in_both_frameworks(run, cifar):
    import mhzoo

    result = run[1]
    cfg = json.loads((result.model_dir / "config.json").read_text())
    assert cfg["architecture"] == "multi_max" and cfg["num_classes"] == 10
    assert cfg["label_names"] == cifar.label_names
    assert cfg["spec"]["blocks"][0]["stride"] == 1  # the proxy32 stride plan
    pc = cfg["pretrained_cfg"]
    assert pc["input_size"] == [32, 32, 3] and pc["mean"] == [127.5]
    training = pc["training"]
    assert training["recipe"]["name"] == "cifar10-proxy" and training["stride_plan"] == "proxy32"
    assert training["steps"] == 4
    assert 0 <= training["metrics"]["test_top1"] <= 1
    assert training["splits"]["rule"] == "mhzoo.splits/v1"
    assert training["data"]["test"] == 5000 and training["data"]["split_seed"] == 0
    images = next(iter(D.make_dataset(cifar, mask=None, training=False, batch_size=4,
                                      image_size=32, augmentation="small")))[0].numpy()
    k3 = mhzoo.build("multi_max", weights=str(result.model_dir), input_shape=(32, 32, 3),
                     classifier_activation=None)
    k2 = mhzoo.build("multi_max", weights=str(result.model_dir), input_shape=(32, 32, 3),
                     classifier_activation=None, framework="tf_keras")
    assert k3.arch_spec.blocks[0].stride == 1
    a, b = np.asarray(k3(images, training=False)), np.asarray(k2(images, training=False))
    assert a.shape == (4, 10)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_rerun_of_a_finished_run_does_not_train(run, cifar):
    result = run[1]
    before = (result.model_dir / "model.safetensors").stat().st_mtime_ns
    again = train("multi_max", cifar, result.out_dir, **TINY)
    assert again.finished and again.step == 4
    assert (result.model_dir / "model.safetensors").stat().st_mtime_ns == before


def test_eval_keras_and_tflite_agree(run, cifar, tmp_path):
    import mhzoo
    from mhzoo.export import to_tflite
    from mhzoo.search.training.evaluate import evaluate

    result = run[1]
    keras_res = evaluate(result.out_dir, cifar, return_predictions=True)
    assert keras_res["split"] == "test" and keras_res["count"] == 5000  # the run's test split
    assert keras_res["top5"] >= keras_res["top1"]
    model = mhzoo.build("multi_max", weights=str(result.model_dir), input_shape=(32, 32, 3))
    tfl = to_tflite(model, tmp_path / "m.tflite", quant="float32").path
    lite = evaluate(tfl, cifar, split_from=result.out_dir, limit=200, return_predictions=True)
    keras200 = evaluate(result.model_dir, cifar, limit=200, return_predictions=True)
    assert lite["kind"] == "tflite" and lite["count"] == keras200["count"] == 200
    agree = np.mean(np.array(lite["predictions"]) == np.array(keras200["predictions"]))
    assert agree >= 0.99 and abs(lite["top1"] - keras200["top1"]) <= 0.01


def test_fine_tune_new_classes_frozen_backbone(run, cifar, tmp_path):
    import tensorflow as tf

    from mhzoo.weights import read_safetensors

    root = tmp_path / "user" / "train"
    spec = {D.ENCODED_KEY: tf.io.FixedLenFeature([], tf.string),
            D.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)}
    for i, rec in enumerate(tf.data.TFRecordDataset(cifar.files[0]).take(60)):
        p = tf.io.parse_single_example(rec, spec)
        label = int(p[D.LABEL_KEY])
        if label < 3:
            d = root / f"class{label}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i}.jpg").write_bytes(p[D.ENCODED_KEY].numpy())
    out = tmp_path / "ft"
    res = train("multi_max", tmp_path / "user", out, preset="cifar10-proxy",
                overrides=dict(epochs=1, global_batch=4, held_out=4), weights=run[1].out_dir,
                freeze_backbone=True, log_every=1, progress=False)
    assert res.finished
    src = read_safetensors(run[1].model_dir / "model.safetensors")
    new = read_safetensors(res.model_dir / "model.safetensors")
    assert new["classifier/kernel"].shape[-1] == 3
    for key in ("block0_conv/kernel", "block5_project_bn/moving_mean"):
        key = key if key in src else next(k for k in src if k.startswith("block0_"))
        np.testing.assert_allclose(src[key], new[key], atol=1e-6)  # frozen (EMA rounding only)
    assert json.loads((res.model_dir / "config.json").read_text())["label_names"] == [
        "class0", "class1", "class2"]


def test_bad_inputs_leave_nothing(run, cifar, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds something else"):
        train("multi_max", cifar, foreign, **TINY)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    with pytest.raises(ValueError, match="another training run"):
        train("multi_max", cifar, run[1].out_dir, **{**TINY, "width": 0.5})
    fresh = tmp_path / "fresh"
    with pytest.raises(ValueError, match=r"does not fit|not 'mobilenet_v2'|another architecture"):
        train("mobilenet_v2", cifar, fresh, weights=run[1].model_dir, **{
            k: v for k, v in TINY.items() if k != "width"})
    with pytest.raises(ValueError, match="unknown preset"):
        train("multi_max", cifar, fresh, preset="cifar100")
    with pytest.raises(ValueError, match="labels/classes mismatch"):
        train("multi_max", cifar, fresh, num_classes=12, **TINY)
    assert not fresh.exists()


def test_cli_train_eval_and_errors(run, shared_dir, tmp_path):
    from mhzoo.cli import main

    runner = CliRunner()
    data = str(shared_dir / "data" / "cifar10")
    res = runner.invoke(main, ["eval", str(run[1].out_dir), "--data", data, "--limit", "64",
                               "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["count"] == 64 and 0 <= out["top1"] <= out["top5"] <= 1
    res = runner.invoke(main, ["train", "multi_max", "--data", data, "--preset", "nope",
                               "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "unknown preset 'nope'" in res.output
    assert not (tmp_path / "x").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(main, ["train", "multi_max", "--data", str(empty), "--preset",
                               "cifar10-proxy", "-o", str(tmp_path / "y")])
    assert res.exit_code == 2 and "no images" in res.output
    res = runner.invoke(main, ["train", "multi_max", "--data", data, "--preset", "cifar10-proxy",
                               "-o", str(run[1].out_dir), "--epochs", "2", "--batch-size", "16",
                               "--width", "0.25", "--limit-train", "32", "--limit-held-out",
                               "32", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "Finished 4 steps" in res.output and "test top-1" in res.output
