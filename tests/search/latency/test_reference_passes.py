"""MN-Norm reference factors timed with several passes, like ``search collect --passes``: the
row keeps every pass's median and the factor is their median; a rerun adds missing passes."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from mhzoo.benchmarks.store import LatencyStore
from mhzoo.search.latency import reference_factors


def test_reference_passes_median_of_pass_medians(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    f1 = reference_factors(["cpu_int8"], db, input_size=32, num_classes=10)
    with LatencyStore(db, readonly=True) as s:
        (rec,) = s.records()
    first = float(rec.median_ms)
    assert f1["cpu_int8"] == pytest.approx(first)
    f3 = reference_factors(["cpu_int8"], db, input_size=32, num_classes=10, passes=3)
    with LatencyStore(db, readonly=True) as s:
        (rec,) = s.records()
    medians = rec.info["pass_medians"]
    assert len(medians) == 3 and medians[0] == pytest.approx(first)
    assert rec.median_ms == pytest.approx(statistics.median(medians))
    assert f3["cpu_int8"] == pytest.approx(statistics.median(medians))
    # a rerun with as many passes measures nothing new
    reference_factors(["cpu_int8"], db, input_size=32, num_classes=10, passes=3)
    with LatencyStore(db, readonly=True) as s:
        (again,) = s.records()
    assert again.info["pass_medians"] == medians


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_reference_passes_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="passes must be an integer"):
        reference_factors(["cpu_int8"], tmp_path / "r.sqlite", passes=bad)  # type: ignore[arg-type]
