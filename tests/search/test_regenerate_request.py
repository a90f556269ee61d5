"""What a regenerate run and a search accept before anything runs: simulated targets beside the
CPU ones (phones refused), the MN-Norm target and retraining epochs, and an eq. 6 search aimed
at ``mn_norm_target x C_T``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.regenerate import RegenerateRequest

SPACE = {"input_size": 32, "width": 0.25, "max_layers": 1}


def test_regenerate_takes_simulated_targets_and_refuses_phones(shared_data, tmp_path):
    data = shared_data / "cifar10"
    r = RegenerateRequest(tmp_path / "r", "max", data,
                          targets=("cpu_fp32", "sim_edgetpu", "sim_tpu"), mn_norm_target=1.25,
                          epochs=2)
    assert r.targets == ("cpu_fp32", "sim_edgetpu", "sim_tpu") and r.mn_norm_target == 1.25
    with pytest.raises(ValueError, match="run on a phone"):
        RegenerateRequest(tmp_path / "r", "max", data, targets=("cpu_fp32", "edgetpu"))
    for field, bad in (("mn_norm_target", 0), ("mn_norm_target", float("nan")),
                       ("epochs", -1), ("epochs", True)):
        with pytest.raises(ValueError, match=field):
            RegenerateRequest(tmp_path / "r", "max", data, **{field: bad})
    res = CliRunner().invoke(main, ["regenerate", "multi_max", "--data", str(data),
                                    "--targets", "cpu_fp32,gpu", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "run on a phone" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x").exists()


def test_single_reward_aims_at_mn_norm_target_times_its_factor(shared_data, tmp_path,
                                                               write_cost_models):
    from mhzoo.search.tunas.convergence import search_cost
    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.request import SearchRequest, prepare_search

    space = get_space("multi_hardware", **SPACE)
    factors = write_cost_models(tmp_path / "cm", space, n=40)
    common = {"cost_models": tmp_path / "cm", "data": shared_data / "cifar10",
              "space_options": {"max_layers": 1}}
    p = prepare_search(SearchRequest(reward="single:cpu_int8", mn_norm_target=1.25, **common))
    _, target, measure = search_cost(p)
    assert measure == "latency_ms/cpu_int8"
    assert target == pytest.approx(1.25 * factors["cpu_int8"])
    reward = p.make_reward(InGraphCost(p.models))
    assert float(reward.objective.target) == pytest.approx(1.25 * factors["cpu_int8"])
    # the effective aim is part of the run's identity (an older folder aimed at C_T is refused)
    rec = p.record(1, 32, 10)["reward"]
    assert rec["target_ms"] == pytest.approx(1.25 * factors["cpu_int8"])
    # the default (MN-Norm 1) keeps the factor itself
    p1 = prepare_search(SearchRequest(reward="single:cpu_int8", **common))
    assert search_cost(p1)[1] == pytest.approx(factors["cpu_int8"])
    with pytest.raises(ValueError, match="not both"):
        SearchRequest(reward="single:cpu_int8", mn_norm_target=1.25, latency_target=3.0,
                      **common)


def test_beta_reaches_the_reward_and_bad_beta_is_refused(shared_data, tmp_path,
                                                         write_cost_models):
    from mhzoo.search.tunas.config import get_search_preset
    from mhzoo.search.tunas.ingraph import InGraphCost
    from mhzoo.search.tunas.request import SearchRequest, prepare_search

    assert get_search_preset("cpu-proxy").beta == -0.3  # measured (config.py, issue 18)
    assert get_search_preset("imagenet-tpu").beta == -0.07  # the paper's
    space = get_space("multi_hardware", **SPACE)
    write_cost_models(tmp_path / "cm", space, n=40)
    p = prepare_search(SearchRequest(reward="max", cost_models=tmp_path / "cm",
                                     data=shared_data / "cifar10", overrides={"beta": -0.5},
                                     space_options={"max_layers": 1}))
    assert p.make_reward(InGraphCost(p.models)).beta == -0.5
    res = CliRunner().invoke(main, ["search", "run", "--reward", "max", "--cost-models",
                                    str(tmp_path / "cm"), "--data", str(shared_data / "cifar10"),
                                    "--beta", "0.2", "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--beta" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
