"""Build (or complete) the lookup tables of the simulated targets: resumable, atomic.

::

    nice -n 10 python -m mhzoo.benchmarks.simulated.build_lut --target sim_npu --zoo --keys K.txt \
        --jobs 2

The layers are those of the zoo's models (``--zoo``: every registered model at width 1.0 and
its Table-1 width, 224 px) and of ``--keys`` files (one layer key per line). The shipped tables
add the ``multi_hardware`` search space's layers: ``benchmarks/perf/sim_tables.py`` (the
harness does not import the search package) writes their keys and calls this module. Finished
layers are written to the table every ``--save-every`` layers (atomically), so a killed build
resumes where it stopped; a table made with another ZigZag version or other target files is
refused unless ``--rebuild`` starts it over. ``--check N`` recomputes N layers of each kind with
ZigZag's default search (lpf_limit 6, no temporal-ordering constraint) and reports whether the
cycles equal the table's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from mhzoo.benchmarks.simulated import get_sim_target, list_sim_targets
from mhzoo.benchmarks.simulated.layers import SimLayer, distinct, parse_layer_key, spec_layers
from mhzoo.benchmarks.simulated.lut import LookupTable, StaleTableError

__all__ = ["ZOO_WIDTHS", "build_table", "check_search_depth", "unconstrained_mapping",
           "zoo_layers"]

#: widths of the zoo's models whose layers the shipped tables hold (plus each Table-1 width)
ZOO_WIDTHS = (1.0,)


def zoo_layers(widths: Sequence[float] = ZOO_WIDTHS, input_size: int = 224) -> list[SimLayer]:
    """Distinct layers of every registered model at ``widths`` and its Table-1 width."""
    from mhzoo.builder import resolve_spec
    from mhzoo.paper import TABLE1
    from mhzoo.registry import list_models
    from mhzoo.widths import scale_spec

    table1 = {r.model: r.width_multiplier for r in TABLE1}
    out: dict[str, SimLayer] = {}
    for name in list_models():
        base = resolve_spec(name)
        for w in sorted({*widths, table1.get(name, 1.0)}):
            for lay in spec_layers(scale_spec(base, w), input_size, 1000):
                out.setdefault(lay.key, lay)
    return list(out.values())


def _cost(args: tuple[str, str, str, str, dict[str, int], int, int]) -> tuple[str, int, float]:
    key, _target, hw, mp, prec, lpf, nsm = args
    from mhzoo.benchmarks.simulated.engine import zigzag_cycles

    t0 = time.perf_counter()
    c = zigzag_cycles(parse_layer_key(key), hw, mp, prec, lpf_limit=lpf, nb_spatial_mappings=nsm)
    return key, c, time.perf_counter() - t0


def build_table(target: str, layers: Iterable[SimLayer], *, output: str | os.PathLike | None = None,
                jobs: int = 1, save_every: int = 10, rebuild: bool = False,
                log=print) -> LookupTable:
    """Add the missing conv layers of ``layers`` to ``target``'s table (default: the shipped
    one in its folder), computing them with ZigZag in ``jobs`` processes."""
    st = get_sim_target(target)
    expected = st.expected_header()
    path = Path(output) if output is not None else st.shipped_table
    if path.is_file() and not rebuild:
        table = LookupTable.load(path, expected)  # StaleTableError: refuse, never mix
    else:
        table = LookupTable(path, expected)
    todo = [lay.key for lay in distinct(layers).values()
            if lay.kind == "conv" and lay.key not in table]
    log(f"{st.name}: {len(table)} layers in {path}, {len(todo)} to compute ({jobs} job(s))")
    if not todo:
        if not path.is_file():
            table.save()
        return table
    nsm = int(st.engine.get("nb_spatial_mappings", 3))
    args = [(k, st.name, str(st.hardware), str(st.mapping), st.precision,
             st.lpf_limit(parse_layer_key(k)), nsm) for k in todo]
    start, done, busy = time.perf_counter(), 0, 0.0
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_cost, a) for a in args]
        for fut in as_completed(futures):
            key, cycles, sec = fut.result()
            table.put(key, cycles)
            done += 1
            busy += sec
            if done % save_every == 0 or done == len(todo):
                table.save()
                el = time.perf_counter() - start
                log(f"{st.name}: {done}/{len(todo)} layers, {el:.0f} s, "
                    f"{busy / done:.2f} s/layer, ETA {el / done * (len(todo) - done):.0f} s")
    return table


def unconstrained_mapping(mapping: Path, dest: Path) -> Path:
    """A copy of a mapping file without any ``temporal_ordering`` (ZigZag's full search)."""
    import yaml

    entries = yaml.safe_load(Path(mapping).read_text())
    for e in entries:
        e.pop("temporal_ordering", None)
    dest.write_text(yaml.safe_dump(entries, sort_keys=False))
    return dest


def check_search_depth(target: str, table: LookupTable, per_kind: int = 3,
                       lpf_limit: int = 6) -> list[dict[str, object]]:
    """Recompute ``per_kind`` layers of each kind (1x1, depthwise, regular k x k, dense) with
    ZigZag's default search (``lpf_limit`` 6, no temporal-ordering constraint in the mapping)
    and compare with the table (made with the target's reduced ``lpf_limit`` and its mapping's
    constraints): the check behind those speed-ups. Kinds whose entries the target searches at
    ``lpf_limit`` or deeper already (``engine["lpf_limit_by_entry"]``) are checked too."""
    import tempfile

    from mhzoo.benchmarks.simulated.engine import zigzag_cycles

    st = get_sim_target(target)
    groups: dict[str, list[SimLayer]] = {}
    for key in sorted(table.entries):
        lay = parse_layer_key(key)
        kind = ("dense" if lay.h == lay.w == 1 else "depthwise" if lay.depthwise else
                "1x1" if lay.kernel == 1 else f"{lay.kernel}x{lay.kernel}")
        groups.setdefault(kind, []).append(lay)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        free = unconstrained_mapping(st.mapping, Path(tmp) / "mapping.yaml")
        for kind, lays in sorted(groups.items()):
            step = max(1, len(lays) // per_kind)
            for lay in lays[::step][:per_kind]:
                t0 = time.perf_counter()
                deep = zigzag_cycles(lay, str(st.hardware), str(free), st.precision,
                                     lpf_limit=lpf_limit,
                                     nb_spatial_mappings=int(st.engine.get(
                                         "nb_spatial_mappings", 3)))
                rows.append({"target": st.name, "kind": kind, "layer": lay.key,
                             "table_cycles": table.entries[lay.key],
                             "table_lpf_limit": st.lpf_limit(lay),
                             "default_search_cycles": deep,
                             "equal": deep == table.entries[lay.key],
                             "default_search_seconds": round(time.perf_counter() - t0, 2)})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m mhzoo.benchmarks.simulated.build_lut",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="all", help="simulated target(s), comma-separated, or all")
    ap.add_argument("--zoo", action="store_true", help="the zoo's models' layers too")
    ap.add_argument("--keys", action="append", default=[], help="file of layer keys")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--output", default=None, help="table path (one target only)")
    ap.add_argument("--rebuild", action="store_true", help="start a stale table over")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="after building, recompute N layers per kind with the default search")
    ap.add_argument("--check-output", default=None, help="JSON file for the --check rows")
    a = ap.parse_args(argv)
    try:
        names = list_sim_targets() if a.target == "all" else [
            t.strip() for t in a.target.split(",") if t.strip()]
        for n in names:
            get_sim_target(n)
        if a.output and len(names) != 1:
            raise ValueError("--output needs exactly one --target")
        layers: list[SimLayer] = []
        if a.zoo:
            layers += zoo_layers()
        for f in a.keys:
            layers += [parse_layer_key(line.strip()) for line in Path(f).read_text().splitlines()
                       if line.strip()]
        checks: list[dict[str, object]] = []
        for n in names:
            table = build_table(n, layers, output=a.output, jobs=a.jobs,
                                save_every=a.save_every, rebuild=a.rebuild)
            if a.check:
                rows = check_search_depth(n, table, a.check)
                checks += rows
                same = sum(bool(r["equal"]) for r in rows)
                print(f"{n}: search check: {same}/{len(rows)} layers with equal cycles")
        if a.check and a.check_output:
            from mhzoo.atomic import atomic_write_text

            atomic_write_text(a.check_output, json.dumps(checks, indent=1) + "\n")
    except (ValueError, StaleTableError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
