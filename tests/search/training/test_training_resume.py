"""Long runs: a run killed with SIGKILL mid-run resumes from its last checkpoint, with no
repeated or skipped committed steps, and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = r"""
import os, signal, sys
from pathlib import Path
from mhzoo.search.training.loop import train

data, out, kill_at = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
log = out.parent / (out.name + ".steps")

def on_step(step):
    with open(log, "a") as f:
        f.write(f"{os.getpid()} {step}\n")
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no final save

train("multi_max", data, out, preset="cifar10-proxy",
      overrides=dict(epochs=2, global_batch=16), width=0.25, limit_train=48, limit_held_out=32,
      checkpoint_every=2, log_every=1, progress=False, deterministic=True, on_step=on_step)
"""


def _run(data, out, kill_at):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(data), str(out), str(kill_at)],
                          capture_output=True, text=True, env=env, timeout=900)


def _steps(out):
    rows = [line.split() for line in out.with_name(out.name + ".steps").read_text().splitlines()]
    pids = list(dict.fromkeys(r[0] for r in rows))
    return [[int(r[1]) for r in rows if r[0] == p] for p in pids]


def test_sigkill_then_rerun_resumes_exactly(shared_dir, tmp_path):
    from mhzoo.weights import read_safetensors

    data = shared_dir / "data" / "cifar10"
    killed = tmp_path / "killed"
    first = _run(data, killed, kill_at=5)
    assert first.returncode == -9, first.stderr[-2000:]  # SIGKILL
    ckpts = sorted(p.name for p in (killed / "checkpoints").glob("ckpt-*.index"))
    assert ckpts == ["ckpt-2.index", "ckpt-4.index"]
    assert not (killed / "model").exists()
    second = _run(data, killed, kill_at=-1)
    assert second.returncode == 0, second.stderr[-2000:]
    runs = _steps(killed)
    assert runs[0] == [1, 2, 3, 4, 5]
    assert runs[1] == [5, 6]  # resumed after ckpt-4: step 5 redone (never committed), 6 = end
    run = json.loads((killed / "run.json").read_text())
    assert run["status"] == "finished" and run["step"] == 6
    history = json.loads((killed / "history.json").read_text())
    assert [h["step"] for h in history] == [3, 6]  # one evaluation per epoch, none repeated

    straight = tmp_path / "straight"
    third = _run(data, straight, kill_at=-1)
    assert third.returncode == 0, third.stderr[-2000:]
    assert _steps(straight) == [[1, 2, 3, 4, 5, 6]]
    a = read_safetensors(killed / "model" / "model.safetensors")
    b = read_safetensors(straight / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
    assert worst < 1e-5, worst
    assert json.loads((straight / "history.json").read_text())[-1]["test_top1"] == \
        history[-1]["test_top1"]
