"""Simulated accelerator targets: analytical latency from ZigZag, first-class beside the CPU.

A simulated target (``sim_edgetpu``, ``sim_npu``, ``sim_eyeriss``, ``sim_tpu``) is a folder in
``benchmarks/simulated/targets/<name>/``: ``target.json`` (clock, precision, engine settings,
compatibility rule set, notes), ``hardware.yaml`` and ``mapping.yaml`` (ZigZag's formats; the
mapping has a ``depthwise`` entry, with a note on why) and ``lut.json`` (the shipped lookup
table). The latency of a concrete spec is the sum of its layers' cycles divided by the clock;
each conv layer's cycles come from the lookup table, else from ZigZag (then cached in
``$MHZOO_HOME/simulated``). None of these targets is calibrated to a real chip: every report
labels them simulated.

::

    from mhzoo.benchmarks.simulated import simulate_spec
    res = simulate_spec(spec, "sim_edgetpu")   # res.ms, res.cycles, res.layer_cycles
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mhzoo.benchmarks.simulated.layers import (
    SimLayer,
    UnsupportedLayerError,
    distinct,
    elementwise_cycles,
    spec_layers,
)
from mhzoo.benchmarks.simulated.lut import (
    LookupTable,
    StaleTableError,
    cache_table_path,
    env_cache_root,
    writable,
)
from mhzoo.spec import ArchSpec

__all__ = ["SIM_SOURCE", "SimResult", "SimTarget", "StaleTableError", "UnsupportedLayerError",
           "get_sim_target", "layer_cycles", "list_sim_targets", "load_sim_target",
           "register_sim_target", "shipped_sim_targets", "sim_compatible", "simulate_layers",
           "simulate_spec", "spec_layers"]

#: the ``source`` of stored rows that were simulated, not measured
SIM_SOURCE = "simulated:zigzag"
_REQUIRED = ("name", "description", "hardware", "mapping", "precision", "engine", "clock_mhz",
             "rule_set", "quant")


def _targets_root() -> Path:
    return Path(str(resources.files("mhzoo.benchmarks").joinpath("simulated/targets")))


@dataclass
class SimTarget:
    """A simulated target, read from its folder (see the module docstring)."""

    name: str
    folder: Path
    description: str
    hardware: Path
    mapping: Path
    precision: dict[str, int]
    engine: dict[str, Any]
    clock_mhz: float
    rule_set: str
    quant: str
    notes: dict[str, str] = field(default_factory=dict)
    _tables: tuple[LookupTable | None, LookupTable] | None = field(default=None, repr=False)
    _stamp: tuple[Any, ...] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sha256(self) -> str:
        """Hash of what the cycles depend on: the hardware and mapping files and the precision
        and engine settings (not the clock, which only scales cycles to ms, nor the notes)."""
        h = hashlib.sha256()
        for label, data in (("hardware", self.hardware.read_bytes()),
                            ("mapping", self.mapping.read_bytes()),
                            ("settings", json.dumps({"precision": self.precision,
                                                     "engine": self.engine},
                                                    sort_keys=True).encode())):
            h.update(label.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()

    @property
    def shipped_table(self) -> Path:
        """The lookup table shipped in the target's folder."""
        return self.folder / "lut.json"

    def expected_header(self) -> dict[str, Any]:
        """The header a table of this target must carry."""
        from mhzoo.benchmarks.simulated.engine import zigzag_version

        return {"target": self.name, "zigzag_version": zigzag_version(),
                "target_sha256": self.sha256, "engine": dict(self.engine),
                "precision": dict(self.precision)}

    def lpf_limit(self, layer: SimLayer) -> int:
        """LOMA's search depth for ``layer``: ``engine["lpf_limit_by_entry"][entry]`` for the
        mapping entry the layer asks for (e.g. ``{"conv_k5": 6}``: a deeper search where the
        reduced one was checked to differ), else ``engine["lpf_limit"]`` (default 6)."""
        from mhzoo.benchmarks.simulated.engine import mapping_entries, mapping_entry

        by_entry = self.engine.get("lpf_limit_by_entry") or {}
        if by_entry:
            entry = mapping_entry(layer, mapping_entries(str(self.mapping)))
            if entry in by_entry:
                return int(by_entry[entry])
        return int(self.engine.get("lpf_limit", 6))

    def dram_bits_per_cycle(self) -> int:
        """Width of the DRAM port (the largest memory's widest port), bits per cycle."""
        return _dram_bits(self.hardware.read_text(), str(self.hardware))

    def tables(self) -> tuple[LookupTable | None, LookupTable]:
        """(shipped table or None, cache table), both checked against this target's files and
        the installed ZigZag (:class:`StaleTableError` otherwise). Reloaded when the files,
        the shipped table or the cache folder (``$MHZOO_HOME``) change."""
        expected = self.expected_header()
        cpath = cache_table_path(env_cache_root(), self.name, expected["target_sha256"])
        shipped_path = self.shipped_table
        stamp = (expected["target_sha256"], expected["zigzag_version"], str(cpath),
                 shipped_path.stat().st_mtime_ns if shipped_path.is_file() else None)
        with self._lock:
            if self._tables is None or self._stamp != stamp:
                shipped = (LookupTable.load(shipped_path, expected) if shipped_path.is_file()
                           else None)
                cache = (LookupTable.load(cpath, expected) if cpath.is_file()
                         else LookupTable(cpath, expected))
                self._tables, self._stamp = (shipped, cache), stamp
            return self._tables

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored with each simulated row)."""
        return {"name": self.name, "folder": str(self.folder), "clock_mhz": self.clock_mhz,
                "rule_set": self.rule_set, "precision": self.precision, "engine": self.engine,
                "target_sha256": self.sha256}


@functools.lru_cache(maxsize=32)
def _dram_bits(hardware_yaml: str, where: str) -> int:
    import yaml

    data = yaml.safe_load(hardware_yaml)
    mems = data.get("memories", {}) if isinstance(data, dict) else {}
    if not mems:
        raise ValueError(f"{where}: no memories")
    dram = max(mems.values(), key=lambda m: m.get("size", 0))
    return int(max(p.get("bandwidth_max", 0) for p in dram.get("ports", [])))


def load_sim_target(folder: str | Path) -> SimTarget:
    """Read a simulated target's folder (``ValueError`` naming what is wrong)."""
    from mhzoo.export.compat import RULE_SETS

    folder = Path(folder)
    meta_path = folder / "target.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read simulated target {meta_path}: {exc}") from None
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing field(s) {', '.join(missing)}")
    if meta["rule_set"] not in RULE_SETS:
        raise ValueError(f"{meta_path}: rule_set {meta['rule_set']!r} is not one of "
                         f"{', '.join(RULE_SETS)}")
    clock = meta["clock_mhz"]
    if isinstance(clock, bool) or not isinstance(clock, int | float) or not clock > 0:
        raise ValueError(f"{meta_path}: clock_mhz must be a number > 0, got {clock!r}")
    hw, mp = folder / meta["hardware"], folder / meta["mapping"]
    for p in (hw, mp):
        if not p.is_file():
            raise ValueError(f"simulated target {meta['name']}: file not found: {p}")
    return SimTarget(name=meta["name"], folder=folder, description=meta["description"],
                     hardware=hw, mapping=mp, precision=dict(meta["precision"]),
                     engine=dict(meta["engine"]), clock_mhz=float(clock),
                     rule_set=meta["rule_set"], quant=meta["quant"],
                     notes=dict(meta.get("notes", {})))


_SIM: dict[str, SimTarget] = {}


def _builtin_names() -> list[str]:
    root = _targets_root()
    return sorted(p.name for p in root.iterdir() if (p / "target.json").is_file())


def list_sim_targets() -> list[str]:
    """Names of the simulated targets (the shipped ones and any registered)."""
    return sorted(set(_builtin_names()) | set(_SIM))


def shipped_sim_targets() -> list[str]:
    """The simulated targets whose folder ships a lookup table (their models cost
    milliseconds; the others simulate each new layer with ZigZag, seconds to minutes)."""
    return [n for n in list_sim_targets() if get_sim_target(n).shipped_table.is_file()]


def get_sim_target(name: str | SimTarget) -> SimTarget:
    """A simulated target by name (``ValueError`` naming the known ones otherwise)."""
    if isinstance(name, SimTarget):
        return name
    if name in _SIM:
        return _SIM[name]
    if name in _builtin_names():
        _SIM[name] = load_sim_target(_targets_root() / name)
        return _SIM[name]
    raise ValueError(f"unknown simulated target {name!r}; simulated targets: "
                     f"{', '.join(list_sim_targets())}")


def register_sim_target(folder: str | Path, *, overwrite: bool = False) -> SimTarget:
    """Load a simulated target from ``folder`` and register it (here and as a benchmark
    target, so ``bench`` / ``measure_spec`` / reports take its name)."""
    from mhzoo.benchmarks.targets import Target, register_target

    st = load_sim_target(folder)
    if st.name in list_sim_targets() and not overwrite:
        raise ValueError(f"simulated target {st.name!r} already exists")
    _SIM[st.name] = st
    register_target(Target(name=st.name, quant=st.quant, runtime="sim", delegate="zigzag",
                           description=f"SIMULATED: {st.description}"), overwrite=overwrite)
    return st


def layer_cycles(layers: Iterable[SimLayer], target: str | SimTarget, *,
                 compute: bool = True, save: bool = True) -> dict[str, int]:
    """Cycles of each distinct layer (by key) on ``target``.

    Conv layers come from the shipped table, else the cache, else ZigZag (``compute=True``;
    added to the cache, written atomically when ``save``); elementwise layers from
    :func:`~mhzoo.benchmarks.simulated.layers.elementwise_cycles`.

    Raises:
        StaleTableError: a table of another ZigZag version or other target files.
        UnsupportedLayerError: a layer the simulator cannot cost.
        KeyError: a conv layer in no table while ``compute`` is False.
    """
    st = get_sim_target(target)
    shipped, cache = st.tables()
    out: dict[str, int] = {}
    added = False
    bits = int(st.precision.get("I", 8))
    dram = None
    for key, lay in distinct(layers).items():
        if lay.kind != "conv":
            if dram is None:
                dram = st.dram_bits_per_cycle()
            out[key] = elementwise_cycles(lay, dram, bits)
            continue
        v = shipped.get(key) if shipped is not None else None
        if v is None:
            v = cache.get(key)
        if v is None:
            if not compute:
                raise KeyError(key)
            from mhzoo.benchmarks.simulated.engine import zigzag_cycles

            v = zigzag_cycles(lay, str(st.hardware), str(st.mapping), st.precision,
                              lpf_limit=st.lpf_limit(lay),
                              nb_spatial_mappings=int(st.engine.get("nb_spatial_mappings", 3)))
            cache.put(key, v)
            added = True
        out[key] = int(v)
    if added and save and writable(cache.path):
        cache.save()
    return out


@dataclass(frozen=True)
class SimResult:
    """Simulated latency of one model: total cycles, milliseconds and the per-layer cycles."""

    target: str
    cycles: int
    clock_mhz: float
    layers: tuple[SimLayer, ...]
    layer_cycles: tuple[int, ...]

    @property
    def ms(self) -> float:
        """Latency in milliseconds (cycles / clock)."""
        return self.cycles / (self.clock_mhz * 1e3)


def simulate_layers(layers: Sequence[SimLayer], target: str | SimTarget, *,
                    compute: bool = True) -> SimResult:
    """Latency of a list of layers: the sum of their cycles (see :func:`layer_cycles`)."""
    st = get_sim_target(target)
    table = layer_cycles(layers, st, compute=compute)
    per = tuple(table[lay.key] for lay in layers)
    return SimResult(st.name, sum(per), st.clock_mhz, tuple(layers), per)


def simulate_spec(spec: ArchSpec, target: str | SimTarget, *, input_size: int = 224,
                  num_classes: int = 1000, compute: bool = True) -> SimResult:
    """Simulated latency of a *concrete* spec with the default classifier head (what
    :func:`mhzoo.build` makes at width 1.0)."""
    if not isinstance(spec, ArchSpec):
        raise ValueError(f"simulate_spec needs a concrete ArchSpec, got {type(spec).__name__}")
    return simulate_layers(spec_layers(spec, input_size, num_classes), target, compute=compute)


def sim_compatible(spec: ArchSpec, target: str | SimTarget, *, input_size: int = 224,
                   num_classes: int = 1000) -> tuple[bool, list[str]]:
    """Whether the target's compatibility rule set runs the whole int8 model (the S_i of the
    paper's eq. 1), and why not: the .tflite comes from the direct writer
    (:mod:`mhzoo.export.direct`, milliseconds, no TensorFlow)."""
    from mhzoo.export.compat import check_compatibility
    from mhzoo.export.direct import spec_to_tflite_bytes
    from mhzoo.export.op_inventory import inventory

    st = get_sim_target(target)
    flat = spec_to_tflite_bytes(spec, quant=st.quant, input_size=input_size,
                                num_classes=num_classes)
    res = check_compatibility(inventory(flat), (st.rule_set,)).targets[st.rule_set]
    return bool(res.fully_supported), [] if res.fully_supported else [res.summary()]
