"""CIFAR-10 proxy training of the paper's models on this machine (issue 10 acceptance runs).

One command per model; rerun the same command after an interruption (even SIGKILL) and it
resumes from the last checkpoint. Run it in the background, e.g.::

    nohup python benchmarks/perf/train_cifar10_proxy.py --model multi_max --export \
        > runs/cifar10_proxy/multi_max.log 2>&1 &
    nohup python benchmarks/perf/train_cifar10_proxy.py --model mobilenet_v2 > ... &
    nohup python benchmarks/perf/train_cifar10_proxy.py --model mobilenet_v3_large_minimalistic ...

Stages (each skipped when its output exists, so reruns are cheap):

1. ``mhzoo.search.training.train`` with the ``cifar10-proxy`` preset (stride plan ``proxy32``:
   stem stride 1) and ``--time-budget`` (default 57 minutes of wall time for the whole run,
   restarts included: the cosine schedule is fitted to it) into ``WORK/<model>/``;
2. ``results/cifar10_proxy_<model>.json`` (metrics, command, machine load) and the learning
   curve ``results/cifar10_proxy_<model>.png``; ``results/cifar10_proxy.md`` tabulates every
   model trained so far;
3. with ``--export``: float32 and int8_full TFLite exports (PTQ calibrated on training-split
   images), top-1 of Keras / float / int8 on ``--eval-images`` test images, int8-vs-float
   top-1 agreement and accuracy drop; ``--qat`` adds the QAT export; ``--mediapipe`` checks
   that MediaPipe's ImageClassifier gives LiteRT's top-1 on the same images.

Accuracy is test accuracy: the splits are rule ``mhzoo.splits/v1``
(:mod:`mhzoo.search.training.splits`) with the preset's 5,000 test images and split seed 0, the
same test images as a search or ``regenerate`` on this data; training reads the rest, nothing
selects or stops on the test split, and the int8 calibration images come from the training
split. Results written before the rule say ``held_out_top1``: their held-out split (5,000
images, seed 0, nothing selected on it) is exactly this test split, so they are read as test
accuracy.

Only the summaries under ``benchmarks/perf/results/`` are meant to be committed; the run folders
(checkpoints) stay in ``WORK`` (default ``./runs/cifar10_proxy``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_DATA = HERE.parents[1].parent / "shared" / "data" / "cifar10"


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="multi_max")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--work", default="runs/cifar10_proxy")
    p.add_argument("--time-budget", default="57m", help="whole-run wall time (e.g. 57m)")
    p.add_argument("--epochs", type=float, default=None, help="override the preset's epochs "
                   "(the upper bound when a time budget is given)")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", action="store_true", help="export float / int8 and compare")
    p.add_argument("--qat", action="store_true", help="also the QAT export (with --export)")
    p.add_argument("--mediapipe", action="store_true",
                   help="also MediaPipe ImageClassifier vs LiteRT (with --export)")
    p.add_argument("--eval-images", type=int, default=2000)
    p.add_argument("--calibration-images", type=int, default=500)
    return p.parse_args(argv)


def _train(a: argparse.Namespace, run_dir: Path) -> dict:
    from mhzoo.search.cli.train import parse_duration
    from mhzoo.search.training.loop import train

    t0 = time.time()
    res = train(a.model, a.data, run_dir, preset="cifar10-proxy",
                overrides={"epochs": a.epochs} if a.epochs else None, width=a.width,
                seed=a.seed, time_budget=parse_duration(a.time_budget), progress=True)
    run = json.loads((run_dir / "run.json").read_text())
    return {"model": a.model, "width": a.width, "preset": "cifar10-proxy",
            "stride_plan": run["request"]["recipe"]["stride_plan"],
            "steps": res.step, "epochs": res.history[-1]["epoch"] if res.history else None,
            "train_seconds": run.get("seconds"), "this_call_seconds": time.time() - t0,
            "test_top1": res.metrics.get("test_top1"),
            "test_top5": res.metrics.get("test_top5"),
            "test_images": res.metrics.get("test_images"),
            "splits": run["request"]["data"]["splits"],
            "history": res.history, "checkpoint": str(res.model_dir),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_avg_at_end": os.getloadavg()}}


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = summary["history"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["seconds"] / 60 for r in h], [100 * _test(r, "top1") for r in h], "o-",
            label="test top-1 (EMA)")
    ax.plot([r["seconds"] / 60 for r in h], [100 * (r["train_top1"] or 0) for r in h], "s--",
            label="train top-1 (augmented, last interval)")
    ax.axhline(85, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("wall time (min)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"{summary['model']} on CIFAR-10 proxy ({summary['stride_plan']})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _test(row: dict, key: str) -> float:
    """``test_<key>`` of a summary or history row (``held_out_<key>`` before the splits rule:
    the same images, see the module doc)."""
    v = row.get(f"test_{key}", row.get(f"held_out_{key}"))
    return 0.0 if v is None else float(v)


def _export(a: argparse.Namespace, run_dir: Path, summary: dict) -> dict:
    import numpy as np

    import mhzoo
    from mhzoo.export import to_tflite
    from mhzoo.search.training import data as D
    from mhzoo.search.training.evaluate import evaluate, split_data

    ckpt = run_dir / "model"
    cfg = json.loads((ckpt / "config.json").read_text())
    size = cfg["pretrained_cfg"]["input_size"][0]
    src = D.open_data(a.data)
    record = cfg["pretrained_cfg"]["training"]
    calib_src, calib_mask, _ = split_data(src, "train", record)  # never the test split
    test_src, test_mask, _ = split_data(src, "test", record)
    calib = np.concatenate([x.numpy() for x, y in D.make_dataset(
        calib_src, mask=calib_mask, training=False, batch_size=100, image_size=size,
        augmentation="small", limit=a.calibration_images)])[:a.calibration_images]
    labels_file = run_dir / "labels.txt"
    labels_file.write_text("\n".join(cfg["label_names"]) + "\n")
    model = mhzoo.build(a.model, weights=str(ckpt), input_shape=(size, size, 3))
    out: dict = {}
    modes = ["float32", "int8_full"] + (["qat"] if a.qat else [])
    keras_res = evaluate(run_dir, src, split="test", limit=a.eval_images,
                         return_predictions=True)
    out["keras"] = {k: keras_res[k] for k in ("top1", "top5", "count")}
    for mode in modes:
        path = run_dir / f"{a.model}_{mode}.tflite"
        if not path.is_file():
            to_tflite(model, path, quant=mode, representative_data=calib, labels=labels_file)
        res = evaluate(path, src, split="test", split_from=run_dir, limit=a.eval_images,
                       return_predictions=True)
        agree = float(np.mean(np.array(res["predictions"]) ==
                              np.array(keras_res["predictions"])))
        out[mode] = {"top1": res["top1"], "top5": res["top5"], "count": res["count"],
                     "top1_agreement_with_keras": agree, "path": str(path),
                     "predictions": res["predictions"]}
    if "int8_full" in out:
        f, q = out["float32"], out["int8_full"]
        out["int8_vs_float"] = {
            "top1_agreement": float(np.mean(np.array(f["predictions"]) ==
                                            np.array(q["predictions"]))),
            "accuracy_drop_points": 100 * (f["top1"] - q["top1"])}
    if a.mediapipe:
        out["mediapipe"] = _mediapipe(out["int8_full"]["path"], test_src, test_mask, size,
                                      a.eval_images, out["int8_full"]["predictions"])
    for mode in modes:
        out[mode].pop("predictions")
    return out


def _mediapipe(path: str, src, mask, size: int, n: int, litert_pred: list[int]) -> dict:
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    from mhzoo.search.training import data as D

    opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path),
                                         max_results=1)
    preds, labels = [], []
    with vision.ImageClassifier.create_from_options(opts) as clf:
        for x, y in D.make_dataset(src, mask=mask, training=False, batch_size=100,
                                   image_size=size, augmentation="small", limit=n):
            for img, lab in zip(x.numpy(), y.numpy()):
                if lab < 0:
                    continue
                image = mp.Image(image_format=mp.ImageFormat.SRGB,
                                 data=np.ascontiguousarray(img.astype(np.uint8)))
                cats = clf.classify(image).classifications[0].categories
                preds.append(cats[0].index)
                labels.append(int(lab))
    preds_a, labels_a = np.array(preds), np.array(labels)
    return {"top1": float(np.mean(preds_a == labels_a)), "count": len(preds),
            "top1_agreement_with_litert": float(np.mean(preds_a == np.array(litert_pred)))}


def _table() -> None:
    rows = []
    for p in sorted(RESULTS.glob("cifar10_proxy_*.json")):
        s = json.loads(p.read_text())
        ex = s.get("export") or {}
        int8 = ex.get("int8_full", {})
        rows.append(f"| {s['model']} | {s['width']:g} | {s['stride_plan']} | {s['steps']} | "
                    f"{(s['epochs'] or 0):.1f} | {(s['train_seconds'] or 0) / 60:.1f} | "
                    f"{100 * _test(s, 'top1'):.2f} | {100 * _test(s, 'top5'):.2f} | "
                    f"{100 * int8['top1']:.2f} |" if int8 else
                    f"| {s['model']} | {s['width']:g} | {s['stride_plan']} | {s['steps']} | "
                    f"{(s['epochs'] or 0):.1f} | {(s['train_seconds'] or 0) / 60:.1f} | "
                    f"{100 * _test(s, 'top1'):.2f} | {100 * _test(s, 'top5'):.2f} | - |")
    text = ["# CIFAR-10 proxy training (benchmarks/perf/train_cifar10_proxy.py)", "",
            "../shared/data/cifar10 split by rule mhzoo.splits/v1 (45,000 training / 5,000 "
            "test images, split seed 0: the test images of a search or regenerate on this "
            "data), preset cifar10-proxy, **test** top-1 of the EMA weights (nothing selects "
            "or stops on the test split; int8 calibration images from the training split). "
            "Runs recorded before the rule call it held-out: the same 5,000 images.", "",
            "| model | width | stride plan | steps | epochs | train min | test top-1 % | "
            "test top-5 % | int8 test top-1 % |", "|---|---|---|---|---|---|---|---|---|",
            *rows, ""]
    from mhzoo.atomic import atomic_write_text

    atomic_write_text(RESULTS / "cifar10_proxy.md", "\n".join(text))


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the stages for one model."""
    a = _args(argv)
    from mhzoo.atomic import atomic_write_text

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    run_dir = work / a.model
    RESULTS.mkdir(exist_ok=True)
    out_json = RESULTS / f"cifar10_proxy_{a.model}.json"
    summary = json.loads(out_json.read_text()) if out_json.is_file() else None
    if summary is None:
        summary = _train(a, run_dir)
        atomic_write_text(out_json, json.dumps(summary, indent=1) + "\n")
        _plot(summary, RESULTS / f"cifar10_proxy_{a.model}.png")
    if a.export and "export" not in summary:
        summary["export"] = _export(a, run_dir, summary)
        atomic_write_text(out_json, json.dumps(summary, indent=1) + "\n")
    _table()
    print(json.dumps({"model": summary.get("model"), "steps": summary.get("steps"),
                      "test_top1": _test(summary, "top1"), "test_top5": _test(summary, "top5"),
                      "train_seconds": summary.get("train_seconds")}))
    if "export" in summary:
        print(json.dumps({k: v for k, v in summary["export"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
