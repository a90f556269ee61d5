"""``search dataset`` writes one decoding of a space: rows of other options (input size, width)
in the same store are left out, and a store holding none of the asked decoding is refused
naming the decodings it holds (it used to mix them silently)."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from mhzoo.benchmarks.store import LatencyRecord, LatencyStore
from mhzoo.cli import main
from mhzoo.search import get_space
from mhzoo.search.latency.shards import store_dataset

OPTS = {"width": 0.25, "max_layers": 1}


def _mixed_store(path):
    """6 architectures at 32 px and 6 at 64 px, both targets, one machine."""
    with LatencyStore(path) as store:
        for size in (32, 64):
            space = get_space("multi_hardware", input_size=size, **OPTS)
            for seed in range(6):
                g = space.sample(seed).to_string()
                for target in ("cpu_fp32", "cpu_int8"):
                    store.put(LatencyRecord(f"{size}-{seed}", 1.0, target, "m", "x",
                                            1.0 + seed, input_size=size,
                                            info={"genotype": g}))
    return path


def test_only_the_spaces_decoding_is_kept(tmp_path):
    db = _mixed_store(tmp_path / "mixed.sqlite")
    rows = store_dataset(db, get_space("multi_hardware", input_size=32, **OPTS),
                         ["cpu_fp32", "cpu_int8"])
    assert len(rows) == 6 and all("input_size=32" in r["genotype"] for r in rows)


def test_cli_keeps_one_decoding_or_refuses_in_one_line(tmp_path):
    db = _mixed_store(tmp_path / "mixed.sqlite")
    base = ["search", "dataset", "--db", str(db), "--space", "multi_hardware", "-O",
            "width=0.25", "-O", "max_layers=1", "--target", "cpu_fp32,cpu_int8"]
    out = tmp_path / "d32.csv"
    res = CliRunner().invoke(main, [*base, "-O", "input_size=32", "-o", str(out)])
    assert res.exit_code == 0, res.output
    with out.open() as f:
        genotypes = [r["genotype"] for r in csv.DictReader(f)]
    assert len(genotypes) == 6 and all("input_size=32" in g for g in genotypes)
    # no input size given: the space's default (224 px) is in neither decoding
    res = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "d.csv")])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: ")
    assert "input_size=32 (6 rows)" in lines[0] and "input_size=64 (6 rows)" in lines[0]
    assert not (tmp_path / "d.csv").exists()
