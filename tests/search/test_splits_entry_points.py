"""Issue 18 acceptance: the test split is disjoint from the training and search-validation
splits for every entry point (``mhzoo train``, ``search run``, ``regenerate``), for TFRecord
shards and image folders, and it is the same test split in all three.

A hook on :func:`mhzoo.search.training.data.make_dataset` (every input pipeline of the three
entry points is built by it, directly or through ``distribute``) records, for every pipeline,
the global example indices its mask lets through (a ``None`` mask: every example of that
source). The test split's indices must reach no pipeline but the final evaluation's, and that
one must read exactly them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mhzoo.search import get_space
from mhzoo.search.training import data as D
from mhzoo.search.training.splits import make_splits

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}
N = 320  # images of each tiny data set
TEST, SEARCH_VALID = 100, 100  # the split sizes of every entry point (regenerate --tiny's)
CLASSES = 4


def _png(rng: np.random.Generator) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def write_tfrecords(folder: Path, n: int, *, shards: int = 2, prefix: str = "train",
                    seed: int = 0) -> Path:
    """``n`` random 32 px PNG images in ImageNet-schema shards ``{prefix}-0000i-of-0000k``."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per = -(-n // shards)
    for s in range(shards):
        name = folder / f"{prefix}-{s:05d}-of-{shards:05d}"
        with tf.io.TFRecordWriter(str(name)) as w:
            for i in range(s * per, min(n, (s + 1) * per)):
                ex = tf.train.Example(features=tf.train.Features(feature={
                    D.ENCODED_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[_png(rng)])),
                    D.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[i % CLASSES]))}))
                w.write(ex.SerializeToString())
    return folder


def write_folder(tree: Path, n: int, *, seed: int = 0) -> Path:
    """``n`` random 32 px PNG images in ``tree/class<k>/<i>.png``."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = tree / f"class{i % CLASSES}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:04d}.png").write_bytes(_png(rng))
    return tree


@dataclass
class Call:
    stage: str
    source: str  # "main" (the training source) or "eval" (the data's own evaluation split)
    training: bool
    indices: frozenset[int]


class Recorder:
    """Patches ``make_dataset``; ``stage`` lines (regenerate's echo) tag the calls."""

    def __init__(self, main: D.DataSource):
        self.main_files = list(main.files)
        self.calls: list[Call] = []
        self.stage = "-"

    def echo(self, line: str) -> None:
        if line.startswith("[regenerate] "):
            self.stage = line.split()[1]

    def wrap(self, original):
        def make_dataset(source, *, mask, training, **kw):
            idx = np.arange(source.num_examples) if mask is None else np.flatnonzero(mask)
            kind = "main" if list(source.files) == self.main_files else "eval"
            self.calls.append(Call(self.stage, kind, bool(training), frozenset(idx.tolist())))
            return original(source, mask=mask, training=training, **kw)

        return make_dataset

    def run(self, fn):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(D, "make_dataset", self.wrap(D.make_dataset))
            return fn()


@pytest.fixture(scope="module")
def cost_dir(tmp_path_factory, write_cost_models):
    folder = tmp_path_factory.mktemp("cm")
    write_cost_models(folder, get_space("multi_hardware", **SPACE), n=40)
    return folder


@pytest.fixture(scope="module", params=["tfrecord", "folder"])
def data(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"data_{request.param}")
    if request.param == "tfrecord":
        write_tfrecords(root, N)
    else:
        write_folder(root, N)
    source = D.open_data(root)
    assert source.kind == request.param and source.num_examples == N
    assert source.eval_source is None  # the test split is carved
    return root, source


def _sets(splits):
    return tuple(frozenset(np.flatnonzero(m).tolist())
                 for m in (splits.test, splits.search_valid, splits.train))


def _search_splits(folder: Path) -> dict:
    result = json.loads((folder / "search_result.json").read_text())
    run = json.loads((folder / "run.json").read_text())
    req = run.get("request") or {}
    for d in (result.get("splits"), req.get("splits"), (req.get("data") or {}).get("splits")):
        if isinstance(d, dict):
            return d
    raise AssertionError("the search recorded no splits")


def test_test_split_disjoint_and_identical_across_entry_points(data, cost_dir, tmp_path):
    from mhzoo.search.regenerate import regenerate
    from mhzoo.search.training.loop import train
    from mhzoo.search.tunas.loop import run_search

    root, source = data
    ref = make_splits(N, TEST, SEARCH_VALID, 0)
    test, valid, train_set = _sets(ref)
    sha = ref.describe()["test_sha256"]
    records = {}

    # --- mhzoo train (plain training: search_valid 0; the test split depends only on
    # (N, TEST, split seed), so it is the same)
    rec = Recorder(source)
    res = rec.run(lambda: train(
        "mobilenet_v1", root, tmp_path / "train", preset="cifar10-proxy", width=0.25,
        overrides=dict(epochs=1, global_batch=16, test=TEST), limit_train=32,
        limit_held_out=16, log_every=1, progress=False))
    assert res.finished and 0 <= res.metrics["test_top1"] <= 1
    records["train"] = json.loads((tmp_path / "train" / "run.json").read_text())[
        "request"]["data"]["splits"]
    fits = [c for c in rec.calls if c.training]
    evals = [c for c in rec.calls if not c.training]
    assert fits and evals and all(c.source == "main" for c in rec.calls)
    for c in fits:
        assert not c.indices & test, "mhzoo train trained on test images"
    assert all(c.indices == test for c in evals)  # it reports on exactly the test split

    # --- search run (training stream = train, RL stream = search_valid, test never opened)
    rec = Recorder(source)
    rec.run(lambda: run_search(
        space="multi_hardware", space_options={"max_layers": 1}, reward="max",
        cost_models=cost_dir, data=root, out_dir=tmp_path / "search", seed=3,
        overrides={"steps": 4, "global_batch": 8, "rl_batch_multiplier": 2,
                   "checkpoint_every": 2, "log_every": 1,
                   "proxy": {"stem_stride": 1, "width": 0.25},
                   "shared": {"test": TEST, "search_valid": SEARCH_VALID}},
        limit_train=32, limit_held_out=16, progress=False))
    assert rec.calls
    for c in rec.calls:
        assert not c.indices & test, "the search opened test images"
    assert any(c.indices <= valid for c in rec.calls)  # the controller's reward images
    assert any(c.indices <= train_set for c in rec.calls)  # the shared weights' images
    records["search"] = _search_splits(tmp_path / "search")

    # --- regenerate --tiny (its search, retraining on final_train, int8 calibration, report)
    rec = Recorder(source)
    summary = rec.run(lambda: regenerate(
        tmp_path / "regen", reward="max", data=root, cost_models=cost_dir, tiny=True,
        progress=False, accept_unconverged=True, echo=rec.echo))
    records["regenerate"] = summary["splits"]
    assert {c.stage for c in rec.calls} >= {"search", "train", "export"}
    for c in rec.calls:
        if c.stage == "train" and not c.training:
            assert c.indices == test  # the reported accuracy's images: exactly the test split
        else:
            assert not c.indices & test, f"regenerate's {c.stage} stage read test images"
    assert any(c.stage == "search" and c.indices <= valid for c in rec.calls)
    assert any(c.stage == "train" and c.training and c.indices == valid | train_set
               for c in rec.calls)  # the retraining uses final_train
    calib = [c for c in rec.calls if c.stage == "export"]
    assert calib and all(c.indices <= train_set for c in calib)  # calibration from train
    assert summary["test_images"] == 32 and summary["converged"] is False
    for name in ("search", "train"):
        run = json.loads((tmp_path / "regen" / name / "run.json").read_text())
        records[f"regenerate/{name}"] = (_search_splits(tmp_path / "regen" / name)
                                         if name == "search" else
                                         run["request"]["data"]["splits"])

    # --- one test split everywhere
    for where, r in records.items():
        assert r["rule"] == "mhzoo.splits/v1", where
        assert (r["num_examples"], r["test"], r["seed"]) == (N, TEST, 0), where
        assert r["test_sha256"] == sha, where


@pytest.mark.parametrize("kind", ["tfrecord", "folder"])
def test_own_evaluation_split_is_the_test_split(kind, tmp_path):
    """Data with its own evaluation split (``validation-*`` shards; ``val/`` beside ``train/``):
    ``mhzoo train`` trains on every training image and evaluates on that split only."""
    from mhzoo.search.training.loop import train

    root = tmp_path / "data"
    if kind == "tfrecord":
        write_tfrecords(root, 96)
        write_tfrecords(root, 40, shards=1, prefix="validation", seed=1)
    else:
        write_folder(root / "train", 96)
        write_folder(root / "val", 40, seed=1)
    source = D.open_data(root)
    assert source.num_examples == 96 and source.eval_source.num_examples == 40
    rec = Recorder(source)
    res = rec.run(lambda: train(
        "mobilenet_v1", root, tmp_path / "train", preset="cifar10-proxy", width=0.25,
        overrides=dict(epochs=1, global_batch=16), limit_train=32, log_every=1, progress=False))
    assert res.finished and res.metrics["test_images"] == 40
    fits = [c for c in rec.calls if c.training]
    evals = [c for c in rec.calls if not c.training]
    assert fits and all(c.source == "main" and c.indices == frozenset(range(96)) for c in fits)
    assert evals and all(c.source == "eval" and c.indices == frozenset(range(40))
                         for c in evals)
    splits = json.loads((tmp_path / "train" / "run.json").read_text())["request"]["data"][
        "splits"]
    assert splits["test_from"] == "own" and splits["test"] == 40 and splits["train"] == 96
