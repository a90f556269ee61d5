"""The weight-sharing supernet: plans of every space, weight inheritance, path selection."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from mhzoo.search import get_space, list_spaces  # noqa: E402
from mhzoo.search.tunas.supernet.plan import plan_space  # noqa: E402

SMALL = {"input_size": 32, "width": 0.25, "max_layers": 2}


@pytest.fixture(scope="module")
def small():
    """A reduced multi_hardware supernet (32 px, width 0.25, 2 layers per stage) with random
    batch-norm parameters and biases, so that slicing them is tested too."""
    from mhzoo.search.tunas.supernet import Supernet

    space = get_space("multi_hardware", **SMALL)
    net = Supernet(space, num_classes=10)
    _randomize(net, seed=0)
    return space, net


def _randomize(net, seed):
    rng = np.random.default_rng(seed)
    for v in net.weights:
        name = v.path.split("/")[-1]
        if name.endswith(("_gamma", "_beta", "_bias")) or name == "bias":
            base = 1.0 if name.endswith("_gamma") else 0.0
            v.assign(base + 0.3 * rng.standard_normal(v.shape).astype(np.float32))


def _images(n=8, size=32, seed=1):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)),
                       tf.float32)


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_has_a_plan(name):
    space = get_space(name)
    plan = plan_space(space)
    assert len(plan.slots) == len(space.slots)
    assert plan.total == sum(d.size for d in space.decisions)
    for sp in plan.slots:
        assert sp.branches and sp.cout_max >= 1
        # every entry of every slot is in exactly one branch
        assert len(sp.lookup) == len(sp.leaves) * int(np.prod(sp.width_sizes or (1,)))


def test_multi_hardware_branches_share_by_family_and_split_by_kernel():
    space = get_space("multi_hardware", **SMALL)
    plan = plan_space(space)
    sp = next(s for s in plan.slots if s.name == "stage2/layer1")
    keys = sorted(b.key[0] if b.kind == "skip" else (b.key[0], b.kernel) for b in sp.branches
                  if b.kind != "skip")
    assert keys == [("fused", 3), ("fused", 5), ("ib", 3), ("ib", 5)]
    assert any(b.kind == "skip" for b in sp.branches)
    fams = {f.name: f for f in sp.families}
    assert fams["ib"].kernels == [3, 5] and fams["fused"].kernels == [3, 5]
    # widths are prefixes of the widest: the family holds the widest expansion of its blocks
    ib = [b.expansion_filters for br in sp.branches if br.key[0] == "ib" for b in br.blocks]
    assert fams["ib"].inner_max == max(ib) and min(ib) < max(ib)


def test_child_reproduces_the_supernet_path_for_10_paths(small):
    space, net = small
    x = _images()
    widest = [d.size - 1 if d.tag == "filters" or d.path.endswith("expansion") else 0
              for d in space.decisions]
    genotypes = [space.genotype(widest)] + [space.sample(s) for s in range(9)]
    assert len({g.indices for g in genotypes}) == 10
    for g in genotypes:
        y = net(x, net.masks_of(g), training=True)
        child = net.build_child(g)
        assert child.arch_spec.blocks == space.decode(g).blocks
        yc = child(x, training=True)
        err = float(tf.reduce_max(tf.abs(y - yc)))
        assert err < 1e-4, (g.to_string(), err)
        assert float(tf.reduce_max(tf.abs(y))) > 1e-2  # not trivially zero
    # with batch-norm statistics from the batch, the child reproduces it in inference mode
    child = net.build_child(genotypes[1], calibrate=x)
    y = net(x, net.masks_of(genotypes[1]), training=True)
    assert float(tf.reduce_max(tf.abs(y - child(x, training=False)))) < 1e-3


@pytest.mark.parametrize("name, options", [
    ("fbnet", {}),
    ("mobilenet_v3_like", {"input_size": 32})])
def test_child_inheritance_in_other_spaces(name, options):
    """Grouped convs and conv-skips (fbnet); SE, hard-swish, searched stem kernel and a biased
    head conv (mobilenet_v3_like)."""
    from mhzoo.search.tunas.supernet import Supernet

    space = get_space(name, **options)
    net = Supernet(space, num_classes=5)
    _randomize(net, seed=2)
    x = _images(n=6)
    g = space.sample(3)
    err = float(tf.reduce_max(tf.abs(net(x, net.masks_of(g), training=True)
                                     - net.build_child(g)(x, training=True))))
    assert err < 1e-4


def test_only_the_sampled_branch_runs(small, monkeypatch):
    from mhzoo.search.tunas.supernet import model as model_lib

    space, net = small
    x = _images(n=4)
    g = space.sample(5)
    net(x, net.masks_of(g), training=True)  # the first call builds the layers (all branches)
    calls = []
    orig = model_lib._SlotLayer._branch

    def counting(self, br, *args):
        calls.append((self.slot.name, br.key))
        return orig(self, br, *args)

    monkeypatch.setattr(model_lib._SlotLayer, "_branch", counting)
    net(x, net.masks_of(g), training=True)
    per_slot = {}
    for slot, key in calls:
        per_slot.setdefault(slot, []).append(key)
    assert all(len(v) == 1 for v in per_slot.values())
    skipped = [s.name for s, sl in zip(net.plan.slots, space.slots) if sl.emit(g.indices) is None]
    assert not set(skipped) & set(per_slot)  # an identity runs no branch
    # op warm-up: the uniform op mask of a layer runs its ib and fused branches
    calls.clear()
    masks = net.masks_of(g)
    op = next(i for i, d in enumerate(space.decisions) if d.path == "stage3/layer1/op")
    masks[op] = tf.fill([3], 1 / 3)
    net(x, masks, training=True)
    assert sum(1 for s, _ in calls if s == "stage3/layer1") == 2


def test_fractional_op_mask_is_the_weighted_sum_of_branches(small):
    space, net = small
    si = next(i for i, s in enumerate(space.slots) if s.name == "stage2/layer1")
    layer, sp = net.slot_layers[si], net.plan.slots[si]
    op = space.slots[si].ops[0]
    g = list(space.sample(7).indices)
    g[op] = 0
    from mhzoo.search.tunas.supernet.model import flat_masks

    rng = np.random.default_rng(3)
    width = sp.in_state.width(g[sp.in_state.decision])
    x = rng.standard_normal((4, 8, 8, sp.cin_max)).astype(np.float32)
    x[..., width:] = 0
    x = tf.constant(x)

    def run(op_mask):
        masks = [tf.one_hot(i, d.size) for i, d in zip(g, space.decisions)]
        masks[op] = tf.constant(op_mask, tf.float32)
        return layer.run(x, flat_masks(masks, net.plan))

    each = [run(np.eye(3)[k]) for k in range(3)]
    w = np.array([0.5, 0.3, 0.2], np.float32)
    mixed = run(w)
    want = sum(float(wk) * yk for wk, yk in zip(w, each))
    assert float(tf.reduce_max(tf.abs(mixed - want))) < 1e-5
    assert float(tf.reduce_max(tf.abs(each[0] - each[1]))) > 1e-3  # ib differs from fused
    np.testing.assert_allclose(each[2].numpy(), x.numpy())  # skip = identity


def test_gradients_reach_only_the_sampled_path(small):
    space, net = small
    g = list(space.sample(11).indices)
    si = next(i for i, s in enumerate(space.slots) if s.name == "stage4/layer0")
    op = space.slots[si].ops[0]
    g[op] = 0  # regular IB in that slot
    x = _images(n=4)
    labels = tf.constant([0, 1, 2, 3])
    with tf.GradientTape() as tape:
        logits = net(x, net.masks_of(g), training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    layer = net.slot_layers[si]
    names = list(layer.w)
    grads = tape.gradient(loss, [layer.w[n] for n in names])
    got = {n: (0.0 if gr is None else float(tf.reduce_sum(tf.abs(gr))))
           for n, gr in zip(names, grads)}
    assert got["ib_project"] > 0
    assert all(v == 0 for n, v in got.items() if n.startswith("fused_"))
    k = space.value(g, space.slots[si].ops[1])
    other = 5 if k == 3 else 3
    assert got[f"ib_k{k}_dw"] > 0 and got[f"ib_k{other}_dw"] == 0
    # widths: weights beyond the sampled output width get no gradient
    cout = space.decode(g)  # noqa: F841 - decoding must succeed
    out_w = net.plan.slots[si].out_state.width(g[net.plan.slots[si].out_state.decision])
    proj = grads[names.index("ib_project")].numpy()
    assert np.all(proj[..., out_w:] == 0) and np.any(proj[..., :out_w] != 0)


def test_bad_masks_and_genotypes_are_value_errors(small):
    space, net = small
    x = _images(n=2)
    with pytest.raises(ValueError, match="one mask per decision"):
        net(x, net.masks_of(space.sample(0))[:-1], training=True)
    with pytest.raises(ValueError):
        net.child_weights([0] * (len(space.decisions) + 1))
    other = get_space("proxylessnas")
    with pytest.raises(ValueError, match="space"):
        net.child_weights(other.sample(0))
