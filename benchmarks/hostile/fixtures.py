"""Fixtures of the hostile run, made once under data/ (``--rebuild-data`` remakes them).

Image folders are written with PIL (data, not code under test); latency stores, datasets and
cost models are made with the mhzoo CLI itself, at the smallest sizes (32 / 64 px, width 0.25,
one layer per stage, 24 architectures).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness import DATA, SHARED, SPACE_OPTS, TARGETS, SetupError, mhzoo, must

CLASSES = ("cat", "dog", "frog")


def _images(root: Path, classes=CLASSES, n: int = 12, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for ci, c in enumerate(classes):
        d = root / "train" / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            a[..., ci % 3] += 150
            Image.fromarray(a).save(d / f"{i:02d}.png")


def _store(db: Path, size: int, seed: int) -> None:
    must(mhzoo("search", "collect", "--space", "multi_hardware", "--input-size", size,
               *SPACE_OPTS, "--target", TARGETS, "--n", 24, "--seed", seed, "--db", db,
               "--no-progress"), f"collect {db.name}")


def _dataset(db: Path, size: int, out: Path) -> None:
    must(mhzoo("search", "dataset", "--db", db, "--space", "multi_hardware", *SPACE_OPTS,
               "-O", f"input_size={size}", "--target", TARGETS, "-o", out), f"dataset {out.name}")


def _cost_models(ds: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in TARGETS.split(","):
        must(mhzoo("search", "costmodel", "fit", "--data", ds, "--target", t, "-o",
                   folder / f"{t}.json"), f"costmodel fit {t}")


def build_fixtures(rebuild: bool = False) -> None:
    """Make everything under data/ that is missing (all of it with ``rebuild``)."""
    if rebuild and DATA.exists():
        shutil.rmtree(DATA)
    DATA.mkdir(parents=True, exist_ok=True)
    stamp = DATA / "done.json"
    if stamp.exists():
        return
    cifar = SHARED / "cifar10"
    if not (cifar / "labels.txt").is_file():
        raise SetupError(f"shared CIFAR-10 shards not found at {cifar} (MHZOO_SHARED_DATA)")
    # image folders: 3 classes x 12 PNGs; one with a broken JPEG; one with a single class
    _images(DATA / "img3")
    shutil.copytree(DATA / "img3", DATA / "img_bad")
    (DATA / "img_bad" / "train" / "dog" / "05_broken.jpg").write_bytes(
        b"\xff\xd8\xff\xe0 this is not a JPEG" * 20)
    _images(DATA / "img_one", classes=("cat",), n=24)
    # CIFAR-10 shard with a labels.txt of 3 names (labels 3..9 lie beyond it)
    short = DATA / "tfr_short_labels"
    short.mkdir()
    shard = sorted(cifar.glob("train-*.tfrecord"))[0]
    shutil.copyfile(shard, short / shard.name)
    (short / "labels.txt").write_text("airplane\nautomobile\nbird\n")
    # latency stores (32 and 64 px), datasets, cost models
    _store(DATA / "lat32.sqlite", 32, 0)
    _store(DATA / "lat64.sqlite", 64, 1)
    _dataset(DATA / "lat32.sqlite", 32, DATA / "ds32.csv")
    _dataset(DATA / "lat64.sqlite", 64, DATA / "ds64.csv")
    _cost_models(DATA / "ds32.csv", DATA / "cm32")
    _cost_models(DATA / "ds64.csv", DATA / "cm64")
    # a dataset mixing input sizes: the two CSVs' rows together
    rows32 = (DATA / "ds32.csv").read_text().splitlines()
    rows64 = (DATA / "ds64.csv").read_text().splitlines()
    (DATA / "mixed.csv").write_text("\n".join(rows32 + rows64[1:]) + "\n")
    must(mhzoo("search", "merge", DATA / "lat32.sqlite", DATA / "lat64.sqlite", "-o",
               DATA / "mixed.sqlite"), "merge mixed")
    genos = [r.split('"')[1] for r in rows32[1:4]]
    (DATA / "genotypes32.txt").write_text("\n".join(genos) + "\n")
    genos64 = [r.split('"')[1] for r in rows64[1:4]]
    (DATA / "genotypes64.txt").write_text("\n".join(genos64) + "\n")
    stamp.write_text(json.dumps({"ok": True}))
