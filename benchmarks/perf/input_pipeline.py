"""Is the input pipeline the bottleneck? Training images/s with JPEG decoding + augmentation from
the TFRecord shards vs the same model, batch and train step fed from in-memory tensors.

    python benchmarks/perf/input_pipeline.py [--model multi_max] [--rounds 6] [--steps 40]

Both feeds run the same ``TrainStep`` (the training loop's compiled step) on the same model,
alternating in rounds (A B A B ...) after a warm-up, so machine-load drifts hit both alike; the
ratio of the median images/s is reported (acceptance: >= 0.95). Rounds already measured are
kept in ``results/input_pipeline.partial.json``, so an interrupted run resumes; the summary
goes to ``results/input_pipeline.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_DATA = HERE.parents[1].parent / "shared" / "data" / "cifar10"


def main(argv: list[str] | None = None) -> int:
    """Measure and write the summary."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="multi_max")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=40, help="steps per round")
    p.add_argument("--warmup", type=int, default=15)
    a = p.parse_args(argv)

    import tensorflow as tf

    from mhzoo.atomic import atomic_write_text
    from mhzoo.search.training import data as D
    from mhzoo.search.training.modeling import build_training_model
    from mhzoo.search.training.recipes import get_preset
    from mhzoo.search.training.step import TrainStep

    recipe = get_preset("cifar10-proxy")
    batch = recipe.global_batch
    strategy = tf.distribute.get_strategy()
    src = D.open_data(a.data)
    mask = D.held_out_mask(src.num_examples, recipe.held_out, 0)
    kw = dict(image_size=recipe.image_size, num_classes=src.num_classes,
              dropout=recipe.effective_dropout, stride_plan=recipe.stride_plan, width=a.width)
    model = build_training_model(a.model, **kw)
    twin = build_training_model(a.model, **kw)
    spe = int((~mask).sum()) // batch
    step = TrainStep(model, twin, recipe, strategy, global_batch=batch, steps_per_epoch=spe,
                     total_steps=spe * int(recipe.epochs))
    pipeline = iter(D.distribute(strategy, src, global_batch=batch, mask=~mask, training=True,
                                 image_size=recipe.image_size, augmentation=recipe.augmentation,
                                 batches_per_epoch=spe))
    # in-memory: 8 batches decoded once (eval transform), cycled as resident tensors
    x, y = zip(*[(bx, by) for bx, by in D.make_dataset(
        src, mask=~mask, training=False, batch_size=batch, image_size=recipe.image_size,
        augmentation=recipe.augmentation, limit=8 * batch)])
    mem = tf.data.Dataset.from_tensor_slices((tf.concat(x, 0), tf.concat(y, 0))).batch(
        batch, drop_remainder=True).cache().repeat()
    memory = iter(strategy.experimental_distribute_dataset(mem))
    feeds = {"pipeline": pipeline, "memory": memory}
    for it in feeds.values():
        for _ in range(a.warmup):
            step.train_step(it)

    partial = RESULTS / "input_pipeline.partial.json"
    key = {"model": a.model, "width": a.width, "batch": batch, "steps": a.steps}
    state = json.loads(partial.read_text()) if partial.is_file() else {}
    if state.get("key") != key:
        state = {"key": key, "rounds": []}
    while len(state["rounds"]) < a.rounds:
        row = {}
        for name, it in feeds.items():
            t = time.perf_counter()
            for _ in range(a.steps):
                step.train_step(it)
            row[name] = a.steps * batch / (time.perf_counter() - t)
        row["load_avg"] = os.getloadavg()[0]
        state["rounds"].append(row)
        atomic_write_text(partial, json.dumps(state, indent=1))
        print(f"round {len(state['rounds'])}: pipeline {row['pipeline']:.1f} img/s, memory "
              f"{row['memory']:.1f} img/s")
    med = {n: statistics.median(r[n] for r in state["rounds"]) for n in feeds}
    ratio = med["pipeline"] / med["memory"]
    summary = {**key, "rounds": state["rounds"], "median_images_per_sec": med, "ratio": ratio,
               "cpus": os.cpu_count()}
    atomic_write_text(RESULTS / "input_pipeline.json", json.dumps(summary, indent=1) + "\n")
    lines = ["# Input pipeline vs in-memory tensors (benchmarks/perf/input_pipeline.py)", "",
             f"{a.model} {a.width:g}, cifar10-proxy recipe (32 px, stride plan "
             f"{recipe.stride_plan}), batch {batch}, {a.rounds} alternating rounds of "
             f"{a.steps} steps after {a.warmup} warm-up steps each, {os.cpu_count()} CPUs.", "",
             "| round | pipeline img/s | in-memory img/s | load avg |", "|---|---|---|---|"]
    lines += [f"| {i + 1} | {r['pipeline']:.1f} | {r['memory']:.1f} | {r['load_avg']:.2f} |"
              for i, r in enumerate(state["rounds"])]
    lines += ["", f"Median: pipeline {med['pipeline']:.1f} img/s, in-memory {med['memory']:.1f} "
              f"img/s, ratio **{ratio:.3f}** (acceptance >= 0.95).", ""]
    atomic_write_text(RESULTS / "input_pipeline.md", "\n".join(lines))
    partial.unlink(missing_ok=True)
    print(f"ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
