"""The ``converged`` verdict and its diagnostics (numpy; no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mhzoo.search import get_space
from mhzoo.search.result import add_convergence, read_result, result_convergence, write_result
from mhzoo.search.space import Decision
from mhzoo.search.tunas import convergence
from mhzoo.search.tunas.convergence import THRESHOLDS, active_mask, cost_function, report, warning

# d0: skip / ib; d1: kernel under ib; d2, d3: widths
TOY = [Decision("op", "op", ("skip", "ib")),
       Decision("kernel", "op", (3, 5), parent=0, parent_choices=(1,)),
       Decision("w1", "filters", (1.0, 2.0, 3.0)),
       Decision("w2", "filters", (1.0, 2.0, 3.0))]


def _cost(indices):
    """Cost of one-hot architectures: sum of the two widths' values (2 .. 6)."""
    idx = np.atleast_2d(indices)
    return np.array([TOY[2].choices[r[2]] + TOY[3].choices[r[3]] for r in idx])


def _peaked(choice, top):
    n = len(choice)
    return [np.where(np.arange(n) == c, top, (1 - top) / (n - 1)) for c in choice]


def _probs(op, kernel, w1, w2, top=0.97):
    return [_peaked([op] * 2, top)[0][:2], _peaked([kernel] * 2, top)[0][:2],
            _peaked([w1, 0, 0], top)[0], _peaked([w2, 0, 0], top)[0]]


def test_concentrated_on_target_is_converged():
    rep = report(_probs(1, 0, 1, 2), TOY, _cost, target=5.0)  # argmax 2 + 3 = 5
    assert rep["converged"] is True and warning(rep) is None
    assert rep["thresholds"] == THRESHOLDS
    assert rep["mean_top_probability"]["active_in_argmax"] == pytest.approx(0.97)
    assert rep["cost"]["argmax"] == 5.0 and rep["cost"]["argmax_rel_err"] == 0.0
    # samples from a peaked distribution average a little off the argmax
    assert 4.5 < rep["cost"]["samples_mean"] < 5.0
    assert rep["cost"]["samples"] == 2000
    d = {x["path"]: x for x in rep["decisions"]}
    assert d["w1"]["argmax"] == 1 and d["w1"]["choice"] == 2.0 and d["kernel"]["active"]
    assert d["w1"]["entropy_max"] == pytest.approx(math.log(3), abs=1e-4)
    assert 0 < d["w1"]["entropy"] < math.log(3)


def test_uniform_is_not_converged_and_says_why():
    probs = [np.full(len(d.choices), 1 / len(d.choices)) for d in TOY]
    rep = report(probs, TOY, _cost, target=2.0)
    assert rep["converged"] is False
    assert rep["mean_top_probability"]["all"] == pytest.approx((0.5 + 0.5 + 1 / 3 + 1 / 3) / 4,
                                                               abs=1e-4)
    assert set(rep["undecided"]) == {"w1", "w2"}  # the op / kernel tie at 0.5 is not < 0.5
    text = warning(rep)
    # argmax op = skip: the kernel is inactive, the active mean is (1/2 + 1/3 + 1/3) / 3
    assert text == "warning: the search did not converge: mean top probability 0.39 < 0.90"
    assert "\n" not in text
    # the argmax (first choices: 1 + 1) is on target; the sample mean (4) is not
    assert rep["cost"]["argmax_rel_err"] == 0.0
    assert rep["cost"]["samples_mean"] == pytest.approx(4.0, abs=0.1)
    assert rep["cost"]["argmax_vs_samples_gap"] == pytest.approx(2 / 4 - 1, abs=0.03)


def test_concentrated_off_target_is_not_converged():
    rep = report(_probs(1, 0, 2, 2), TOY, _cost, target=5.0)  # argmax 6: +20 %
    assert rep["converged"] is False
    assert "argmax cost 6.000 is +20.0% off the target 5.000 (tolerance 5%)" in warning(rep)
    assert "mean top" not in warning(rep)
    # a wider tolerance recorded with the verdict accepts it
    loose = report(_probs(1, 0, 2, 2), TOY, _cost, target=5.0, tol=0.25)
    assert loose["converged"] is True and loose["thresholds"]["argmax_rel_err"] == 0.25


def test_decisions_the_argmax_skips_do_not_count():
    """The kernel of a skipped layer sits at 0.5 / 0.5: it does not lower the active mean."""
    probs = _probs(0, 0, 1, 2)
    probs[1] = np.array([0.5, 0.5])
    rep = report(probs, TOY, _cost, target=5.0)
    assert rep["converged"] is True
    assert rep["mean_top_probability"]["active_in_argmax"] == pytest.approx(0.97)
    assert rep["mean_top_probability"]["all"] < 0.9
    assert not {x["path"]: x for x in rep["decisions"]}["kernel"]["active"]
    assert active_mask(TOY, [0, 1, 0, 0]).tolist() == [True, False, True, True]
    assert active_mask(TOY, [1, 1, 0, 0]).tolist() == [True, True, True, True]


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="probability vectors"):
        report(_probs(1, 0, 1, 2)[:3], TOY, _cost, target=5.0)
    with pytest.raises(ValueError, match="kernel"):
        report([np.ones(2), np.ones(3), np.ones(3), np.ones(3)], TOY, _cost, target=5.0)
    with pytest.raises(ValueError, match="target"):
        report(_probs(1, 0, 1, 2), TOY, _cost, target=0.0)
    with pytest.raises(ValueError, match="finite cost"):
        report(_probs(1, 0, 1, 2), TOY, lambda idx: np.full(len(idx), np.nan), target=5.0)


def test_cost_function_and_search_report_use_the_deployment_cost(tmp_path, write_cost_models):
    """``cost_function`` equals MultiHardwareCost's MN-Norm max; ``search_report`` on a
    distribution concentrated on one genotype gives that genotype's cost for argmax and samples."""
    from mhzoo.search.cost.folder import load_cost_models
    from mhzoo.search.cost.multi import MultiHardwareCost
    from mhzoo.search.tunas.request import SearchRequest

    space = get_space("multi_hardware", input_size=32, width=0.25, max_layers=1)
    factors = write_cost_models(tmp_path / "cm", space, n=40)
    models = load_cost_models([tmp_path / "cm"], space)
    g = space.sample(7)
    fn = cost_function(space, models, mode="max", factors=factors)
    want = MultiHardwareCost(list(models.values()), factors).predict([g])[0]["mn_norm_max"]
    assert fn(np.array([g.indices]))[0] == pytest.approx(want)
    single = cost_function(space, models, mode="single", target="cpu_int8")
    assert single(np.array([g.indices]))[0] == pytest.approx(models["cpu_int8"].predict([g])[0])
    with pytest.raises(ValueError, match="factors"):
        cost_function(space, models, mode="avg")

    class Prepared:  # the fields search_report reads from a PreparedSearch
        request = SearchRequest.__new__(SearchRequest)
        deploy_space = space

    object.__setattr__(Prepared.request, "objective", __import__(
        "mhzoo.search.tunas.config", fromlist=["parse_reward"]).parse_reward("max"))
    object.__setattr__(Prepared.request, "mn_norm_target", want * 1.02)
    object.__setattr__(Prepared.request, "weights", None)
    Prepared.models, Prepared.factors = models, factors
    probs = [np.eye(len(d.choices))[i] for d, i in zip(space.decisions, g.indices)]
    rep = convergence.search_report(Prepared, probs, samples=50)
    assert rep["converged"] is True  # one-hot, 2 % off the target
    assert rep["cost"]["argmax"] == pytest.approx(want, rel=1e-4)
    assert rep["cost"]["samples_mean"] == pytest.approx(want, rel=1e-4)
    assert rep["cost"]["measure"] == "mn_norm_max"
    assert rep["cost"]["argmax_rel_err"] == pytest.approx(1 / 1.02 - 1, abs=1e-4)


def test_result_file_carries_the_convergence_block(tmp_path):
    from mhzoo.search import get_space as gs

    spec = gs("multi_hardware").decode([0] * 64).to_dict()
    path = write_result(tmp_path / "search_result.json", {"spec": spec})
    assert result_convergence(path) is None
    rep = report(_probs(1, 0, 1, 2), TOY, _cost, target=5.0)
    add_convergence(tmp_path, rep)
    back = read_result(path)
    assert back["convergence"]["converged"] is True
    assert back["convergence"]["thresholds"]["mean_top_active"] == 0.9
    assert result_convergence(back)["cost"]["argmax"] == 5.0
    with pytest.raises(ValueError, match="converged"):
        add_convergence(path, {"thresholds": {}})
    with pytest.raises(ValueError, match="converged"):
        write_result(path, {"spec": spec, "convergence": {"converged": "yes"}})


def test_search_run_records_the_verdict_and_prints_one_warning_line(tmp_path, capsys,
                                                                    write_cost_models):
    """``mhzoo search run``'s ending: the verdict goes into search_result.json (when the loop
    did not record one) and an unconverged search prints one warning line on stderr; a
    converged one prints nothing; a rerun reads the recorded verdict."""
    from mhzoo.search.cli.run import _convergence_warning
    from mhzoo.search.cost.folder import load_cost_models
    from mhzoo.search.tunas.config import parse_reward
    from mhzoo.search.tunas.request import SearchRequest

    space = get_space("multi_hardware", input_size=32, width=0.25, max_layers=1)
    factors = write_cost_models(tmp_path / "cm", space, n=40)
    models = load_cost_models([tmp_path / "cm"], space)

    class Prepared:
        request = SearchRequest.__new__(SearchRequest)
        deploy_space = space

    for k, v in (("objective", parse_reward("avg")), ("mn_norm_target", 1.0), ("weights", None)):
        object.__setattr__(Prepared.request, k, v)
    Prepared.models, Prepared.factors = models, factors
    uniform = [{"path": d.path, "probabilities": [1 / len(d.choices)] * len(d.choices)}
               for d in space.decisions]
    spec = space.decode([0] * len(space.decisions)).to_dict()
    path = write_result(tmp_path / "search_result.json", {"spec": spec,
                                                          "probabilities": uniform})
    res = read_result(path)
    _convergence_warning(Prepared, path, res)
    err = capsys.readouterr().err
    assert err.startswith("warning: the search did not converge: mean top probability 0.")
    assert err.count("\n") == 1
    rec = result_convergence(path)
    assert rec["converged"] is False and rec["cost"]["measure"] == "mn_norm_avg"
    # a finished run read back (a rerun): the recorded verdict, the same line
    _convergence_warning(Prepared, path, read_result(path))
    assert capsys.readouterr().err == err
    # converged: nothing printed
    g = space.sample(1)
    target = cost_function(space, models, mode="avg", factors=factors)(np.array([g.indices]))[0]
    object.__setattr__(Prepared.request, "mn_norm_target", float(target))
    onehot = [{"path": d.path, "probabilities": np.eye(len(d.choices))[i].tolist()}
              for d, i in zip(space.decisions, g.indices)]
    path2 = write_result(tmp_path / "b.json", {"spec": spec, "probabilities": onehot})
    _convergence_warning(Prepared, path2, read_result(path2))
    assert capsys.readouterr().err == ""
    assert result_convergence(path2)["converged"] is True
