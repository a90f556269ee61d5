"""Simulated accelerator targets (ZigZag): layers, lookup tables, harness, reports, bad input.

Cheap by design: tiny layers are simulated with ZigZag here; anything bigger comes from the
shipped lookup tables (the simulation-heavy checks are in benchmarks/simulated/, marked slow).
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from mhzoo.benchmarks.simulated import (
    SimLayer,
    StaleTableError,
    UnsupportedLayerError,
    get_sim_target,
    list_sim_targets,
    load_sim_target,
    simulate_layers,
    simulate_spec,
    spec_layers,
)
from mhzoo.benchmarks.simulated import engine as sim_engine
from mhzoo.benchmarks.simulated.layers import elementwise_cycles, parse_layer_key
from mhzoo.builder import resolve_spec
from mhzoo.counting import count_layers
from mhzoo.spec import ArchSpec, Conv, GlobalPool, InvertedBottleneck
from mhzoo.widths import scale_spec

SIM = ("sim_edgetpu", "sim_npu", "sim_eyeriss", "sim_tpu")
#: the targets that ship a lookup table (sim_eyeriss keeps ZigZag's full search: on demand)
SHIPPED = ("sim_edgetpu", "sim_npu", "sim_tpu")
ZOO = ("multi_avg", "multi_max", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
       "mobilenet_v3_large_minimalistic", "proxylessnas_mobile", "mobilenet_edgetpu")


def tiny_spec() -> ArchSpec:
    """A 4-conv network: stem, a regular IB (expand, depthwise, project, residual add), a
    fused IB, a pooled head."""
    return scale_spec(ArchSpec("tiny", (
        Conv(8, 3, 2, "relu"),
        InvertedBottleneck(8, 3, 1, expansion=2, activation="relu"),
        InvertedBottleneck(16, 3, 2, expansion=2, activation="relu", fused=True),
        GlobalPool(),
    )), 1.0)


def _no_zigzag(monkeypatch) -> None:
    def boom(*a, **k):
        raise AssertionError("ZigZag was called: the layer is not in the shipped table")

    monkeypatch.setattr(sim_engine, "zigzag_cycles", boom)


def test_targets_with_files_and_notes():
    assert set(SIM) <= set(list_sim_targets())
    for name in SIM:
        st = get_sim_target(name)
        assert st.hardware.is_file() and st.mapping.is_file() and st.clock_mhz > 0
        assert "depthwise" in st.mapping.read_text()  # a depthwise mapping entry, with its note
        assert st.rule_set in ("edgetpu", "hexagon", "nnapi")
        assert {"clock", "precision", "rule_set"} <= set(st.notes)
    from mhzoo.benchmarks.targets import get_target

    for name in SIM:
        t = get_target(name)
        assert t.is_simulated and not t.is_local and t.label == f"{name} (simulated)"
    ref = get_target("cpu_int8_ref")
    assert (ref.quant, ref.delegate, ref.runtime) == ("int8_full", "none", "litert")


@pytest.mark.parametrize("name", ZOO)
def test_layers_match_the_profilers_madds(name):
    spec = scale_spec(resolve_spec(name), 1.0)
    layers = spec_layers(spec, 224, 1001)
    want = sum(lc.madds for lc in count_layers(spec, (224, 224), 3, 1001))
    assert sum(lay.macs for lay in layers if lay.kind == "conv") == want
    for lay in layers:
        back = parse_layer_key(lay.key)
        assert back.key == lay.key and back.out_hw == lay.out_hw


def test_layer_keys_separate_what_changes_cycles():
    a = SimLayer("conv", 28, 28, 32, 64, 3, 2, 1, (0, 1, 0, 1))
    assert a.out_hw == (14, 14)
    b = SimLayer("conv", 28, 28, 32, 64, 3, 2, 1, (1, 1, 1, 1))  # symmetric padding
    assert a.key != b.key
    dw = SimLayer("conv", 14, 14, 64, 64, 5, 1, 64, (2, 2, 2, 2))
    assert dw.depthwise and dw.macs == 14 * 14 * 64 * 25
    sym = scale_spec(resolve_spec("mobilenet_v1"), 1.0).replace(padding="symmetric")
    keys_same = {lay.key for lay in spec_layers(scale_spec(resolve_spec("mobilenet_v1"), 1.0))}
    assert {lay.key for lay in spec_layers(sym)} != keys_same


def test_model_latency_is_the_sum_of_its_layers_simulated_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MHZOO_HOME", str(tmp_path / "home"))
    spec = tiny_spec()
    layers = spec_layers(spec, 32, 10)
    assert [lay.kind for lay in layers].count("add") == 1
    for name in SHIPPED:  # (sim_eyeriss's full search makes the same check ~3x slower)
        st = get_sim_target(name)
        one_by_one = 0
        for lay in layers:  # each layer on its own through ZigZag, no table
            if lay.kind == "conv":
                one_by_one += sim_engine.zigzag_cycles(
                    lay, str(st.hardware), str(st.mapping), st.precision,
                    lpf_limit=st.lpf_limit(lay))
            else:
                one_by_one += elementwise_cycles(lay, st.dram_bits_per_cycle())
        res = simulate_spec(spec, name, input_size=32, num_classes=10)
        assert res.cycles == one_by_one == sum(res.layer_cycles)
        assert res.ms == pytest.approx(one_by_one / (st.clock_mhz * 1e3))
        # computed on demand, cached in $MHZOO_HOME with the header that owns it
        cached = list((tmp_path / "home" / "simulated").glob(f"{name}-*.json"))
        assert len(cached) == 1
        data = json.loads(cached[0].read_text())
        assert data["header"]["target_sha256"] == st.sha256
        assert data["header"]["zigzag_version"] == sim_engine.zigzag_version()
        _no_zigzag(monkeypatch)  # the second call reads the cache: identical, no simulation
        assert simulate_spec(spec, name, input_size=32, num_classes=10).cycles == res.cycles
        monkeypatch.undo()
        monkeypatch.setenv("MHZOO_HOME", str(tmp_path / "home"))


def test_shipped_tables_cover_the_zoo_and_the_multi_hardware_space(monkeypatch):
    from mhzoo.paper import TABLE1
    from mhzoo.search import get_space

    _no_zigzag(monkeypatch)
    widths = {r.model: r.width_multiplier for r in TABLE1}
    space = get_space("multi_hardware")
    rng = random.Random(7)
    specs = [space.decode(space.sample(rng)) for _ in range(50)]
    for name in ZOO:
        specs += [scale_spec(resolve_spec(name), w) for w in {1.0, widths.get(name, 1.0)}]
    from mhzoo.benchmarks.simulated import shipped_sim_targets

    assert set(SHIPPED) == set(shipped_sim_targets())  # a new shipped table joins SHIPPED here
    for target in SHIPPED:
        for spec in specs:
            r = simulate_spec(spec, target, compute=False)
            assert r.cycles > 0 and r.ms > 0


def test_fused_early_is_cheaper_on_the_edgetpu_like_target(monkeypatch):
    """Section 4 of the paper: the EdgeTPU prefers fused (regular conv) blocks early; a
    112 px stage-1 block, from the shipped tables."""
    _no_zigzag(monkeypatch)
    stem = scale_spec(resolve_spec("multi_max"), 1.0).blocks[0]

    def ms(fused: bool, target: str) -> float:
        spec = ArchSpec("b", (stem, InvertedBottleneck(32, 3, 2, expansion=4, fused=fused,
                                                       activation="relu")))
        layers = spec_layers(scale_spec(spec, 1.0, divisible_by=32), 224, None)
        return simulate_layers(layers, target, compute=False).ms

    for target in SHIPPED:
        assert ms(True, target) < ms(False, target)


def _copy_target(tmp_path, name="sim_npu"):
    src = get_sim_target(name).folder
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("name", SHIPPED)
def test_edited_target_files_refuse_the_table(tmp_path, monkeypatch, name):
    import re

    monkeypatch.setenv("MHZOO_HOME", str(tmp_path / "home"))
    folder = _copy_target(tmp_path, name)
    spec = scale_spec(resolve_spec("multi_max"), 1.0)
    st = load_sim_target(folder)
    base = simulate_spec(spec, st, compute=False).cycles  # the copied table still matches
    hw = folder / "hardware.yaml"
    text = hw.read_text()
    edited = re.sub(r"sizes: \[(\d+), (\d+)", lambda m: f"sizes: [{m[1]}, {int(m[2]) // 2}",
                    text, count=1)  # half the array's second dimension
    assert edited != text
    hw.write_text(edited)
    with pytest.raises(StaleTableError, match="target files"):
        simulate_spec(spec, load_sim_target(folder), compute=False)
    assert base > 0


def test_table_of_another_zigzag_version_is_refused(monkeypatch):
    monkeypatch.setattr(sim_engine, "zigzag_version", lambda: "0.0.1")
    with pytest.raises(StaleTableError, match="ZigZag version"):
        simulate_spec(scale_spec(resolve_spec("multi_max"), 1.0), "sim_edgetpu")


def test_per_kernel_mapping_entries():
    """sim_tpu packs floor(256 / k^2) depthwise channels per pass (mapping entries
    ``depthwise_k3`` ...): the engine asks for them; targets without them keep ``depthwise``."""
    dw3 = SimLayer("conv", 8, 8, 56, 56, 3, 1, 56, (1, 1, 1, 1))
    tpu, npu = get_sim_target("sim_tpu"), get_sim_target("sim_npu")
    tpu_entries = sim_engine.mapping_entries(str(tpu.mapping))
    assert {"depthwise_k3", "depthwise_k5", "depthwise_k7", "conv_k3"} <= tpu_entries
    assert sim_engine.mapping_entry(dw3, tpu_entries) == "depthwise_k3"
    assert sim_engine.mapping_entry(dw3, sim_engine.mapping_entries(str(npu.mapping))) \
        == "depthwise"
    assert sim_engine.zigzag_layer(dw3, tpu.precision, tpu_entries)["name"] == "depthwise_k3"
    # through ZigZag: 56 channels = 2 passes of 28 over the 64 output pixels (plus the array's
    # fill and drain), not the fallback entry's one channel and one tap at a time (~32,000)
    cycles = sim_engine.zigzag_cycles(dw3, str(tpu.hardware), str(tpu.mapping), tpu.precision,
                                      lpf_limit=tpu.lpf_limit(dw3))
    assert 2 * 64 <= cycles < 2_000


def test_search_depth_per_mapping_entry(tmp_path):
    """sim_tpu searches its depthwise layers at LOMA depth 3 (checked equal to the default
    search) and the rest at ZigZag's default 6; the setting is part of the table's hash."""
    tpu = get_sim_target("sim_tpu")
    conv5 = SimLayer("conv", 7, 7, 160, 480, 5, 1, 1, (2, 2, 2, 2))
    pw = SimLayer("conv", 7, 7, 160, 480, 1, 1, 1, (0, 0, 0, 0))
    dw5 = SimLayer("conv", 7, 7, 160, 160, 5, 1, 160, (2, 2, 2, 2))
    dw3 = SimLayer("conv", 7, 7, 160, 160, 3, 1, 160, (1, 1, 1, 1))
    assert [tpu.lpf_limit(lay) for lay in (conv5, pw, dw5, dw3)] == [6, 6, 3, 3]
    assert get_sim_target("sim_npu").lpf_limit(conv5) == 3  # no per-entry setting there
    folder = _copy_target(tmp_path, "sim_tpu")
    meta = json.loads((folder / "target.json").read_text())
    meta["engine"]["lpf_limit_by_entry"] = {}
    (folder / "target.json").write_text(json.dumps(meta))
    edited = load_sim_target(folder)
    assert edited.lpf_limit(dw5) == 6 and edited.sha256 != tpu.sha256


def test_depthwise_is_slow_per_mac_on_the_big_systolic_array(monkeypatch):
    """sim_tpu: a depthwise conv uses ~0.4 % of the 256 x 256 array, a wide 1x1 conv most of it;
    a 5x5 depthwise costs about the same per MAC as a 3x3 one (from the shipped table)."""
    _no_zigzag(monkeypatch)
    dw3 = SimLayer("conv", 56, 56, 160, 160, 3, 1, 160, (1, 1, 1, 1))
    dw5 = SimLayer("conv", 56, 56, 160, 160, 5, 1, 160, (2, 2, 2, 2))
    pw = SimLayer("conv", 14, 14, 320, 192, 1, 1, 1, (0, 0, 0, 0))
    per_mac = {lay.key: simulate_layers([lay], "sim_tpu", compute=False).cycles / lay.macs
               for lay in (dw3, dw5, pw)}
    assert per_mac[dw3.key] > 20 * per_mac[pw.key]
    assert 0.7 < per_mac[dw5.key] / per_mac[dw3.key] < 1.1


def test_layer_types_the_simulator_cannot_cost():
    with pytest.raises(UnsupportedLayerError, match="cannot be costed"):
        SimLayer("lstm", 7, 7, 8, 8)
    with pytest.raises(UnsupportedLayerError):
        sim_engine.zigzag_layer(SimLayer("add", 7, 7, 8, 8), {"W": 8, "I": 8, "O": 16,
                                                              "O_final": 8})


# ------------------------------------------------------------------ the harness and the CLI

def _rows(result) -> list[dict]:
    return json.loads(result.stdout)


def test_bench_multi_max_and_v3_large_on_sim_edgetpu(cli, tmp_path, monkeypatch):
    """Acceptance: a latency for Multi-MAX, x for MobileNetV3 Large (Table 1), twice the
    same, without timing anything."""
    _no_zigzag(monkeypatch)
    db = tmp_path / "r.sqlite"
    runs = []
    for _ in range(2):
        r = cli("bench", "multi_max", "mobilenet_v3_large", "--targets", "sim_edgetpu", "--db",
                db, "--json", "--force")
        assert r.exit_code == 0, r.output
        runs.append(_rows(r))
    for rows in runs:
        by = {row["model"]: row for row in rows}
        assert by["multi_max"]["median_ms"] > 0 and by["multi_max"]["simulated"]
        assert by["multi_max"]["source"] == "simulated:zigzag"
        assert by["mobilenet_v3_large"]["median_ms"] is None
        assert by["mobilenet_v3_large"]["supported"] is False
    assert [r["median_ms"] for r in runs[0]] == [r["median_ms"] for r in runs[1]]
    spec = scale_spec(resolve_spec("multi_max"), 1.0)
    assert runs[0][0]["median_ms"] == simulate_spec(spec, "sim_edgetpu").ms
    text = cli("bench", "multi_max", "mobilenet_v3_large", "--targets", "sim_edgetpu",
               "--db", db)
    assert "simulated" in text.stdout and "×" in text.stdout
    rep = cli("report", "--db", db, "--targets", "sim_edgetpu",
              "--norm-factors", "sim_edgetpu=1")
    assert rep.exit_code == 0, rep.output
    assert "sim_edgetpu (ms, simulated)" in rep.stdout and "simulated, not measured" in rep.stdout


def test_measure_spec_on_a_simulated_target(tmp_path, monkeypatch):
    from mhzoo.benchmarks import LatencyStore, measure_spec

    spec = scale_spec(resolve_spec("multi_avg"), 1.0)
    with LatencyStore(tmp_path / "m.sqlite") as store:
        rec, cached = measure_spec(spec, "sim_npu", store)
        assert not cached and rec.supported and rec.source == "simulated:zigzag"
        assert rec.median_ms == simulate_spec(spec, "sim_npu").ms
        assert measure_spec(spec, "sim_npu", store).cached
        # a row made with another ZigZag is simulated again, not reused
        monkeypatch.setattr(sim_engine, "zigzag_version", lambda: "9.9.9")
        monkeypatch.setattr("mhzoo.benchmarks.simulated.lut.LookupTable.load",
                            classmethod(lambda cls, p, e: cls(p, e, json.loads(
                                p.read_text())["entries"])))
        again = measure_spec(spec, "sim_npu", store)
        assert not again.cached and again.record.info["zigzag_version"] == "9.9.9"


def test_bad_inputs_one_line_exit_2(cli, tmp_path, tiny_int8_tflite, monkeypatch):
    r = cli("bench", "multi_max", "--targets", "sim_tpu9", "--db", tmp_path / "a.sqlite")
    assert r.exit_code == 2 and "unknown simulated target 'sim_tpu9'" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = cli("bench", str(tiny_int8_tflite), "--targets", "sim_edgetpu", "--db",
            tmp_path / "a.sqlite")
    assert r.exit_code == 2 and "cannot read a .tflite graph" in r.output
    assert len(r.output.strip().splitlines()) == 1
    monkeypatch.setattr(sim_engine, "zigzag_version", lambda: "0.0.1")
    r = cli("bench", "multi_max", "--targets", "sim_edgetpu", "--db", tmp_path / "a.sqlite")
    assert r.exit_code == 2 and "ZigZag version 3.9.1, not 0.0.1" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_cli_refuses_a_table_of_edited_target_files(cli, tmp_path, monkeypatch):
    from mhzoo.benchmarks import simulated as S
    from mhzoo.benchmarks import targets as T

    folder = _copy_target(tmp_path, "sim_edgetpu")
    mp = folder / "mapping.yaml"
    mp.write_text(mp.read_text().replace("- G, 8", "- G, 4"))
    monkeypatch.setitem(S._SIM, "sim_edgetpu", S.load_sim_target(folder))
    r = cli("bench", "multi_max", "--targets", "sim_edgetpu", "--db", tmp_path / "a.sqlite")
    assert r.exit_code == 2 and "target files sha256" in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert T.get_target("sim_edgetpu").is_simulated


def test_uncostable_block_in_a_spec_is_one_line(cli, tmp_path, monkeypatch):
    import mhzoo.benchmarks.simulated as S

    def refuse(spec, *a, **k):
        raise UnsupportedLayerError(f"{spec.name}: block 3 (Transformer) is a layer type the "
                                    "simulator cannot cost")

    monkeypatch.setattr(S, "spec_layers", refuse)
    r = cli("bench", "multi_max", "--targets", "sim_npu", "--db", tmp_path / "a.sqlite")
    assert r.exit_code == 2 and "cannot cost" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_quickstart_simulated_columns_and_table1_widths(cli, tmp_path, monkeypatch):
    _no_zigzag(monkeypatch)
    out = tmp_path / "qs"
    r = cli("quickstart", "-o", out, "--models", "multi_max,mobilenet_v3_large,mobilenet_v1",
            "--targets", ",".join(SHIPPED), "--block-model", "none", "--no-progress")
    assert r.exit_code == 0, r.output
    rows = json.loads((out / "table.json").read_text())
    labels = [(x["model"], x["width_multiplier"]) for x in rows]
    assert labels == [("multi_max", 1.0), ("mobilenet_v3_large", 1.0), ("mobilenet_v1", 1.0),
                      ("mobilenet_v1", 1.25)]  # each at its Table-1 width too
    by = {lab: x for lab, x in zip(labels, rows, strict=True)}
    assert by[("mobilenet_v1", 1.25)]["top1_accuracy_pct"] == 75.1  # Table 1 accuracy
    v3 = by[("mobilenet_v3_large", 1.0)]
    assert v3["sim_edgetpu_ms"] is None and v3["mn_norm_max"] is None  # x on the Edge TPU
    assert v3["sim_npu_ms"] > 0 and all(x["simulated_targets"] == list(SHIPPED) for x in rows)
    md = (out / "table.md").read_text()
    assert all(f"{t} (ms, simulated)" in md for t in SHIPPED) and "×" in md
    assert not list((out / "models").glob("*.tflite"))  # nothing exported for sim targets


def test_cpu_int8_ref_runs_tflite_builtin_kernels(tiny_int8_tflite, tmp_path):
    """The second CPU kernel library for int8 (TFLite built-in kernels, no XNNPACK)."""
    from mhzoo.benchmarks import LatencyStore, bench
    from mhzoo.benchmarks.runner import RunConfig

    cfg = RunConfig(warmup_runs=1, warmup_min_s=0, min_runs=3, min_time_s=0, max_time_s=0.2)
    with LatencyStore(tmp_path / "r.sqlite") as store:
        res = bench([str(tiny_int8_tflite)], "cpu_int8_ref", db=store, config=cfg,
                    progress=False)
    rec = res[0].record
    assert rec.median_ms > 0 and rec.info["delegate"] == "none" and rec.target == "cpu_int8_ref"
