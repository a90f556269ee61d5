"""`mhzoo quickstart` end to end on small models, the block profile (Figure 2) and the PNGs.

These use the package's exporter (mhzoo.export.to_tflite) like a user's run does; sizes are
small (width 0.25, 32x32 inputs) to fit the test budget.
"""

from __future__ import annotations

import json

import pytest

from mhzoo.spec import ArchSpec, Conv, DepthwiseSeparable, InvertedBottleneck

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_ok(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert img[..., :3].std() > 0.01  # not a blank canvas


@pytest.fixture(scope="module")
def small_spec_file(tmp_path_factory):
    spec = ArchSpec(name="tiny_net", blocks=(
        Conv(16, 3, 2, "relu"),
        DepthwiseSeparable(24, 3, 2, "relu"),
        InvertedBottleneck(32, 3, 2, 4, activation="relu"),
    ))
    p = tmp_path_factory.mktemp("spec") / "tiny_net.json"
    p.write_text(spec.to_json())
    return p


def test_block_profile_by_prefix_timing(small_spec_file):
    from mhzoo.benchmarks.block_latency import profile_blocks
    from mhzoo.benchmarks.runner import RunConfig

    cfg = RunConfig(warmup_runs=2, warmup_min_s=0.0, min_runs=15, min_time_s=0.05,
                    max_time_s=0.3)
    prof = profile_blocks(str(small_spec_file), 1.0, "cpu_fp32", input_size=64, passes=2,
                          config=cfg)
    assert prof.labels == ["0:conv", "1:ds", "2:ib", "head"]
    assert len(prof.cumulative_ms) == len(prof.block_ms) == 4
    assert prof.total_ms == prof.cumulative_ms[-1] > 0
    assert sum(prof.shares_pct) == pytest.approx(100.0)
    assert all(b >= 0 for b in prof.block_ms)
    raw_sum = sum(prof.raw_block_ms)
    assert raw_sum == pytest.approx(prof.total_ms)  # differences telescope to the full model


def test_quickstart_small(cli, tmp_path, small_spec_file):
    out = tmp_path / "qs"
    args = ["quickstart", "-o", out, "--models", "mobilenet_v1,multi_max", "--width", "0.25",
            "--targets", "cpu_fp32,cpu_int8", "--no-table1-widths", "--input-size", "32",
            "--block-model", small_spec_file, "--min-time", "0.05", "--max-time", "0.3",
            "--no-progress"]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    for name in ("table.md", "table.csv", "table.json", "machine.json", "results.sqlite",
                 "fig1_accuracy_vs_mn_norm.png", "fig5_accuracy_vs_latency.png",
                 "fig2_block_latency_share.png"):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        _png_ok(png)
    assert not list(out.glob(".*partial*"))
    rows = json.loads((out / "table.json").read_text())
    labels = [(x["model"], x["width_multiplier"]) for x in rows]
    assert labels == [("mobilenet_v1", 0.25), ("multi_max", 0.25), ("mobilenet_v1", 1.0)]
    ref = rows[2]
    assert ref["mn_norm_avg"] == pytest.approx(1.0) and ref["mn_norm_max"] == pytest.approx(1.0)
    for x in rows:
        assert x["cpu_fp32_ms"] > 0 and x["cpu_int8_ms"] > 0
        exp = (x["cpu_fp32_ms"] / ref["cpu_fp32_ms"], x["cpu_int8_ms"] / ref["cpu_int8_ms"])
        assert x["mn_norm_avg"] == pytest.approx(sum(exp) / 2)
        assert x["mn_norm_max"] == pytest.approx(max(exp))
    assert "MN-Norm table" in r.stdout and "| multi_max |" in r.stdout
    exports = sorted((out / "models").glob("*.tflite"))
    assert len(exports) == 6  # 3 models x (float32, int8_full)
    # the markdown table equals the printed one, and the CSV has the paper's layout
    assert (out / "table.md").read_text().splitlines()[2] in r.stdout
    assert (out / "table.csv").read_text().startswith(
        "model,width_multiplier,top1_accuracy_pct,params_m,madds_m,cpu_fp32_ms,cpu_int8_ms,"
        "mn_norm_avg,mn_norm_max\n")
    # a rerun resumes: nothing is exported or measured again
    mtimes = {p: p.stat().st_mtime_ns for p in exports}
    r2 = cli(*args)
    assert r2.exit_code == 0, r2.output
    assert {p: p.stat().st_mtime_ns for p in exports} == mtimes
    assert json.loads((out / "table.json").read_text()) == rows


def test_quickstart_bad_inputs(cli, tmp_path, one_line_error):
    one_line_error(cli("quickstart", "-o", tmp_path / "q", "--targets", "cpu_fp32,gpu"),
                   "runs on a phone")
    one_line_error(cli("quickstart", "-o", tmp_path / "q", "--models", "multi_maxx"),
                   "unknown model")
    one_line_error(cli("quickstart", "-o", tmp_path / "missing" / "q"), "does not exist")
    one_line_error(cli("quickstart", "-o", tmp_path / "q", "--targets", "cpu_fp32",
                       "--reference", "nope_net"), "unknown model")


def test_report_plots(cli, paper_csv, tmp_path, one_line_error):
    f1, f5 = tmp_path / "fig1.png", tmp_path / "fig5.png"
    r = cli("report", "--latencies", paper_csv, "--reference", "mobilenet_v1", "--plot", f1,
            "--plot-latency", f5)
    assert r.exit_code == 0, r.output
    _png_ok(f1)
    _png_ok(f5)
    one_line_error(cli("report", "--latencies", paper_csv, "--reference", "mobilenet_v1",
                       "--plot", tmp_path / "fig1.jpg"), "must end in .png")


def test_block_profile_cache_keys_on_input_size_and_arch(tmp_path, small_spec_file,
                                                         monkeypatch):
    """The Figure-2 cache is reused only for the same model, width, target, input size and
    architecture: another input size, or an edited spec, is measured again."""
    import mhzoo.benchmarks.quickstart as qs
    from mhzoo.benchmarks.block_latency import BlockProfile
    from mhzoo.benchmarks.store import arch_hash
    from mhzoo.benchmarks.targets import get_target
    from mhzoo.builder import resolve_spec

    calls = []

    def fake_profile_blocks(spec, width, target, *, input_size, passes, workdir, progress):
        # stands in for the timing (tested above); returns what profile_blocks records
        calls.append(input_size)
        return BlockProfile(model=spec.name, width=width, target=target.name,
                            labels=["0:conv", "head"], cumulative_ms=[1.0, 2.0],
                            block_ms=[1.0, 1.0], raw_block_ms=[1.0, 1.0], total_ms=2.0,
                            passes=passes, input_size=input_size,
                            arch_hash=arch_hash(spec, input_size))

    monkeypatch.setattr(qs, "profile_blocks", fake_profile_blocks)
    t = get_target("cpu_fp32")
    p64 = qs.block_profile(tmp_path, str(small_spec_file), 1.0, t, input_size=64)
    assert calls == [64] and p64.input_size == 64
    assert qs.block_profile(tmp_path, str(small_spec_file), 1.0, t, input_size=64) == p64
    assert calls == [64]  # cached
    p96 = qs.block_profile(tmp_path, str(small_spec_file), 1.0, t, input_size=96)
    assert calls == [64, 96] and p96.input_size == 96  # another input size: measured again
    files = sorted(f.name for f in tmp_path.glob("*.json"))
    assert len(files) == 2 and any("_64_" in f for f in files) and any("_96_" in f for f in files)
    stored = json.loads(next(tmp_path.glob("*_64_*.json")).read_text())
    assert stored["input_size"] == 64
    assert stored["arch_hash"] == arch_hash(resolve_spec(str(small_spec_file)), 64)
    # an edited spec (same name and file) is a new architecture: measured again
    spec = resolve_spec(str(small_spec_file))
    small_spec_file.write_text(spec.replace(blocks=spec.blocks[:2]).to_json())
    try:
        qs.block_profile(tmp_path, str(small_spec_file), 1.0, t, input_size=64)
        assert calls == [64, 96, 64]
    finally:
        small_spec_file.write_text(spec.to_json())
    # a cache file whose stored input size disagrees with its request is not trusted
    path64 = next(f for f in tmp_path.glob("*_64_*.json") if json.loads(f.read_text())[
        "arch_hash"] == arch_hash(spec, 64))
    bad = json.loads(path64.read_text())
    bad["input_size"] = 128
    path64.write_text(json.dumps(bad))
    qs.block_profile(tmp_path, str(small_spec_file), 1.0, t, input_size=64)
    assert calls == [64, 96, 64, 64]


def test_quickstart_unwritable_output(cli, unwritable_dir, one_line_error):
    r = cli("quickstart", "-o", unwritable_dir / "qs", "--models", "multi_max", "--no-progress")
    one_line_error(r, "cannot write to", str(unwritable_dir))
    assert "Errno" not in r.output
    assert not (unwritable_dir / "qs").exists()
