"""Recipes: presets, the LR schedule, the TuNAS dropout rule and stride plans."""

from __future__ import annotations

import itertools
import math

import pytest

from mhzoo.search.training.recipes import (
    PRESETS,
    Recipe,
    apply_stride_plan,
    get_preset,
    learning_rate,
    tunas_dropout,
)


def test_imagenet_preset_is_the_paper_recipe():
    r = get_preset("imagenet")
    assert (r.image_size, r.global_batch, r.epochs) == (224, 4096, 360)
    assert (r.optimizer, r.rho, r.momentum, r.epsilon) == ("rmsprop", 0.9, 0.9, 1.0)
    assert r.peak_lr == pytest.approx(0.165 * 4096 / 256)
    assert (r.label_smoothing, r.weight_decay) == (0.1, 4e-5)
    assert r.effective_dropout == 0.25  # > 150 epochs (TuNAS)
    assert r.ema_decay > 0 and r.augmentation == "resnet"


def test_dropout_rule_and_lr_scaling():
    assert tunas_dropout(90) == 0.0 and tunas_dropout(151) == 0.25
    assert tunas_dropout(360, v3_like=False) == 0.15
    r = get_preset("imagenet").replace(epochs=90, global_batch=512)
    assert r.effective_dropout == 0.0
    assert r.peak_lr == pytest.approx(0.165 * 2)


def test_schedule_warmup_then_cosine_to_zero():
    peak, warm, total = 2.0, 10, 110
    lrs = [learning_rate(s, peak=peak, warmup_steps=warm, total_steps=total) for s in range(total)]
    assert lrs[0] == pytest.approx(peak / warm)
    assert lrs[9] == pytest.approx(peak)
    assert all(a < b for a, b in itertools.pairwise(lrs[:10]))
    assert lrs[10] == pytest.approx(peak)
    assert lrs[60] == pytest.approx(peak / 2)
    assert learning_rate(total, peak=peak, warmup_steps=warm, total_steps=total) == 0
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def test_schedule_tensor_matches_python():
    import tensorflow as tf

    for s in (0, 5, 50, 99):
        t = learning_rate(tf.constant(s, tf.int64), peak=1.0, warmup_steps=10, total_steps=100)
        assert float(t) == pytest.approx(learning_rate(s, peak=1.0, warmup_steps=10,
                                                       total_steps=100), rel=1e-4)
    r = get_preset("imagenet")
    assert r.warmup_steps(1000, 10) == 25  # 2.5 % of the steps
    assert get_preset("cifar10-proxy").warmup_steps(1000, 100) == 50  # half an epoch


def test_stride_plan_changes_only_strides():
    from mhzoo.builder import resolve_spec

    base = resolve_spec("multi_max")
    proxy = apply_stride_plan(base, "proxy32")
    assert proxy.blocks[0].stride == 1 and base.blocks[0].stride == 2
    assert proxy.name == base.name
    for a, b in zip(base.blocks[1:], proxy.blocks[1:]):
        assert a == b
    total = math.prod(getattr(b, "stride", 1) for b in proxy.blocks)
    assert total == 16
    explicit = apply_stride_plan(base, "1,2,2,2,1")
    assert [getattr(b, "stride", 1) for b in explicit.blocks if getattr(b, "stride", 1) > 1
            ] == [2, 2, 2]
    assert apply_stride_plan(base, "model") == base


def test_errors():
    with pytest.raises(ValueError, match="unknown preset 'cifar100'"):
        get_preset("cifar100")
    from mhzoo.builder import resolve_spec

    with pytest.raises(ValueError, match="gives 2 strides"):
        apply_stride_plan(resolve_spec("multi_max"), "1,2")
    with pytest.raises(ValueError, match="unknown stride plan"):
        Recipe(name="x", image_size=32, global_batch=8, epochs=1, stride_plan="fast")
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_preset("imagenet").replace(optimizer="adam")
    with pytest.raises(ValueError, match="unknown recipe field"):
        get_preset("imagenet").replace(lr=1.0)
    assert set(PRESETS) == {"imagenet", "cifar10-proxy"}


def test_recipe_round_trips():
    r = get_preset("cifar10-proxy")
    assert Recipe.from_dict(r.to_dict()) == r
