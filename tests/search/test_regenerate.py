"""``mhzoo regenerate multi_max --tiny``: cost models (collected with the direct writer and
fitted) -> search -> training -> float / int8 export -> benchmark -> MN-Norm report, end to end,
then a rerun that finds every stage's output and skips it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from mhzoo.cli import main


def test_regenerate_multi_max_tiny_end_to_end(shared_data, tmp_path):
    import mhzoo
    from mhzoo.search.regenerate import regenerate
    from mhzoo.search.result import read_result

    data = shared_data / "cifar10"
    out = tmp_path / "regen"
    args = ["regenerate", "multi_max", "--tiny", "--data", str(data), "-o", str(out),
            "--no-progress"]
    # a 4-step search does not converge: regenerate says so in one line and stops (exit 2)
    # before training ...
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "did not converge" in errors[0], res.output
    assert "--accept-unconverged" in errors[0] and "Traceback" not in res.output
    assert (out / "search" / "search_result.json").is_file() and not (out / "train").exists()
    # ... and goes on when told to, saying so and recording it
    res = CliRunner().invoke(main, [*args, "--accept-unconverged"])
    assert res.exit_code == 0, res.output
    assert "warning: the search did not converge" in res.output
    assert "search NOT converged" in res.output and "test top-1" in res.output
    for name in ("regenerate.json", "costmodels/cpu_fp32.json", "costmodels/cpu_int8.json",
                 "costmodels/reference_ms.json", "latency.sqlite", "search/search_result.json",
                 "train/model/config.json", "export/model_float32.tflite",
                 "export/model_int8.tflite", "bench.sqlite", "report.md", "report.csv",
                 "report.json"):
        assert (out / name).exists(), name
    summary = json.loads((out / "report.json").read_text())
    result = read_result(out / "search" / "search_result.json")
    assert summary["reward"] == "max" and result["reward"]["name"] == "max"
    assert summary["searched"] == result["spec"]["name"]
    assert set(summary["measured"]["latency_ms"]) == {"cpu_fp32", "cpu_int8"}
    assert summary["measured"]["mn_norm_max"] > 0 and summary["predicted"]["mn_norm_max"] > 0
    assert all(v and v > 0 for v in summary["exported_latency_ms"].values())
    assert 0 <= summary["test_top1"] <= 1 and summary["test_images"] == 32
    assert summary["converged"] is False and "did NOT converge" in (out / "report.md").read_text()
    # one set of splits (the cpu-proxy preset's, shrunk by --tiny) for every stage
    splits = summary["splits"]
    assert splits["rule"] == "mhzoo.splits/v1" and splits["test"] == splits["search_valid"] == 100
    train_run = json.loads((out / "train" / "run.json").read_text())["request"]["data"]
    assert train_run["splits"] == splits and train_run["train_split"] == "final_train"
    assert json.loads((out / "regenerate.json").read_text())["request"]["splits"] == splits
    assert set(summary["paper_pixel4"]) == {"multi_avg@1.0", "multi_max@1.0"}
    table = (out / "report.md").read_text()
    for row in (result["spec"]["name"], "multi_max", "mobilenet_v1"):
        assert f"| {row} |" in table
    # the deployment spec of the result builds as it is
    model = mhzoo.build(str(out / "search" / "search_result.json"), input_shape=(32, 32, 3))
    assert model.arch_spec.name == result["spec"]["name"]

    # rerun: every stage finds its output
    again = regenerate(out, reward="max", data=data, tiny=True, progress=False,
                       accept_unconverged=True, echo=lambda s: None)
    assert again["searched"] == summary["searched"]
    assert again["measured"] == summary["measured"]
    assert again["stage_seconds"]["search"] < 30 and again["stage_seconds"]["export"] < 5

    # another request in the same folder is refused before anything runs
    bad = CliRunner().invoke(main, ["regenerate", "multi_avg", "--tiny", "--data", str(data),
                                    "-o", str(out)])
    assert bad.exit_code == 2 and "holds another regenerate run" in bad.output
    bad = CliRunner().invoke(main, ["regenerate", "multi_mid", "--data", str(data), "-o",
                                    str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown model to regenerate" in bad.output
    assert not (tmp_path / "x").exists()
