"""benchmark_model logs (fixtures written from its documented output format) and CSV import."""

from __future__ import annotations

import pytest

from mhzoo.benchmarks.importers import (
    parse_benchmark_model_output,
    read_benchmark_model_output,
    read_latency_csv,
)


def test_parses_cpu_log(fixtures_dir):
    r = read_benchmark_model_output(fixtures_dir / "bm_cpu_pixel4.txt")
    assert r.avg_ms == pytest.approx(25.2146)
    assert r.count == 50
    assert (r.min_ms, r.max_ms, r.std_ms) == (pytest.approx(24.961), pytest.approx(26.874),
                                              pytest.approx(0.311))
    assert r.first_ms == pytest.approx(31.25) and r.init_ms == pytest.approx(41.203)
    assert r.warmup_avg_ms == pytest.approx(25.8074)
    assert r.num_threads == 1
    assert r.graph.endswith("multi_max_100_224_float32.tflite")
    assert r.fully_delegated is None


def test_parses_delegate_coverage(fixtures_dir):
    gpu = read_benchmark_model_output(fixtures_dir / "bm_gpu_full.txt")
    assert gpu.avg_ms == pytest.approx(4.4701) and gpu.count == 222
    assert gpu.delegate == "gpu" and gpu.fully_delegated is True
    dsp = read_benchmark_model_output(fixtures_dir / "bm_hexagon_partial.txt")
    assert dsp.delegate == "hexagon" and dsp.fully_delegated is False
    assert dsp.avg_ms == pytest.approx(7.2335)


def test_all_same_runs(fixtures_dir):
    r = read_benchmark_model_output(fixtures_dir / "bm_all_same.txt")
    assert r.avg_ms == pytest.approx(2.5) and r.count == 5
    assert r.min_ms == pytest.approx(2.5) and r.std_ms == 0.0


@pytest.mark.parametrize("name, message", [
    ("bm_zero_latency.txt", "must be > 0"),
    ("bm_negative_latency.txt", "must be > 0"),
    ("bm_malformed_timings.txt", "First inference is not a number"),
    ("bm_crashed.txt", "not benchmark_model output"),
])
def test_rejects_bad_logs(fixtures_dir, name, message):
    with pytest.raises(ValueError, match=message) as exc:
        read_benchmark_model_output(fixtures_dir / name)
    assert name in str(exc.value) and "\n" not in str(exc.value)


def test_rejects_empty_and_count_zero():
    with pytest.raises(ValueError, match="empty"):
        parse_benchmark_model_output("  \n")
    with pytest.raises(ValueError, match="0 times"):
        parse_benchmark_model_output("count=0\nInference timings in us: Inference (avg): 5\n")


def test_cli_imports_a_log_into_the_store(cli, fixtures_dir, tmp_path):
    db = tmp_path / "phone.sqlite"
    r = cli("bench", "multi_max", "--targets", "gpu", "--db", db, "--from-output",
            fixtures_dir / "bm_gpu_full.txt", "--machine", "Pixel 4", "--json")
    assert r.exit_code == 0, r.output
    from mhzoo.benchmarks.store import LatencyStore

    with LatencyStore(db) as s:
        (rec,) = s.records()
    assert (rec.model, rec.width, rec.target, rec.machine) == ("multi_max", 1.0, "gpu",
                                                               "Pixel 4")
    assert rec.median_ms == pytest.approx(4.4701) and rec.supported
    assert rec.source == "import:benchmark_model"
    # a partially delegated DSP run is stored as unsupported (Table 1's "x")
    r = cli("bench", "mobilenet_v3_large", "--targets", "dsp", "--db", db, "--from-output",
            fixtures_dir / "bm_hexagon_partial.txt", "--machine", "Pixel 4")
    assert r.exit_code == 0, r.output
    assert "unsupported" in r.stdout
    # then a report straight from the store: unsupported -> no MN-Norm
    r = cli("report", "--db", db, "--machine", "Pixel 4", "--norm-factors", "gpu=5,dsp=4",
            "--format", "json")
    assert r.exit_code == 0, r.output
    import json

    rows = {row["model"]: row for row in json.loads(r.stdout)}
    assert rows["mobilenet_v3_large"]["mn_norm_avg"] is None
    assert rows["multi_max"]["gpu_ms"] == pytest.approx(4.4701)


def test_cli_rejects_bad_log(cli, fixtures_dir, tmp_path, one_line_error):
    r = cli("bench", "multi_max", "--targets", "gpu", "--db", tmp_path / "x.sqlite",
            "--from-output", fixtures_dir / "bm_zero_latency.txt", "--machine", "Pixel 4")
    one_line_error(r, "must be > 0")
    r = cli("bench", "multi_max", "--targets", "gpu", "--db", tmp_path / "x.sqlite",
            "--from-output", fixtures_dir / "bm_cpu_pixel4.txt")
    one_line_error(r, "--machine")


def test_csv_reader(tmp_path, paper_csv):
    t = read_latency_csv(paper_csv)
    assert t.targets == ["cpu_float", "cpu_uint8", "gpu", "dsp", "edgetpu"]
    v3 = t.find("mobilenet_v3_large")
    assert v3.latency_ms["edgetpu"] is None and v3.latency_ms["gpu"] == 5.61
    assert v3.width == 1.0 and v3.top1_accuracy_pct == 75.3
    p = tmp_path / "dup.csv"
    p.write_text("model,gpu_ms\na,1\na,2\n")
    with pytest.raises(ValueError, match="duplicate"):
        read_latency_csv(p)
    p.write_text("model,width_multiplier\na,1\n")
    with pytest.raises(ValueError, match="no latency columns"):
        read_latency_csv(p)
    p.write_text("model,gpu_ms\na,nan\n")
    with pytest.raises(ValueError, match="not finite"):
        read_latency_csv(p)
