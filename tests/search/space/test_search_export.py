"""Paper eq. 1: every multi_hardware point runs fully on every target (int8_full export)."""

from __future__ import annotations

import numpy as np

import mhzoo
from mhzoo.search import get_space

SAMPLES = 10  # every sample holds all four op kinds; 10 seeds keep CI under a minute
SIZE = 64  # small images and width 0.25 keep conversions fast; the ops depend on neither


def test_multi_hardware_samples_fully_supported_int8(tmp_path):
    from mhzoo.export import to_tflite

    space = get_space("multi_hardware", input_size=SIZE, width=0.25)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    kinds = set()
    for i in range(SAMPLES):
        g = space.sample(1000 + i)
        spec = space.decode(g)
        kinds |= {("fused" if b.fused else "ib", b.kernel) for b in spec.blocks
                  if hasattr(b, "fused")}
        model = mhzoo.build(spec, input_shape=(SIZE, SIZE, 3), num_classes=10)
        res = to_tflite(model, tmp_path / f"s{i}.tflite", quant="int8_full",
                        representative_data=images, calibration_steps=4, fidelity_images=2)
        unsupported = {t: ok for t, ok in res.compatibility.fully_supported.items() if not ok}
        assert not unsupported, f"{g}: not fully supported on {sorted(unsupported)}"
    # the samples exercise every op of the space (regular and fused, both kernels)
    assert kinds == {("ib", 3), ("ib", 5), ("fused", 3), ("fused", 5)}
