"""``mhzoo search run``: bad inputs are one-line errors (exit 2) that leave nothing behind; a
small search runs from the command line and its result goes to ``mhzoo info`` / ``export``."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from mhzoo.cli import main
from mhzoo.search import get_space, runs

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}


def _cli(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output


@pytest.fixture(scope="module")
def cost_dir(tmp_path_factory, write_cost_models):
    folder = tmp_path_factory.mktemp("cm")
    write_cost_models(folder, get_space("multi_hardware", **SPACE), n=40)
    return folder


def _args(cost, data, out, **kw):
    args = {"--space": "multi_hardware", "--reward": "max", "--cost-models": cost,
            "--data": data, "-o": out, **kw}
    flat = ["search", "run", "-O", "max_layers=1", "--no-progress"]
    for k, v in args.items():
        if v is not None:
            flat += [k, v]
    return flat


def test_data_smaller_than_the_presets_split_names_the_preset(cost_dir, tmp_path):
    """``search run`` has no split options: a too-small data set is told the preset's splits
    (it used to be told to use a smaller --held-out)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "data" / f"c{c}").mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "data" / f"c{c}" / f"{i}.png")
    res = _cli(_args(cost_dir, tmp_path / "data", tmp_path / "out",
                     **{"--norm-factors": "cpu_fp32=1,cpu_int8=1"}))
    _one_line_error(res, "too few for the cpu-proxy preset's splits")
    assert "--held-out" not in res.output and "has 12 images" in res.output


def test_bad_inputs_are_one_line_errors_and_leave_nothing(cost_dir, shared_data, tmp_path):
    from mhzoo.search.cost import LinearCostModel
    data = shared_data / "cifar10"
    out = tmp_path / "out"
    # cost models of another space, and of other structural options
    other = tmp_path / "other"
    other.mkdir()
    fb = get_space("proxylessnas")
    gs = [fb.sample(s) for s in range(12)]
    LinearCostModel.fit(fb, gs, [1.0 + i for i in range(12)], "cpu_fp32",
                        lambdas=(1.0,)).save(other / "cpu_fp32.json")
    _one_line_error(_cli(_args(other, data, out)), "space 'proxylessnas'")
    res = _cli(["search", "run", "--reward", "max", "--cost-models", cost_dir, "--data", data,
                "-o", out, "-O", "max_layers=2"])
    _one_line_error(res, "max_layers")
    # a reward naming a target with no cost model; unknown reward; unknown space
    _one_line_error(_cli(_args(cost_dir, data, out, **{"--reward": "single:cpu_fp16"})),
                    "has no cost model")
    _one_line_error(_cli(_args(cost_dir, data, out, **{"--reward": "median"})),
                    "unknown reward")
    _one_line_error(_cli(_args(cost_dir, data, out, **{"--space": "nope"})),
                    "unknown search space")
    # no cost models at all; empty data
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(_cli(_args(empty, data, out)), "no linear cost models")
    _one_line_error(_cli(_args(cost_dir, empty, out)), "")
    assert not out.exists()  # nothing partial anywhere
    # a folder of another run (another seed), and a folder of something else
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    runs.write_run(foreign, runs.SEARCH, {"status": "running",
                                          "request": {"space": "multi_hardware", "seed": 99}})
    before = sorted(p.name for p in foreign.iterdir())
    _one_line_error(_cli(_args(cost_dir, data, foreign, **{"--steps": 2})),
                    "holds another search run")
    assert sorted(p.name for p in foreign.iterdir()) == before
    (tmp_path / "misc").mkdir()
    (tmp_path / "misc" / "notes.txt").write_text("x")
    _one_line_error(_cli(_args(cost_dir, data, tmp_path / "misc")), "holds something else")
    # an MN-Norm reward without factors
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in cost_dir.glob("cpu_*.json"):
        (bare / f.name).write_bytes(f.read_bytes())
    _one_line_error(_cli(_args(bare, data, out)), "needs the MN-Norm factors")
    assert not out.exists()


def test_cli_search_then_info_and_export(cost_dir, shared_data, tmp_path):
    data = shared_data / "cifar10"
    out = tmp_path / "search"
    # cpu_int8 stands in for a simulated target: its latency is labelled so
    sim = tmp_path / "cm_sim"
    sim.mkdir()
    for f in cost_dir.iterdir():
        body = json.loads(f.read_text())
        if f.name == "cpu_int8.json":
            body["info"]["simulated"] = True
        (sim / f.name).write_text(json.dumps(body))
    res = _cli(_args(sim, data, out, **{"--steps": 2, "--batch": 8, "--limit-train": 16,
                                        "--limit-held-out": 8}))
    assert res.exit_code == 0, res.output
    result = out / "search_result.json"
    assert "predicted" in res.output and str(result) in res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("predicted"))
    assert re.search(r"cpu_int8 [\d.]+ ms \(simulated\)", line), line
    assert re.search(r"cpu_fp32 [\d.]+ ms,", line) and line.count("(simulated)") == 1, line
    assert json.loads(result.read_text())["simulated_targets"] == ["cpu_int8"]
    cost_dir = sim
    body = json.loads(result.read_text())
    assert body["format"] == "mhzoo.search_result" and "blocks" not in body
    assert body["run"]["config"]["steps"] == 2
    # a rerun of the finished search does nothing and says the same
    again = _cli(_args(cost_dir, data, out, **{"--steps": 2, "--batch": 8, "--limit-train": 16,
                                               "--limit-held-out": 8}))
    assert again.exit_code == 0 and again.output == res.output
    info = _cli(["info", result, "--input-size", "32", "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output)["name"] == body["spec"]["name"]
    exp = _cli(["export", result, "--quant", "float32", "--input-size", "32", "--num-classes",
                "10", "-o", tmp_path / "m.tflite"])
    assert exp.exit_code == 0, exp.output
    assert (tmp_path / "m.tflite").stat().st_size > 1000
