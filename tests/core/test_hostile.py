"""Hostile input over the command line: every case fails fast with exit code 2 and one
``Error:`` line, never a traceback or a crash, and leaves nothing behind (no output, no hidden
temporary, no table added to somebody else's database).

Each case runs ``mhzoo`` in a fresh process, in an empty working directory of its own; the
inputs live in a separate folder that must come out unchanged. Every case is refused before
TensorFlow does any work (about a second each); the processes run three at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

CLI = [sys.executable, "-c", "from mhzoo.cli import main; main()"]


# ----------------------------------------------------------------------------- inputs
def _tflite(mutate=None) -> bytes:
    """A valid one-ADD TFLite model (built with the flatbuffer object API), optionally
    damaged by ``mutate(model)`` before it is packed."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT()
    m.version = 3
    oc = S.OperatorCodeT()
    oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = S.BuiltinOperator.ADD, 0, 1
    m.operatorCodes = [oc]
    tensors = []
    for name, buf in (("x", 1), ("w", 2), ("y", 3)):
        t = S.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 4], S.TensorType.FLOAT32, buf, name
        tensors.append(t)
    op = S.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = tensors, [0], [2], [op], "main"
    m.subgraphs = [sg]
    m.buffers = [S.BufferT() for _ in range(4)]
    m.buffers[2].data = np.arange(4, dtype=np.float32).tobytes()
    if mutate is not None:
        mutate(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _set(path: str, value):
    def mutate(m):
        obj = m
        *parts, last = path.split(".")
        for part in parts:
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        if last.isdigit():
            obj[int(last)] = value
        else:
            setattr(obj, last, value)
    return mutate


def _spec(*blocks, **fields) -> str:
    return json.dumps({"name": "hostile", "blocks": list(blocks), **fields})


STEM = "conv_k3_s2_c16_relu"

SPECS = {
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "deep_object.json": '{"name": "x", "blocks": ' + "[" * 40 + "]" * 40 + "}",
    "bigint.json": '{"name": "x", "blocks": [{"type": "conv", "filters": 1' + "0" * 300 + "}]}",
    "hugeint.json": '{"name": "x", "blocks": [{"type": "conv", "filters": 1' + "0" * 5000 + "}]}",
    "bigexp.json": _spec(STEM, {"type": "ib", "filters": 16, "expansion": 10 ** 300}),
    "inf.json": _spec(STEM)[:-1] + ', "bn_epsilon": 1e999}',
    "nan.json": _spec(STEM)[:-1] + ', "bn_momentum": NaN}',
    "kernel.json": _spec("conv_k99_s2_c16_relu"),
    "even_kernel.json": _spec("conv_k4_s2_c16_relu"),
    "stride.json": _spec("conv_k3_s7_c16_relu"),
    "filters.json": _spec("conv_k3_s2_c100000_relu"),
    "expansion.json": _spec(STEM, "ib_k3_s1_e1000_c16_relu"),
    "many_blocks.json": _spec(STEM, *["ds_k3_s1_c16_relu"] * 600),
    "bad_name.json": json.dumps({"name": "../../etc/passwd", "blocks": [STEM]}),
    "long_block.json": _spec("conv_" + "k3_" * 500 + "c16_relu"),
    "not_object.json": "[1, 2, 3]",
    "empty.json": "",
    "absurd_combo.json": _spec("conv_k3_s1_c16384_relu"),
}


def make_inputs(d: Path) -> None:
    """Write every hostile input file into folder ``d``."""
    for name, text in SPECS.items():
        (d / name).write_text(text)
    (d / "not_utf8.json").write_bytes(b'{"name": "\xff\xfe\xfa"}')
    (d / "random.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "too_big.json").write_text(" " * (5 << 20) + "{}")
    (d / "folder.json").mkdir()
    (d / "labels_binary.txt").write_bytes(b"\xff\xfe\x00\x01" * 64)
    # TFLite files: one valid, the others parse as TFL3 but are damaged inside
    (d / "ok.tflite").write_bytes(_tflite())
    damaged = {
        "buffer_out_of_range": _set("subgraphs.0.tensors.1.buffer", 99),
        "input_out_of_range": _set("subgraphs.0.operators.0.inputs", [0, 99]),
        "output_out_of_range": _set("subgraphs.0.outputs", [42]),
        "opcode_out_of_range": _set("subgraphs.0.operators.0.opcodeIndex", 3),
        "unknown_builtin": _set("operatorCodes.0.builtinCode", 9999),
        "no_subgraph": _set("subgraphs", []),
        "no_operators": _set("subgraphs.0.operators", []),
        "short_constant": _set("buffers.2.data", b"\x00" * 8),
    }
    for name, mutate in damaged.items():
        (d / f"{name}.tflite").write_bytes(_tflite(mutate))
    good = _tflite()
    (d / "truncated.tflite").write_bytes(good[: len(good) // 2])
    (d / "garbage_body.tflite").write_bytes(good[:8] + np.random.default_rng(1).bytes(2000))
    (d / "header_only.tflite").write_bytes(good[:8])
    (d / "empty.tflite").write_bytes(b"")
    # databases
    with sqlite3.connect(d / "unrelated.sqlite") as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers (name) VALUES ('ada')")
    db.close()
    (d / "not_a_db.sqlite").write_text("just text, not SQLite\n" * 100)
    (d / "latencies.csv").write_bytes(b"\x00\xff" * 300)
    (d / "deep_config").mkdir()
    (d / "deep_config" / "model.safetensors").write_bytes(b"x")
    (d / "deep_config" / "config.json").write_text("[" * 50_000 + "]" * 50_000)
    (d / "existing_file").write_text("keep me")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile_inputs")
    make_inputs(d)
    return d


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as con:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    return names


CASES = {
    # info: bad specs and numbers (pure Python, never builds)
    "info-deep-json": ["info", "{in}/deep.json"],
    "info-deep-object": ["info", "{in}/deep_object.json"],
    "info-300-digit-int": ["info", "{in}/bigint.json"],
    "info-5000-digit-int": ["info", "{in}/hugeint.json"],
    "info-300-digit-expansion": ["info", "{in}/bigexp.json"],
    "info-inf-number": ["info", "{in}/inf.json"],
    "info-nan-token": ["info", "{in}/nan.json"],
    "info-kernel-99": ["info", "{in}/kernel.json"],
    "info-even-kernel": ["info", "{in}/even_kernel.json"],
    "info-stride-7": ["info", "{in}/stride.json"],
    "info-100k-filters": ["info", "{in}/filters.json"],
    "info-expansion-1000": ["info", "{in}/expansion.json"],
    "info-600-blocks": ["info", "{in}/many_blocks.json"],
    "info-path-name": ["info", "{in}/bad_name.json"],
    "info-long-block-string": ["info", "{in}/long_block.json"],
    "info-not-object": ["info", "{in}/not_object.json"],
    "info-empty-file": ["info", "{in}/empty.json"],
    "info-not-utf8": ["info", "{in}/not_utf8.json"],
    "info-5mb-file": ["info", "{in}/too_big.json"],
    "info-folder-as-spec": ["info", "{in}/folder.json"],
    "info-dev-zero": ["info", "/dev/zero.json"],
    "info-absurd-combo": ["info", "{in}/absurd_combo.json", "--input-size", "4096"],
    "info-width-1e308": ["info", "multi_max", "--width", "1e308"],
    "info-width-9": ["info", "multi_max", "--width", "9"],
    "info-width-inf": ["info", "multi_max", "--width", "inf"],
    "info-width-underflow": ["info", "multi_max", "--width", "1e-400"],
    "info-input-100000": ["info", "multi_max", "--input-size", "100000"],
    "info-input-30-digits": ["info", "multi_max", "--input-size", "9" * 30],
    "info-divisible-by-1e6": ["info", "multi_max", "--divisible-by", "1000000"],
    # export: refused before TensorFlow loads, nothing written
    "export-width-100": ["export", "multi_max", "--quant", "float32", "--width", "100",
                         "-o", "m.tflite"],
    "export-width-nan": ["export", "multi_max", "--quant", "float32", "--width", "nan",
                         "-o", "m.tflite"],
    "export-input-5000": ["export", "multi_max", "--quant", "float32", "--input-size", "5000",
                          "-o", "m.tflite"],
    "export-classes-1e9": ["export", "multi_max", "--quant", "float32", "--num-classes",
                           "1000000000", "-o", "m.tflite"],
    "export-classes-0": ["export", "multi_max", "--quant", "float32", "--num-classes", "0",
                         "-o", "m.tflite"],
    "export-bad-quant": ["export", "multi_max", "--quant", "int3", "-o", "m.tflite"],
    "export-missing-folder": ["export", "multi_max", "--quant", "float32",
                              "-o", "no/such/m.tflite"],
    "export-output-is-folder": ["export", "multi_max", "--quant", "float32",
                                "-o", "{in}/folder.json"],
    "export-kernel-99": ["export", "{in}/kernel.json", "--quant", "float32", "-o", "m.tflite"],
    "export-absurd-combo": ["export", "{in}/absurd_combo.json", "--quant", "float32",
                            "--input-size", "4096", "-o", "m.tflite"],
    "export-width-8-at-4096": ["export", "multi_max", "--quant", "float32", "--width", "8",
                               "--input-size", "4096", "-o", "m.tflite"],
    "export-deep-spec": ["export", "{in}/deep.json", "--quant", "float32", "-o", "m.tflite"],
    "export-missing-calib": ["export", "multi_max", "--quant", "int8", "--calib", "no_images",
                             "-o", "m.tflite"],
    "export-binary-labels": ["export", "multi_max", "--quant", "float32",
                             "--labels", "{in}/labels_binary.txt", "-o", "m.tflite"],
    # inspect: files that are not (whole) TFLite models
    "inspect-missing": ["inspect", "no.tflite"],
    "inspect-folder": ["inspect", "{in}/folder.json"],
    "inspect-empty": ["inspect", "{in}/empty.tflite"],
    "inspect-random": ["inspect", "{in}/random.bin"],
    "inspect-header-only": ["inspect", "{in}/header_only.tflite"],
    "inspect-truncated": ["inspect", "{in}/truncated.tflite"],
    "inspect-garbage-body": ["inspect", "{in}/garbage_body.tflite"],
    **{f"inspect-{n.replace('_', '-')}": ["inspect", f"{{in}}/{n}.tflite"] for n in (
        "buffer_out_of_range", "input_out_of_range", "output_out_of_range",
        "opcode_out_of_range", "unknown_builtin", "no_subgraph", "no_operators",
        "short_constant")},
    # bench: bad models, numbers and databases, refused before measuring
    "bench-unrelated-db": ["bench", "multi_max", "--targets", "cpu_fp32",
                           "--db", "{in}/unrelated.sqlite"],
    "bench-text-as-db": ["bench", "multi_max", "--targets", "cpu_fp32",
                         "--db", "{in}/not_a_db.sqlite"],
    "bench-db-missing-folder": ["bench", "multi_max", "--targets", "cpu_fp32",
                                "--db", "no/such/r.sqlite"],
    "bench-width-100": ["bench", "multi_max@100", "--targets", "cpu_fp32", "--db", "r.sqlite"],
    "bench-width-nan": ["bench", "multi_max@nan", "--targets", "cpu_fp32", "--db", "r.sqlite"],
    "bench-input-10000": ["bench", "multi_max", "--input-size", "10000", "--db", "r.sqlite"],
    "bench-min-runs-negative": ["bench", "multi_max", "--min-runs", "-1", "--db", "r.sqlite"],
    "bench-max-time-nan": ["bench", "multi_max", "--max-time", "nan", "--db", "r.sqlite"],
    "bench-unknown-target": ["bench", "multi_max", "--targets", "tpu9", "--db", "r.sqlite"],
    "bench-missing-tflite": ["bench", "nothing.tflite", "--targets", "cpu_fp32",
                             "--db", "r.sqlite"],
    "bench-absurd-spec": ["bench", "{in}/absurd_combo.json", "--targets", "cpu_fp32",
                          "--input-size", "4096", "--db", "r.sqlite"],
    "bench-deep-spec": ["bench", "{in}/deep.json", "--targets", "cpu_fp32", "--db", "r.sqlite"],
    # quickstart: refused before its output folder is made
    "quickstart-input-10": ["quickstart", "--input-size", "10", "-o", "qs"],
    "quickstart-width-100": ["quickstart", "--width", "100", "-o", "qs"],
    "quickstart-bad-target": ["quickstart", "--targets", "gpu", "-o", "qs"],
    "quickstart-min-time-nan": ["quickstart", "--min-time", "nan", "-o", "qs"],
    # report
    "report-unrelated-db": ["report", "--db", "{in}/unrelated.sqlite"],
    "report-text-as-db": ["report", "--db", "{in}/not_a_db.sqlite"],
    "report-binary-csv": ["report", "--latencies", "{in}/latencies.csv"],
    "report-nan-factor": ["report", "--dataset", "paper-pixel4", "--norm-factors",
                          "cpu_float=nan,cpu_uint8=1,gpu=1,dsp=1,edgetpu=1"],
    "report-inf-factor": ["report", "--dataset", "paper-pixel4", "--norm-factors",
                          "cpu_float=1e999,cpu_uint8=1,gpu=1,dsp=1,edgetpu=1"],
    "report-missing-folder": ["report", "--dataset", "paper-pixel4", "-o", "no/such/t.md"],
    "report-plot-not-png": ["report", "--dataset", "paper-pixel4", "--plot", "fig.txt"],
    # convert
    "convert-missing-src": ["convert", "--from", "keras", "missing.h5", "--model",
                            "mobilenet_v3_large", "-o", "out"],
    "convert-width-nan": ["convert", "--from", "keras", "missing.h5", "--width", "nan",
                          "-o", "out"],
    "convert-classes-0": ["convert", "--from", "keras", "missing.h5", "--num-classes", "0",
                          "-o", "out"],
    "convert-output-is-file": ["convert", "--from", "keras", "missing.h5", "--model",
                               "mobilenet_v3_large", "-o", "{in}/existing_file"],
    "convert-deep-config": ["convert", "--from", "timm", "{in}/deep_config", "-o", "out"],
    "convert-tflite-garbage": ["convert", "--from", "tflite", "{in}/garbage_body.tflite",
                               "--model", "multi_avg", "-o", "out"],
    "convert-tflite-no-conv": ["convert", "--from", "tflite", "{in}/ok.tflite", "--model",
                               "multi_avg", "-o", "out"],
    # fetch (run offline: nothing is cached)
    "fetch-unknown-tag": ["fetch", "multi_avg_100.nope", "-o", "m.tflite"],
    "fetch-not-a-url-tag": ["fetch", "mobilenet_v2_100.keras_in1k", "-o", "m.tflite"],
    "fetch-offline-uncached": ["fetch", "multi_avg_100.tfm_qat_in1k", "-o", "m.tflite"],
    "fetch-seg-offline-uncached": ["fetch", "multi_avg_seg_100.tfm_in1k", "-o", "seg"],
}


def run_case(args: list[str], inputs: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``mhzoo ARGS`` (``{in}`` = the inputs folder) in ``cwd``, isolated from the user's
    cache and the network."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MHZOO_HOME": str(cwd.parent / f".home-{cwd.name}"),
           "HF_HUB_OFFLINE": "1"}
    env.pop("MHZOO_DEBUG", None)
    argv = [a.replace("{in}", str(inputs)) for a in args]
    return subprocess.run([*CLI, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def hostile_runs(inputs, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    """Every case run once (three processes at a time): ``{case: (process, what it left in
    its working directory)}``; the inputs are checked unchanged afterwards."""
    root = tmp_path_factory.mktemp("hostile_cwd")
    before, tables = _snapshot(inputs), _tables(inputs / "unrelated.sqlite")

    def one(item: tuple[str, list[str]]) -> tuple[str, tuple[subprocess.CompletedProcess, dict]]:
        name, args = item
        proc = run_case(args, inputs, root / name)
        return name, (proc, _snapshot(root / name))

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pool.map(one, CASES.items()))
    assert _snapshot(inputs) == before, "inputs are unchanged, no temporaries left beside them"
    assert _tables(inputs / "unrelated.sqlite") == tables, "no table added to a foreign database"
    return results


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_cli_input_is_one_line_exit_2_and_leaves_nothing(case, hostile_runs):
    proc, left = hostile_runs[case]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    assert len(lines[0]) <= 700
    assert left == {}, "nothing is created in the working directory"


def test_the_valid_control_model_inspects(inputs):
    """The damaged files above differ from a model that inspects fine."""
    proc = subprocess.run([*CLI, "inspect", str(inputs / "ok.tflite"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [o["op"] for o in json.loads(proc.stdout)["ops"]] == ["ADD"]


def test_damage_messages_name_the_problem(inputs):
    from mhzoo.export.inspect import inspect_tflite

    expect = {"buffer_out_of_range": "buffer 99 out of range",
              "input_out_of_range": "input tensor 99 out of range",
              "opcode_out_of_range": "operator code 3 out of range",
              "unknown_builtin": "unknown builtin operator 9999",
              "no_subgraph": "no subgraph", "short_constant": "holds 8 bytes"}
    for name, text in expect.items():
        with pytest.raises(ValueError, match=text):
            inspect_tflite(inputs / f"{name}.tflite")


# ----------------------------------------------------------------------------- Python API
@pytest.mark.parametrize(("make", "match"), [
    (lambda s: s.InvertedBottleneck(16, expansion=10 ** 400), "expansion"),
    (lambda s: s.InvertedBottleneck(16, expansion_filters=10 ** 400), "expansion_filters"),
    (lambda s: s.Conv(10 ** 400), "filters must be at most"),
    (lambda s: s.Conv(16, kernel=2), "odd"),
    (lambda s: s.Conv(16, stride=3), "stride"),
    (lambda s: s.DepthwiseSeparable(16, kernel=17), "at most 15"),
    (lambda s: s.ArchSpec("x", (s.Conv(16),), bn_epsilon=float("inf")), "bn_epsilon"),
    (lambda s: s.ArchSpec("x", (s.Conv(16),), divisible_by=10 ** 400), "divisible_by"),
    (lambda s: s.ArchSpec("a/b", (s.Conv(16),)), "name"),
    (lambda s: s.ArchSpec.from_json("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (lambda s: s.ArchSpec.from_json(b"\xff\xfe"), "malformed"),
    (lambda s: s.ArchSpec.from_json(12), "must be text"),
    (lambda s: s.parse_block("conv_k3_s2_c1" + "0" * 5000), "too long"),
])
def test_spec_bounds_are_value_errors(make, match):
    import mhzoo.spec

    with pytest.raises(ValueError, match=match):
        make(mhzoo.spec)


@pytest.mark.parametrize(("width", "size", "classes", "match"), [
    (1.0, 5000, 1000, "between"),
    (1.0, 224, 10 ** 7, "num_classes"),
    (8.0, 4096, 1000, "multiply-adds"),
    (8.0, 224, 100_000, "weights"),
])
def test_check_spec_bounds_refuses_absurd_combinations(width, size, classes, match):
    from mhzoo.bounds import check_spec_bounds
    from mhzoo.builder import resolve_spec
    from mhzoo.widths import scale_spec

    spec = scale_spec(resolve_spec("multi_max"), width)
    with pytest.raises(ValueError, match=match):
        check_spec_bounds(spec, (size, size, 3), num_classes=classes)


def test_check_spec_bounds_accepts_every_registered_model():
    import mhzoo
    from mhzoo.bounds import check_spec_bounds
    from mhzoo.builder import resolve_spec
    from mhzoo.widths import scale_spec

    for name in mhzoo.list_models():
        for width, size in ((0.35, 32), (1.0, 224), (1.4, 1024), (2.0, 512)):
            check_spec_bounds(scale_spec(resolve_spec(name), width), (size, size, 3))
        check_spec_bounds(scale_spec(resolve_spec(name), 1.0), (None, None, 3))


def test_activation_bound(tmp_path):
    from mhzoo.bounds import check_spec_bounds
    from mhzoo.spec import ArchSpec

    spec = ArchSpec.from_dict({"name": "wide", "blocks": ["conv_k1_s1_c16384_relu", "pool"]})
    with pytest.raises(ValueError, match="activation"):
        check_spec_bounds(spec, (256, 256, 3), num_classes=None)


def test_user_message_maps_low_level_failures_to_one_line():
    from mhzoo.cli import user_message

    exhausted = type("ResourceExhaustedError", (Exception,),
                     {"__module__": "tensorflow.python.framework.errors_impl"})
    cases = {
        RecursionError("maximum recursion depth exceeded"): "nested too deeply",
        OverflowError("int too large to convert to float"): "too large",
        MemoryError(): "out of memory",
        sqlite3.DatabaseError("file is not a database"): "database cannot be used",
        OSError(28, "No space left on device", "out.tflite"): "No space left on device: out",
        exhausted("OOM when allocating tensor\nwith shape [1, 4096, 4096, 16384]"):
            "ran out of memory: OOM when allocating tensor",
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"): "not valid text",
        ValueError("plain user error"): "plain user error",
    }
    for exc, text in cases.items():
        msg = user_message(exc)
        assert msg is not None and text in msg, (exc, msg)
    assert user_message(TypeError("a bug")) is None
    assert user_message(type("ResourceExhaustedError", (Exception,), {})("not TF")) is None
