"""Replay of mhzoo's TuNAS controller update (d62f890 ``search/controller.py`` +
``search_loop.SupernetSearch._step_fn``) in numpy, with the cost term from the committed linear
cost models and a constant (optionally noisy) accuracy.

Faithful to the committed controller:
* one logit vector per decision, zeros at start; independent categorical sampling;
* warm-up: each OP-tag decision replaced with prob ``p_op(t) = 1 - min(t / W_op, 1)`` by the
  uniform mask, each FILTERS-tag decision with ``p_f(t)`` by one-hot on its widest choice; the
  cost is evaluated on those (fractional) masks;
* hierarchical log-prob: a decision counts when its parent's mask covers it; a replaced
  decision contributes ``log p`` (no gradient), a kept one ``log(1 - p) + log p_j(a_j)``;
* baseline: zero-debiased EMA (momentum 0.95) of the step's mean reward, updated before the
  advantage ``R_k - b``;
* Adam beta1 = 0, beta2 = 0.999, eps 1e-8 on the mean over samples of ``adv_k * grad(-log pi)``
  with the mean of the squares as second-moment input; bias correction ``sqrt(1 - b2^t)``;
  second moments accumulate during the RL delay (lr 0);
* learning rate ``base * 1[t >= D] * 10^((t - D) / max(1, T - D))``;
* reward ``R = A + beta * |f / f* - 1|`` (eq. 7: f = MN-Norm avg, eq. 8: max), beta -0.07.

Several runs (seeds) are simulated at once (leading axis R). ``K`` samples per step = K
replicas in the search loop.

Extras (options, default off = the committed behaviour): ``baseline="mean"`` (per-step mean of
the K rewards as baseline, leave-one-out), ``acc_sd`` (Gaussian accuracy noise per sample),
``acc_effect`` (synthetic per-choice accuracy bonus, to test whether accuracy can matter).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field

import mhspace
import numpy as np

B2, EPS = 0.999, 1e-8


@dataclass
class Config:
    steps: int = 600
    samples: int = 1  # K: architectures sampled and rewarded per step
    lr: float = 0.016  # Adam base lr (cpu-proxy: 0.128 per 256 x 32 / 256)
    delay: float = 0.25
    op_warmup: float = 0.10
    filters_warmup: float = 0.25
    mode: str = "max"
    target: float = 1.0
    beta: float = -0.07
    momentum: float = 0.95
    baseline: str = "ema"  # "ema" (TuNAS) | "mean" (per-step mean of the K rewards)
    acc_sd: float = 0.0  # s.d. of the accuracy noise of one sample's validation batch
    expansion_tag: str = "op"  # "filters": TuNAS expansion_filters
    seeds: int = 8
    seed0: int = 0
    acc_effect: dict = field(default_factory=dict)  # {decision: [bonus per choice]}
    acc_rho: float = 0.0  # share of the noise variance common to the K samples (same batch)
    rl_during_delay: bool = True  # False: no reward / baseline / Adam before the delay ends


_CACHE: dict = {}


def space_cost(expansion_tag: str):
    if expansion_tag not in _CACHE:
        sp = mhspace.MHSpace(expansion_tag)
        _CACHE[expansion_tag] = (sp, mhspace.LinearCost(sp))
    return _CACHE[expansion_tag]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def run(cfg: Config, *, keep_history: bool = False) -> dict:
    sp, lc = space_cost(cfg.expansion_tag)
    n, C = sp.n, sp.maxc
    R, K, T = cfg.seeds, cfg.samples, cfg.steps
    rng = np.random.default_rng(cfg.seed0)
    valid = np.arange(C)[None, :] < sp.sizes[:, None]  # [n, C]
    neg = np.where(valid, 0.0, -np.inf)
    logits = np.zeros((R, n, C)) + neg
    v = np.zeros((R, n, C))
    bnum = np.zeros(R)
    bden = 0.0
    delay = int(cfg.delay * T)
    w_op, w_f = int(cfg.op_warmup * T), int(cfg.filters_warmup * T)
    tscale = np.asarray([mhspace.FACTORS_MS[t] for t in lc.targets])
    effect = None
    if cfg.acc_effect:
        effect = np.zeros((n, C))
        for d, bonus in cfg.acc_effect.items():
            effect[int(d), : len(bonus)] = bonus
    hist = []
    adam_t = 0
    for t in range(T):
        if t < delay and not cfg.rl_during_delay:
            continue  # validation forwards skipped: the controller is frozen anyway
        p_op = 1 - min(t / w_op, 1) if w_op > 0 else 0.0
        p_f = 1 - min(t / w_f, 1) if w_f > 0 else 0.0
        ptag = np.where(sp.is_op, p_op, np.where(sp.is_filters, p_f, 0.0))  # [n]
        probs = softmax(logits)  # [R, n, C]
        g = rng.gumbel(size=(R, K, n, C))
        idx = np.argmax(logits[:, None] + g, -1)  # [R, K, n]
        replaced = rng.random((R, K, n)) < ptag
        rep_op = replaced & sp.is_op
        rep_f = replaced & sp.is_filters
        eff = np.where(rep_f, sp.widest, idx)  # filter warm-up: widest (one-hot)
        flat = eff.reshape(R * K, n)
        if rep_op.any():
            masks = []
            rflat = rep_op.reshape(R * K, n)
            for j in range(n):
                m = np.zeros((R * K, sp.sizes[j]))
                m[np.arange(R * K), flat[:, j]] = 1.0
                m[rflat[:, j]] = 1.0 / sp.sizes[j]
                masks.append(m)
            lat = lc.latency_masks(masks)
        else:
            lat = lc.latency(flat)
        terms = lat / tscale
        f = (terms.mean(-1) if cfg.mode == "avg" else terms.max(-1)).reshape(R, K)
        # hierarchical activeness from the masks (a replaced op decision covers all children)
        act = np.ones((R, K, n), bool)
        for j in range(n):
            pj = sp.parent[j]
            if pj >= 0:
                cov = sp.cover[j][eff[..., pj]] | rep_op[..., pj]
                act[..., j] = act[..., pj] & cov
        acc = np.zeros((R, K))
        if effect is not None:  # synthetic accuracy effect of the active decisions' choices
            acc = acc + (effect[np.arange(n), eff] * act).sum(-1)
        if cfg.acc_sd:
            acc = acc + cfg.acc_sd * (
                np.sqrt(cfg.acc_rho) * rng.normal(0, 1, (R, 1))
                + np.sqrt(1 - cfg.acc_rho) * rng.normal(0, 1, (R, K))
            )
        reward = acc + cfg.beta * np.abs(f / cfg.target - 1.0)
        # baseline (EMA of the step mean, zero-debiased), then advantages
        bnum = cfg.momentum * bnum + (1 - cfg.momentum) * reward.mean(1)
        bden = cfg.momentum * bden + (1 - cfg.momentum)
        b = bnum / bden
        if cfg.baseline == "mean" and K > 1:
            adv = reward - (reward.sum(1, keepdims=True) - reward) / (K - 1)
        else:
            adv = reward - b[:, None]
        use = act & ~replaced  # decisions whose log-prob depends on the logits
        onehot = np.zeros((R, K, n, C))
        np.put_along_axis(onehot, idx[..., None], 1.0, -1)
        grad = -(onehot - probs[:, None]) * use[..., None]  # d(-log pi)/d logits
        gk = adv[..., None, None] * grad
        mg = gk.mean(1)
        mg2 = (gk * gk).mean(1)
        lr = cfg.lr * (t >= delay) * 10 ** max(0.0, (t - delay) / max(1, T - delay))
        adam_t += 1
        lr_t = lr * math.sqrt(1 - B2**adam_t)
        v = B2 * v + (1 - B2) * mg2
        logits = logits - lr_t * mg / (np.sqrt(v) + EPS)
        if keep_history and (t % max(1, T // 50) == 0 or t == T - 1):
            hist.append(
                {
                    "step": t,
                    "reward": float(reward.mean()),
                    "baseline": float(b.mean()),
                    "f_mean": float(f.mean()),
                    "top": float(probs.max(-1)[...,].mean()),
                    "lr": lr,
                }
            )
    return summarize(cfg, logits, hist, rng)


def summarize(cfg: Config, logits: np.ndarray, hist: list, rng) -> dict:
    sp, lc = space_cost(cfg.expansion_tag)
    probs = softmax(logits)
    R = probs.shape[0]
    top = np.where(np.isfinite(logits), probs, 0).max(-1)  # [R, n]
    ent = -np.sum(np.where(probs > 0, probs * np.log(np.maximum(probs, 1e-300)), 0), -1)
    arg = np.argmax(logits, -1)  # [R, n]
    act = sp.active(arg)
    lat = lc.latency(arg)
    f_arg = mhspace.mn_norm(lat, cfg.mode, lc.targets)
    # samples from the final distribution
    S = 2000
    draws = np.stack(
        [
            np.array(
                [rng.choice(sp.sizes[j], size=S, p=probs[r, j, : sp.sizes[j]]) for j in range(sp.n)]
            ).T
            for r in range(R)
        ]
    )  # [R, S, n]
    f_s = mhspace.mn_norm(lc.latency(draws.reshape(R * S, sp.n)), cfg.mode, lc.targets).reshape(
        R, S
    )
    err = f_arg / cfg.target - 1
    mt_all = top.mean(1)
    mt_act = np.array([top[r][act[r]].mean() for r in range(R)])
    p_arg = np.exp(
        np.sum(np.log(np.take_along_axis(probs, arg[..., None], -1)[..., 0]) * act, 1)
    )  # probability of the argmax network (active decisions)
    within = np.abs(f_s / cfg.target - 1) <= 0.03
    out = {
        "config": {k: v for k, v in asdict(cfg).items() if k != "acc_effect"},
        "mean_top_all": mt_all.tolist(),
        "mean_top_active": mt_act.tolist(),
        "min_top_active": [float(top[r][act[r]].min()) for r in range(R)],
        "argmax_f": f_arg.tolist(),
        "argmax_err": err.tolist(),
        "sample_f_mean": f_s.mean(1).tolist(),
        "sample_within_3pct": within.mean(1).tolist(),
        "p_argmax_network": p_arg.tolist(),
        "entropy_sum": ent.sum(1).tolist(),
        "per_decision_top_mean": top.mean(0).round(3).tolist(),
        "per_decision_entropy_mean": ent.mean(0).round(3).tolist(),
        "argmax": arg.tolist(),
        "probs": [
            [probs[r, j, : sp.sizes[j]].round(6).tolist() for j in range(sp.n)] for r in range(R)
        ],
        "history": hist,
    }
    out["verdict"] = [
        verdict(mt_act[r], err[r], top[r][act[r]].min(), within[r].mean()) for r in range(R)
    ]
    return out


#: the `converged` rule proposed for search_result.json (see results.md)
THRESHOLDS = {"mean_top_active": 0.9, "argmax_rel_err": 0.03}


def verdict(mean_top_active: float, rel_err: float, min_top_active: float, within: float) -> bool:
    """Converged: mean top probability over the argmax network's active decisions >= 0.9 and
    the argmax's predicted cost within 3 % of the target (min top / share of samples within 3 %
    are diagnostics, not part of the rule)."""
    return bool(
        mean_top_active >= THRESHOLDS["mean_top_active"]
        and abs(rel_err) <= THRESHOLDS["argmax_rel_err"]
    )


def brief(res: dict) -> dict:
    """Mean / range over seeds of the headline numbers."""

    def s(k):
        a = np.asarray(res[k], float)
        return [round(float(a.mean()), 3), round(float(a.min()), 3), round(float(a.max()), 3)]

    return {
        "mean_top_all": s("mean_top_all"),
        "mean_top_active": s("mean_top_active"),
        "argmax_f": s("argmax_f"),
        "abs_err": [
            round(float(np.abs(res["argmax_err"]).mean()), 3),
            round(float(np.abs(res["argmax_err"]).max()), 3),
        ],
        "sample_f_mean": s("sample_f_mean"),
        "within3": s("sample_within_3pct"),
        "min_top": s("min_top_active"),
        "converged": f"{sum(res['verdict'])}/{len(res['verdict'])}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description="controller replay, cost-only")
    for f_ in Config.__dataclass_fields__.values():
        if f_.name == "acc_effect":
            continue
        ap.add_argument("--" + f_.name.replace("_", "-"), type=type(f_.default), default=f_.default)
    ap.add_argument("--out", default=None)
    a = vars(ap.parse_args())
    out = a.pop("out")
    cfg = Config(**a)
    t0 = time.time()
    res = run(cfg, keep_history=True)
    print(json.dumps(brief(res)), f"({time.time() - t0:.1f} s)")
    if out:
        with open(out, "w") as fh:
            json.dump(res, fh)


if __name__ == "__main__":
    main()
