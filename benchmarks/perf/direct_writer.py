"""Direct .tflite writer vs the TF converter: write time and latency ratio, side by side.

For every registry classifier and ``--samples`` random specs (registry specs perturbed:
kernel 3/5, expansion, widths in multiples of 8 or 32, depth), in float32 (cpu_fp32) and
int8_full (cpu_int8):

* (a) the time to write the direct file vs the converter's (``mhzoo.build`` + the harness's
  ``export_tflite``);
* (b) the latency ratio direct / converter, measured in interleaved rounds with
  ``benchmarks.runner.measure_tflite`` (one thread), the ratio of the per-file medians over
  rounds; and the structure check (``compare_structure``) of each pair.

Writes ``benchmarks/perf/results/direct_writer.md``::

    python benchmarks/perf/direct_writer.py --samples 50 --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_note

TARGETS = {"float32": "cpu_fp32", "int8_full": "cpu_int8"}


def random_spec(rng: np.random.Generator, index: int):
    """A valid spec near a registry classifier: per inverted bottleneck a kernel of 3 or 5, an
    expansion of 1, 3, 4 or 6 (absolute, from the input width), output widths scaled by
    0.75-1.25 and rounded to 8 or 32, and some stride-1 blocks dropped."""
    import mhzoo
    from mhzoo.registry import get_spec
    from mhzoo.spec import ArchSpec, InvertedBottleneck
    from mhzoo.widths import make_divisible, scale_spec

    names = [n for n in mhzoo.list_models(kind="classifier") if n != "mobilenet_v1"]
    base = scale_spec(get_spec(names[int(rng.integers(len(names)))]), 1.0)
    div = int(rng.choice([8, 32]))
    blocks, cin = [], None
    for b in base.blocks:
        if isinstance(b, InvertedBottleneck):
            if b.stride == 1 and b.residual and rng.random() < 0.2:
                continue  # depth: skip this layer (input and output widths agree)
            filters = max(div, make_divisible(b.filters * rng.choice([0.75, 1.0, 1.25]), div))
            e = float(rng.choice([1, 3, 4, 6]))
            exp = None if e == 1 and not b.fused else make_divisible(cin * max(e, 1), div)
            b = dataclasses.replace(b, kernel=int(rng.choice([3, 5])), filters=filters,
                                    expansion=1.0, expansion_filters=exp)
        if hasattr(b, "filters"):
            cin = b.filters
        blocks.append(b)
    return ArchSpec(name=f"random_{index}", blocks=tuple(blocks), divisible_by=div)


def converter_file(spec, quant: str, size: int, path: Path) -> float:
    """Export ``spec`` as the harness does; returns the seconds it took."""
    import mhzoo
    from mhzoo.benchmarks.exporting import captured_output, export_tflite

    t0 = time.perf_counter()
    with captured_output():
        model = mhzoo.build(spec, input_shape=(size, size, 3), batch_size=1)
    export_tflite(model, path, quant)
    seconds = time.perf_counter() - t0
    from mhzoo.builder import get_keras

    get_keras("keras").backend.clear_session()
    return seconds


def side_by_side(a: Path, b: Path, target: str, rounds: int) -> tuple[float, float]:
    """Median latency of ``a`` and ``b`` over ``rounds`` interleaved measurements."""
    from mhzoo.benchmarks.runner import RunConfig, measure_tflite

    cfg = RunConfig(warmup_runs=3, warmup_min_s=0.1, min_runs=10, min_time_s=0.3,
                    max_time_s=1.5)
    ma, mb = [], []
    for r in range(rounds):
        order = (a, b) if r % 2 == 0 else (b, a)
        for p in order:
            med = measure_tflite(p, target, config=cfg).median_ms
            (ma if p == a else mb).append(med)
    return statistics.median(ma), statistics.median(mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="", help="comma-separated registry models (default all)")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parent / "results" / "direct_writer.md")
    args = ap.parse_args()

    import mhzoo
    from mhzoo.atomic import atomic_write_bytes
    from mhzoo.benchmarks.runner import machine_info
    from mhzoo.export.direct import compare_structure, describe_structure, spec_to_tflite_bytes
    from mhzoo.registry import get_spec

    names = args.models.split(",") if args.models else mhzoo.list_models(kind="classifier")
    rng = np.random.default_rng(args.seed)
    cases = [(n, get_spec(n)) for n in names]
    cases += [(f"random_{i}", random_spec(rng, i)) for i in range(args.samples)]
    rows = []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for label, spec in cases:
            for quant, target in TARGETS.items():
                conv_path = root / f"{label}_{quant}_conv.tflite"
                conv_s = converter_file(spec, quant, args.size, conv_path)
                writes = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    data = spec_to_tflite_bytes(spec, quant=quant, input_size=args.size)
                    writes.append(time.perf_counter() - t0)
                direct_path = root / f"{label}_{quant}_direct.tflite"
                direct_path.write_bytes(data)
                diffs = compare_structure(conv_path.read_bytes(), data)
                lat_d, lat_c = side_by_side(direct_path, conv_path, target, args.rounds)
                row = {"model": label, "quant": quant, "target": target, "conv_s": conv_s,
                       "write_s": statistics.median(writes), "direct_ms": lat_d,
                       "conv_ms": lat_c, "ratio": lat_d / lat_c, "diffs": len(diffs),
                       "ops": len(describe_structure(data)["ops"])}
                rows.append(row)
                print(f"{label:34s} {target:8s} write {row['write_s'] * 1e3:6.1f} ms  conv "
                      f"{conv_s:5.1f} s  {lat_d:8.2f} / {lat_c:8.2f} ms  ratio "
                      f"{row['ratio']:.3f}  diffs {len(diffs)}", flush=True)
                conv_path.unlink()
                direct_path.unlink()
            # the report so far, after each model (a long run that is stopped keeps its rows)
            wall = time.perf_counter() - t_start
            atomic_write_bytes(args.out, report(rows, args, machine_info(), wall).encode())
    print(f"wrote {args.out}")


def report(rows: list[dict], args: argparse.Namespace, minfo: dict, wall: float) -> str:
    def summary(sel: list[dict]) -> str:
        r = [x["ratio"] for x in sel]
        inside = sum(0.98 <= x <= 1.02 for x in r)
        return (f"{len(sel)} | {statistics.median(r):.4f} | {min(r):.3f} - {max(r):.3f} | "
                f"{inside}/{len(sel)} | {sum(x['diffs'] == 0 for x in sel)}/{len(sel)} | "
                f"{statistics.median(x['write_s'] for x in sel) * 1e3:.1f} ms | "
                f"{max(x['write_s'] for x in sel) * 1e3:.1f} ms | "
                f"{statistics.median(x['conv_s'] for x in sel):.1f} s")

    lines = [
        "# Direct .tflite writer vs the TF converter",
        "",
        f"Command: `python benchmarks/perf/direct_writer.py --samples {args.samples} "
        f"--rounds {args.rounds} --size {args.size}` ({wall / 60:.1f} min).",
        f"Machine: {minfo['cpu_model']}, {minfo['cpus_allowed']} CPUs allowed, "
        f"{minfo['os']}, Python {minfo['python']}, LiteRT {minfo['runtime_version']}; "
        f"{load_note()}.",
        "",
        "Latency: `measure_tflite` (1 thread, XNNPACK, pinned), direct and converter files "
        f"measured alternately, {args.rounds} rounds each (0.3-1.5 s per measurement); ratio = "
        "median over rounds of the direct file / the same for the converter's. Write time: "
        "`spec_to_tflite_bytes` (median of 3); converter time: `mhzoo.build` + the harness's "
        "`export_tflite` (TF converter, int8 calibration on 4 images, fidelity on 1).",
        "",
        "| set | target | n | median ratio | range | within 0.98-1.02 | structure equal | "
        "median write | max write | median converter |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for set_name, pred in (("registry", lambda x: not x["model"].startswith("random_")),
                           ("random", lambda x: x["model"].startswith("random_"))):
        for target in TARGETS.values():
            sel = [x for x in rows if pred(x) and x["target"] == target]
            if sel:
                lines.append(f"| {set_name} | {target} | {summary(sel)} |")
    lines += ["", "Per model:", "",
              "| model | target | ops | write (ms) | converter (s) | direct (ms) | "
              "converter (ms) | ratio | structure diffs |", "|---|---|---|---|---|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['model']} | {x['target']} | {x['ops']} | {x['write_s'] * 1e3:.1f} | "
                     f"{x['conv_s']:.1f} | {x['direct_ms']:.2f} | {x['conv_ms']:.2f} | "
                     f"{x['ratio']:.3f} | {x['diffs']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
