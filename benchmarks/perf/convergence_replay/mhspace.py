"""The ``multi_hardware`` search space and its TuNAS linear cost models, in plain numpy.

Own re-implementation (no mhzoo import) of what mhzoo d62f890 defines in
``search/space_multi_hardware.py`` + ``search/_staged.py`` + ``search/space.py`` (decisions,
slots, decoding) and ``search/cost/linear.py`` (features ``onehot(out) (x) onehot(in) (x) g(ops)``
per slot, slots of length 1 dropped, concatenated; ``cost = w . phi + b``).

Fast evaluation: the model is additive over slots and every feature of a slot is a product of
one mask entry per decision the slot reads (its width decisions and its op tree), so each slot
is a dense table ``W_s`` indexed by the choices of the distinct decisions it reads. A one-hot
architecture costs ``b + sum_s W_s[idx[refs_s]]`` (a gather); fractional masks (op warm-up:
uniform on op decisions, widths always one-hot) cost the multilinear contraction of ``W_s`` with
the masks (a skipped layer's entry is replicated over the kernel / expansion axes, which is the
same value because those masks sum to 1).

``verify_against_old.py`` checks both paths against the committed code on random genotypes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MULTIPLIERS = (0.5, 0.625, 0.75, 1.0, 1.25, 1.5, 2.0)
STAGE_BASE = (16, 32, 64, 128, 256)
STRIDES = (2, 2, 2, 1, 2)
STEM, HEAD = 32, (960, 1280)
KERNELS = (3, 5)
EXPANSIONS = (1, 2, 3, 4, 5, 6)
ROOT = Path(__file__).resolve().parent
REPO = ROOT.parents[2]
#: the linear cost models the replay prices architectures with; the recorded results used those
#: of commit d62f890 (`git show d62f890:benchmarks/data/costmodels/<file>` into a folder and
#: point MHZOO_REPLAY_COSTMODELS at it to reproduce them exactly)
COSTMODELS = Path(
    os.environ.get("MHZOO_REPLAY_COSTMODELS", REPO / "benchmarks" / "data" / "costmodels")
)
#: MobileNetV1 1.0 latency on this machine's targets (benchmarks/perf/results/search_cpu_proxy.json)
FACTORS_MS = {"cpu_fp32": 14.3133035, "cpu_int8": 14.7615945}


def rhu(value: float, base: int) -> int:
    """TuNAS rounding: half-up to a multiple of ``base``, at least ``base``."""
    return max(base, math.floor(value / base + 0.5) * base)


@dataclass
class Decision:
    path: str
    tag: str
    choices: tuple
    parent: int | None = None
    on: tuple = ()

    @property
    def size(self) -> int:
        return len(self.choices)


@dataclass
class Slot:
    name: str
    in_w: int | None  # decision index of the input width (None: fixed)
    out_w: int | None
    ops: tuple = ()  # (op, kernel, expansion) decision indices
    stage: int = 0
    layer: int = 0
    stride: int = 1
    cin_fixed: int | None = None  # base input width when fixed
    cout_fixed: int | None = None
    refs: tuple = field(default=())


class MHSpace:
    """Decisions and slots of ``multi_hardware`` (divisible_by 32, max_layers 4: structural)."""

    def __init__(self, expansion_tag: str = "op") -> None:
        self.decisions: list[Decision] = []
        self.slots: list[Slot] = []
        b = 32
        cin_dec, cin_fix = None, rhu(STEM, b)
        for s, (base, stride) in enumerate(zip(STAGE_BASE, STRIDES)):
            ch = tuple(sorted({rhu(base * m, b) for m in MULTIPLIERS}))
            if len(ch) > 1:
                self.decisions.append(Decision(f"stage{s + 1}/filters", "filters", ch))
                cout_dec, cout_fix = len(self.decisions) - 1, None
            else:
                cout_dec, cout_fix = None, ch[0]
            for j in range(4):
                p = f"stage{s + 1}/layer{j}"
                ops = ("ib", "fused") if j == 0 else ("ib", "fused", "skip")
                self.decisions.append(Decision(f"{p}/op", "op", ops))
                op = len(self.decisions) - 1
                real = (0, 1)
                self.decisions.append(Decision(f"{p}/kernel", "op", KERNELS, op, real))
                self.decisions.append(
                    Decision(f"{p}/expansion", expansion_tag, EXPANSIONS, op, real)
                )
                in_d = cin_dec if j == 0 else cout_dec
                in_f = cin_fix if j == 0 else cout_fix
                self.slots.append(
                    Slot(
                        p,
                        in_d,
                        cout_dec,
                        (op, op + 1, op + 2),
                        s,
                        j,
                        stride if j == 0 else 1,
                        in_f,
                        cout_fix,
                    )
                )
            cin_dec, cin_fix = cout_dec, cout_fix
        self.head_in = cin_dec
        self.slots.append(Slot("head/conv", cin_dec, None, (), 5, 0, 1))
        for sl in self.slots:
            sl.refs = tuple(
                dict.fromkeys([d for d in (sl.in_w, sl.out_w) if d is not None] + list(sl.ops))
            )
        self.sizes = np.array([d.size for d in self.decisions])
        self.n = len(self.decisions)
        self.maxc = int(self.sizes.max())
        self.parent = np.array([-1 if d.parent is None else d.parent for d in self.decisions])
        self.is_op = np.array([d.tag == "op" for d in self.decisions])
        self.is_filters = np.array([d.tag == "filters" for d in self.decisions])
        self.widest = np.array(
            [
                int(np.argmax(d.choices))
                if all(isinstance(c, int | float) and not isinstance(c, bool) for c in d.choices)
                else d.size - 1
                for d in self.decisions
            ]
        )
        # for hierarchical activeness: which parent choices switch a child on
        self.cover = np.zeros((self.n, self.maxc), bool)
        for i, d in enumerate(self.decisions):
            if d.parent is not None:
                self.cover[i, list(d.on)] = True
        self.op_of_layer = [sl.ops[0] for sl in self.slots if sl.ops]

    # ------------------------------------------------------------------ features (generic)
    def _g(self, sl: Slot, masks: list[np.ndarray]) -> np.ndarray:
        if not sl.ops:
            return np.ones(1)
        op, k, e = sl.ops
        parts = []
        for c in range(self.decisions[op].size):
            sub = np.kron(masks[k], masks[e]) if c in self.decisions[k].on else np.ones(1)
            parts.append(masks[op][c] * sub)
        return np.concatenate(parts)

    def slot_features(self, sl: Slot, masks: list[np.ndarray]) -> np.ndarray:
        v = self._g(sl, masks)
        for d in (sl.in_w, sl.out_w):
            if d is not None:
                v = np.kron(masks[d], v)
        return v

    def features(self, masks: list[np.ndarray]) -> np.ndarray:
        """TuNAS coupled features of (possibly fractional) per-decision masks."""
        return np.concatenate(
            [v for sl in self.slots if len(v := self.slot_features(sl, masks)) > 1]
        )

    def onehots(self, idx) -> list[np.ndarray]:
        out = []
        for i, d in zip(idx, self.decisions):
            m = np.zeros(d.size)
            m[int(i)] = 1.0
            out.append(m)
        return out

    @property
    def feature_size(self) -> int:
        return len(self.features(self.onehots([0] * self.n)))

    # ------------------------------------------------------------------ activeness
    def active(self, idx: np.ndarray) -> np.ndarray:
        """``[..., n]`` bool: decision matters given one-hot choices ``idx`` ``[..., n]``."""
        idx = np.asarray(idx)
        act = np.ones(idx.shape, bool)
        for i, d in enumerate(self.decisions):
            if d.parent is not None:
                act[..., i] = act[..., d.parent] & self.cover[i, idx[..., d.parent]]
        return act

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        idx,
        width: float = 1.0,
        divisor: int = 32,
        input_size: int = 224,
        stem_stride: int = 2,
    ) -> list[dict]:
        """Concrete blocks: stem conv, IB layers (skips dropped), head convs. Widths follow
        ``_staged``: ``rhu(base * width, divisor)`` with base widths fixed at the structural
        multiple of 32; expansion ``rhu(rhu(ratio * base_in, 32) * width, divisor)``."""
        idx = [int(i) for i in idx]
        val = lambda d: self.decisions[d].choices[idx[d]]  # noqa: E731
        blocks = [
            dict(
                kind="conv",
                k=3,
                s=stem_stride,
                cout=rhu(rhu(STEM, 32) * width, divisor),
                res=input_size,
            )
        ]
        res = math.ceil(input_size / stem_stride)
        for sl in self.slots:
            if not sl.ops:
                continue
            op = self.decisions[sl.ops[0]].choices[idx[sl.ops[0]]]
            if op == "skip":
                continue
            base_in = sl.cin_fixed if sl.in_w is None else val(sl.in_w)
            base_out = sl.cout_fixed if sl.out_w is None else val(sl.out_w)
            ratio = val(sl.ops[2])
            exp = rhu(rhu(ratio * base_in, 32) * width, divisor)
            blocks.append(
                dict(
                    kind=op,
                    k=val(sl.ops[1]),
                    s=sl.stride,
                    exp=exp,
                    cout=rhu(base_out * width, divisor),
                    res=res,
                )
            )
            res = math.ceil(res / sl.stride)
        h1, h2 = (rhu(rhu(h, 32) * width, divisor) for h in HEAD)
        blocks.append(dict(kind="conv", k=1, s=1, cout=h1, res=res))
        blocks.append(dict(kind="pool"))
        blocks.append(dict(kind="conv", k=1, s=1, cout=h2, res=1))
        return blocks


def madds(blocks: list[dict], cin: int = 3, classes: int = 10) -> float:
    """Multiply-adds of a decoded network (convs, depthwise, pointwise; BN/act/pool free)."""
    total = 0.0
    for b in blocks:
        if b["kind"] == "pool":
            continue
        r = b["res"]
        ro = math.ceil(r / b["s"])
        if b["kind"] == "conv":
            total += ro * ro * b["k"] ** 2 * cin * b["cout"]
        elif b["kind"] == "ib":
            total += r * r * cin * b["exp"]  # expand 1x1
            total += ro * ro * b["k"] ** 2 * b["exp"]  # depthwise
            total += ro * ro * b["exp"] * b["cout"]  # project
        else:  # fused: k x k regular conv to exp, then 1x1 project
            total += ro * ro * b["k"] ** 2 * cin * b["exp"]
            total += ro * ro * b["exp"] * b["cout"]
        cin = b["cout"]
    return total + cin * classes


# ---------------------------------------------------------------------------- cost tables
class LinearCost:
    """Per-target linear models as dense per-slot tables (see module docstring)."""

    def __init__(self, space: MHSpace, files: list[Path] | None = None) -> None:
        files = files or sorted(COSTMODELS.glob("multi_hardware_*_linear.json"))
        self.space = space
        self.targets, ws, bs = [], [], []
        for f in files:
            d = json.loads(Path(f).read_text())
            assert d["kind"] == "linear" and d["space"] == "multi_hardware"
            assert d["feature_size"] == space.feature_size, (d["feature_size"], space.feature_size)
            self.targets.append(d["target"])
            ws.append(np.asarray(d["weights"], float))
            bs.append(float(d["bias"]))
        self.w = np.stack(ws, 1)  # [features, targets]
        self.b = np.asarray(bs)
        self.tables: list[tuple[tuple, np.ndarray]] = []
        offset = 0
        for sl in space.slots:
            n = len(space.slot_features(sl, space.onehots([0] * space.n)))
            if n <= 1:
                continue
            shape = [space.decisions[d].size for d in sl.refs]
            tab = np.zeros([*shape, len(self.targets)])
            for combo in np.ndindex(*shape):
                idx = [0] * space.n
                for d, c in zip(sl.refs, combo):
                    idx[d] = c
                v = space.slot_features(sl, space.onehots(idx))
                nz = np.flatnonzero(v)
                assert len(nz) == 1 and v[nz[0]] == 1.0
                tab[combo] = self.w[offset + nz[0]]
            self.tables.append((sl.refs, tab))
            offset += n
        assert offset == self.w.shape[0]

    def latency(self, idx: np.ndarray) -> np.ndarray:
        """``[K, targets]`` ms for one-hot choices ``idx`` ``[K, n]``."""
        idx = np.atleast_2d(idx)
        out = np.tile(self.b, (idx.shape[0], 1))
        for refs, tab in self.tables:
            out += tab[tuple(idx[:, d] for d in refs)]
        return out

    def latency_masks(self, masks: list[np.ndarray]) -> np.ndarray:
        """``[K, targets]`` ms for per-decision masks, each ``[K, size]`` (multilinear)."""
        k = masks[0].shape[0]
        out = np.tile(self.b, (k, 1))
        letters = "abcdefgh"
        for refs, tab in self.tables:
            sub = ",".join("z" + letters[i] for i in range(len(refs)))
            expr = f"{letters[: len(refs)]}t,{sub}->zt"
            out += np.einsum(expr, tab, *[masks[d] for d in refs], optimize=True)
        return out


def mn_norm(
    lat: np.ndarray, mode: str, targets: list[str], factors: dict[str, float] = FACTORS_MS
) -> np.ndarray:
    """Eq. 4 (``avg``) / eq. 5 (``max``) of ``[K, targets]`` latencies."""
    t = lat / np.asarray([factors[x] for x in targets])
    return t.mean(-1) if mode == "avg" else t.max(-1)
