"""MN-Norm (paper eq. 4-5) and Table-1 reports, checked against values computed here from the
equations directly."""

from __future__ import annotations

import csv
import json

import pytest

from mhzoo.benchmarks.normalization import mn_norm, normalization_factors, parse_assignments

FACTORS = {"cpu_float": 40.0, "cpu_uint8": 15.0, "gpu": 6.0, "dsp": 4.0, "edgetpu": 2.5}


def _expected(path, factors, weights=None):
    """Eq. 4 and 5 written out independently of mhzoo: avg = 1/N sum w L/C, max = max w L/C."""
    weights = weights or {}
    out = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            terms, unsupported = [], False
            for t, c in factors.items():
                w = weights.get(t, 1.0)
                cell = row[f"{t}_ms"].strip()
                if not cell:
                    unsupported = unsupported or w > 0
                    terms.append(0.0)
                    continue
                terms.append(w * float(cell) / c)
            key = (row["model"], float(row["width_multiplier"]))
            out[key] = (None, None) if unsupported else (sum(terms) / len(terms), max(terms))
    return out


def _factors_arg(factors):
    return ",".join(f"{t}={v}" for t, v in factors.items())


def test_report_json_matches_eq4_eq5_with_explicit_factors(cli, paper_csv):
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS),
            "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    expected = _expected(paper_csv, FACTORS)
    assert len(rows) == len(expected) == 8
    for row in rows:
        avg, mx = expected[(row["model"], row["width_multiplier"])]
        if avg is None:
            assert row["mn_norm_avg"] is None and row["mn_norm_max"] is None
        else:
            assert row["mn_norm_avg"] == pytest.approx(avg, rel=1e-12)
            assert row["mn_norm_max"] == pytest.approx(mx, rel=1e-12)
        for t in FACTORS:
            assert f"{t}_ms" in row
    v3 = next(r for r in rows if r["model"] == "mobilenet_v3_large")
    assert v3["edgetpu_ms"] is None and v3["mn_norm_avg"] is None
    mm = next(r for r in rows if r["model"] == "multi_max")
    # Multi-MAX: (25.2/40 + 11.7/15 + 4.47/6 + 3.38/4 + 2.22/2.5) / 5, by hand
    assert mm["mn_norm_avg"] == pytest.approx(
        (0.63 + 0.78 + 0.745 + 0.845 + 0.888) / 5, rel=1e-9)
    assert mm["mn_norm_max"] == pytest.approx(0.888, rel=1e-9)


def test_report_weights_follow_section_5_2(cli, paper_csv):
    weights = {"edgetpu": 0.0, "gpu": 2.0}
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS),
            "--weights", "edgetpu=0,gpu=2", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    expected = _expected(paper_csv, FACTORS, weights)
    for row in rows:
        avg, mx = expected[(row["model"], row["width_multiplier"])]
        assert row["mn_norm_avg"] == pytest.approx(avg, rel=1e-12)
        assert row["mn_norm_max"] == pytest.approx(mx, rel=1e-12)
    # with EdgeTPU weighted out, MobileNetV3 Large is no longer "unsupported"
    v3 = next(r for r in rows if r["model"] == "mobilenet_v3_large")
    assert v3["mn_norm_avg"] is not None


def test_reference_model_factors_make_the_reference_one(cli, paper_csv):
    r = cli("report", "--latencies", paper_csv, "--reference", "mobilenet_v1", "--format",
            "json")
    assert r.exit_code == 0, r.output
    rows = {row["model"]: row for row in json.loads(r.stdout)}
    assert rows["mobilenet_v1"]["mn_norm_avg"] == pytest.approx(1.0)
    assert rows["mobilenet_v1"]["mn_norm_max"] == pytest.approx(1.0)
    v1 = {t: rows["mobilenet_v1"][f"{t}_ms"] for t in FACTORS}
    exp = _expected(paper_csv, v1)[("multi_avg", 1.0)]
    assert rows["multi_avg"]["mn_norm_avg"] == pytest.approx(exp[0])
    assert rows["multi_avg"]["mn_norm_max"] == pytest.approx(exp[1])


def test_report_csv_keeps_the_paper_layout(cli, paper_csv):
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS),
            "--format", "csv")
    assert r.exit_code == 0, r.output
    lines = r.stdout.strip().splitlines()
    assert lines[0] == paper_csv.read_text().splitlines()[0]
    v3 = next(ln for ln in lines if ln.startswith("mobilenet_v3_large,"))
    assert v3.endswith(",,,")  # empty edgetpu cell, empty avg and max


def test_markdown_marks_unsupported_and_best(cli, paper_csv):
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS))
    assert r.exit_code == 0, r.output
    v3 = next(ln for ln in r.stdout.splitlines() if ln.startswith("| mobilenet_v3_large |"))
    assert v3.count("×") == 3
    mm = next(ln for ln in r.stdout.splitlines() if ln.startswith("| multi_max |"))
    assert "**0.89**" in mm  # lowest MN-Norm max of the table


def test_dataset_paper_pixel4_prints_table1(cli):
    r = cli("report", "--dataset", "paper-pixel4")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "| multi_max | 1.0 | 74.9 | 4.39 | 349 |" in out
    assert "**0.91**" in out and "**1.10**" in out
    assert "| mobilenet_v3_large | 1.0 |" in out and "×" in out
    r = cli("report", "--dataset", "paper-pixel4", "--format", "json")
    rows = json.loads(r.stdout)
    assert {row["model"] for row in rows} >= {"multi_avg", "multi_max", "mobilenet_v1"}
    mm = next(row for row in rows if row["model"] == "multi_max")
    assert (mm["mn_norm_avg"], mm["mn_norm_max"], mm["cpu_uint8_ms"]) == (0.91, 1.10, 11.7)


def test_mn_norm_api_edge_cases():
    c = normalization_factors({"a": 10.0, "b": 2.0})
    m = mn_norm({"a": 5.0, "b": 4.0}, c)
    assert (m.avg, m.max) == (pytest.approx((0.5 + 2.0) / 2), pytest.approx(2.0))
    assert not mn_norm({"a": None, "b": 4.0}, c).supported
    assert mn_norm({"a": None, "b": 4.0}, c, {"a": 0}).max == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no latency column"):
        mn_norm({"a": 1.0}, c)
    with pytest.raises(ValueError, match="unsupported there"):
        normalization_factors({"a": 1.0, "b": None})
    with pytest.raises(ValueError, match="> 0"):
        mn_norm({"a": 0.0, "b": 1.0}, c)
    with pytest.raises(ValueError, match="weight"):
        mn_norm({"a": 1.0, "b": 1.0}, c, {"a": -1})
    assert parse_assignments("cpu_float_ms=3, gpu=2.5") == {"cpu_float": 3.0, "gpu": 2.5}
    with pytest.raises(ValueError, match="not a number"):
        parse_assignments("gpu=fast")


def test_report_bad_inputs_are_one_line_errors(cli, paper_csv, tmp_path, one_line_error):
    assert_one_line_error = one_line_error
    r = cli("report", "--latencies", paper_csv)  # default reference mobilenet_v1@1.0 absent
    assert_one_line_error(r, "reference model mobilenet_v1@1.0", "--norm-factors")
    r = cli("report", "--latencies", paper_csv, "--reference", "resnet50")
    assert_one_line_error(r, "resnet50")
    r = cli("report", "--latencies", paper_csv, "--norm-factors", "cpu_float=40")
    assert_one_line_error(r, "no normalization factor", "cpu_uint8")
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS) +
            ",npu=3")
    assert_one_line_error(r, "unknown target", "npu")
    nomodel = tmp_path / "nomodel.csv"
    nomodel.write_text("name,cpu_ms\nx,3\n")
    assert_one_line_error(cli("report", "--latencies", nomodel, "--norm-factors", "cpu=1"),
                          "no 'model' column")
    text = nomodel.with_name("text.csv")
    text.write_text("model,cpu_ms,gpu_ms\na,3,fast\n")
    assert_one_line_error(cli("report", "--latencies", text, "--norm-factors", "cpu=1,gpu=1"),
                          "gpu_ms is not a number", "'fast'")
    zero = nomodel.with_name("zero.csv")
    zero.write_text("model,cpu_ms\na,0\n")
    assert_one_line_error(cli("report", "--latencies", zero, "--norm-factors", "cpu=1"),
                          "must be > 0")
    neg = nomodel.with_name("neg.csv")
    neg.write_text("model,cpu_ms\na,-2.5\n")
    assert_one_line_error(cli("report", "--latencies", neg, "--norm-factors", "cpu=1"),
                          "must be > 0")
    assert_one_line_error(cli("report", "--latencies", tmp_path / "missing.csv"), "not found")
    assert_one_line_error(cli("report", "--dataset", "paper-pixel9"), "unknown dataset")
    assert_one_line_error(cli("report", "--latencies", paper_csv, "--reference",
                              "mobilenet_v1", "--norm-factors", "gpu=1"), "not both")


def test_zero_norm_factor_is_named(cli, paper_csv, one_line_error):
    factors = dict(FACTORS, gpu=0)
    r = cli("report", "--latencies", paper_csv, "--norm-factors", _factors_arg(factors))
    one_line_error(r, "normalization factor of 'gpu'", "> 0")
    assert "reference latency" not in r.output


def test_outputs_checked_before_the_table(cli, paper_csv, tmp_path, one_line_error):
    """A bad --plot / --plot-latency / -o path fails before any table is printed."""
    args = ["report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS)]
    for extra in (["--plot", tmp_path / "missing" / "f1.png"],
                  ["--plot-latency", tmp_path / "missing" / "f5.png"],
                  ["-o", tmp_path / "missing" / "t.md"],
                  ["--plot", tmp_path]):
        r = cli(*args, *extra)
        assert r.stdout == "", extra  # no table on stdout
        one_line_error(r, "output")
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_are_replaced_only_with_force(cli, paper_csv, tmp_path,
                                                      one_line_error):
    args = ["report", "--latencies", paper_csv, "--norm-factors", _factors_arg(FACTORS)]
    notes = tmp_path / "notes.md"
    notes.write_text("my notes\n")
    one_line_error(cli(*args, "-o", notes), "--force")
    assert notes.read_text() == "my notes\n"
    r = cli(*args, "-o", notes, "--force")
    assert r.exit_code == 0 and "MN-Norm" in notes.read_text()
    link = tmp_path / "link.md"
    link.symlink_to(notes)
    one_line_error(cli(*args, "-o", link, "--force"), "link")
    assert link.is_symlink()


def _record(model, width, input_size, target="cpu_fp32", ms=5.0):
    from mhzoo.benchmarks.store import LatencyRecord

    return LatencyRecord(f"spec:{model}{input_size}", width, target, "m", model, ms,
                         input_size=input_size)


def test_paper_accuracy_only_at_224():
    from mhzoo.benchmarks.report import table_from_records

    t224 = table_from_records([_record("multi_max", 1.0, 224)], ["cpu_fp32"], with_counts=False)
    assert t224.rows[0].top1_accuracy_pct == 74.9  # Table 1, Multi-MAX 1.0
    t160 = table_from_records([_record("multi_max", 1.0, 160)], ["cpu_fp32"], with_counts=False)
    assert t160.rows[0].top1_accuracy_pct is None  # measured at 160 px: not Table 1's model
    # MAdds are counted at the measured input size
    (c160,), (c224,) = (table_from_records([_record("multi_max", 1.0, n)], ["cpu_fp32"]).rows
                        for n in (160, 224))
    assert c224.madds_m == 349  # Table 1's count for Multi-MAX 1.0 at 224
    assert c160.madds_m < c224.madds_m and c160.params_m == c224.params_m
    mixed = [_record("multi_max", 1.0, 160), _record("multi_max", 1.0, 224, ms=9.0)]
    with pytest.raises(ValueError, match="several input sizes"):
        table_from_records(mixed, ["cpu_fp32"], with_counts=False)
    only = table_from_records(mixed, ["cpu_fp32"], input_size=224, with_counts=False)
    assert only.rows[0].latency_ms == {"cpu_fp32": 9.0}
    assert only.rows[0].top1_accuracy_pct == 74.9
    # the paper row is matched on width too
    t075 = table_from_records([_record("multi_max", 0.75, 224)], ["cpu_fp32"],
                              with_counts=False)
    assert t075.rows[0].top1_accuracy_pct is None


def test_report_db_is_read_only(cli, tmp_path, one_line_error):
    """`report --db` never writes to the file: a foreign SQLite database is refused and left
    as it was (no tables, no WAL); an mhzoo database is read without changes."""
    import sqlite3

    from mhzoo.benchmarks.store import LatencyStore

    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as c:
        c.execute("CREATE TABLE songs (title TEXT)")
    before = foreign.read_bytes()
    r = cli("report", "--db", foreign, "--norm-factors", "cpu_fp32=1")
    one_line_error(r, "not an mhzoo results database", "other.sqlite")
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite"]  # no -wal / -shm
    with sqlite3.connect(foreign) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["songs"]
    db = tmp_path / "mhzoo.sqlite"
    with LatencyStore(db) as s:
        s.put(_record("multi_max", 1.0, 224))
    snapshot = db.read_bytes()
    r = cli("report", "--db", db, "--machine", "m", "--norm-factors", "cpu_fp32=2.5",
            "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["mn_norm_avg"] == pytest.approx(2.0)
    assert db.read_bytes() == snapshot
    one_line_error(cli("report", "--db", tmp_path / "none.sqlite"), "not found")
