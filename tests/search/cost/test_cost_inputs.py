"""Cost-model inputs that used to pass and waste a job: a NaN bias, a dataset mixing decodings,
genotypes of another input size, two models for one target; and --force on every output."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.cost import LinearCostModel, load_cost_models, load_dataset, write_dataset_csv
from mhzoo.search.latency import sample_genotypes

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}


def _one_line_error(res, needle):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], res.output


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    space = get_space("multi_hardware", **SPACE)
    gs = sample_genotypes(space, 40, seed=1)
    path = tmp_path_factory.mktemp("cm") / "cpu_fp32.json"
    LinearCostModel.fit(space, gs, [1.0 + 0.01 * i for i in range(40)], "cpu_fp32",
                        lambdas=(1.0,)).save(path)
    return path


@pytest.mark.parametrize("bias", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_bias_is_refused(model_file, tmp_path, bias):
    data = json.loads(model_file.read_text())
    bad = tmp_path / "cpu_fp32.json"
    bad.write_text(json.dumps(data).replace(f'"bias": {data["bias"]!r}', f'"bias": {bias}')
                   .replace(f'"bias":{data["bias"]!r}', f'"bias":{bias}'))
    assert bias in bad.read_text()
    g = get_space("multi_hardware", **SPACE).sample(0).to_string()
    _one_line_error(CliRunner().invoke(main, ["search", "costmodel", "predict", "-m", str(bad),
                                              g]), "cost model")
    with pytest.raises(ValueError, match="cost model"):
        load_cost_models(tmp_path, get_space("multi_hardware", **SPACE))
    with pytest.raises(ValueError, match="finite"):
        LinearCostModel(get_space("multi_hardware", **SPACE), "cpu_fp32",
                        json.loads(model_file.read_text())["weights"], float("nan"))


def test_dataset_mixing_decodings_is_refused(tmp_path):
    rows = []
    for size in (32, 64):
        space = get_space("multi_hardware", **{**SPACE, "input_size": size})
        rows += [{"genotype": g.to_string(), "cpu_fp32_ms": 1.0 + i}
                 for i, g in enumerate(sample_genotypes(space, 3, seed=size))]
    path = write_dataset_csv(tmp_path / "mixed.csv", rows, ["cpu_fp32"])
    with pytest.raises(ValueError, match=r"row 4: genotype has input_size=64 .* input_size=32"):
        load_dataset(path)
    same = write_dataset_csv(tmp_path / "same.csv", rows[:3], ["cpu_fp32"])
    assert len(load_dataset(same)) == 3


def test_model_refuses_genotypes_of_another_decoding(model_file):
    other = get_space("multi_hardware", **{**SPACE, "input_size": 64}).sample(0)
    res = CliRunner().invoke(main, ["search", "costmodel", "predict", "-m", str(model_file),
                                    other.to_string()])
    _one_line_error(res, "input_size=64")
    same = get_space("multi_hardware", **SPACE).sample(0)
    res = CliRunner().invoke(main, ["search", "costmodel", "predict", "-m", str(model_file),
                                    same.to_string()])
    assert res.exit_code == 0, res.output


def test_two_models_for_one_target_are_refused(model_file, tmp_path):
    copy = tmp_path / "again.json"
    copy.write_bytes(model_file.read_bytes())
    g = get_space("multi_hardware", **SPACE).sample(0).to_string()
    _one_line_error(CliRunner().invoke(main, ["search", "costmodel", "predict", "-m",
                                              str(model_file), "-m", str(copy), g]),
                    "two cost models for target 'cpu_fp32'")


def test_outputs_need_force(model_file, tmp_path):
    run = CliRunner().invoke
    out = tmp_path / "g.json"
    out.write_text("keep")
    _one_line_error(run(main, ["search", "encode", "multi_avg", "--space", "multi_hardware",
                               "-o", str(out)]), "output exists")
    assert out.read_text() == "keep"
    res = run(main, ["search", "encode", "multi_avg", "--space", "multi_hardware", "-o",
                     str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["space"] == "multi_hardware"
    space = get_space("multi_hardware", **SPACE)
    rows = [{"genotype": g.to_string(), "cpu_fp32_ms": 1.0 + i}
            for i, g in enumerate(sample_genotypes(space, 12, seed=3))]
    data = write_dataset_csv(tmp_path / "d.csv", rows, ["cpu_fp32"])
    plot = tmp_path / "plot.png"
    plot.write_text("keep")
    _one_line_error(run(main, ["search", "costmodel", "eval", str(model_file), "--data",
                               str(data), "--plot", str(plot)]), "output exists")
    assert plot.read_text() == "keep"
