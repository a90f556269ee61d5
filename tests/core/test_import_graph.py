"""Imports point one way: no cycles among mhzoo's modules, the layers core -> export ->
benchmarks -> search are never crossed upwards, and inside search/ the pipeline's stages
(run-folder basics -> space -> latency -> cost -> training -> result -> tunas -> regenerate ->
cli) import only downward; the shims at moved modules' old paths are imported by nothing.

Every ``import`` statement of every module is read with ``ast`` (inside functions too, since a
lazy import is still a dependency). ``from pkg import name`` depends on ``pkg.name`` when that
is a module, else on ``pkg``; importing a submodule does not count as depending on its
package's ``__init__`` (a package re-exporting its submodules is fine as long as no submodule
imports the package back, which the cycle check catches).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: folder -> import name (setup.cfg package_dir)
FOLDERS = {"mhzoo": "mhzoo", "export": "mhzoo.export", "benchmarks": "mhzoo.benchmarks",
           "search": "mhzoo.search"}
UPPER = ("mhzoo.export", "mhzoo.benchmarks", "mhzoo.search")
#: which layers each layer may not import
FORBIDDEN = {
    "core": UPPER,
    "mhzoo.export": ("mhzoo.benchmarks", "mhzoo.search"),
    "mhzoo.benchmarks": ("mhzoo.search",),
    "mhzoo.search": (),
}
#: benchmarks/perf holds standalone perf scripts (not a package, not installed): they may drive
#: anything, so the layer rule skips them; the cycle check still covers them.
SCRIPTS = "mhzoo.benchmarks.perf."
CYCLE_EXEMPT: tuple[str, ...] = ()
#: the stages of search/, lowest first; a module may import its own stage and those before it
SEARCH_STAGES = (
    ("mhzoo.search.jsonfile", "mhzoo.search._moved", "mhzoo.search.runs"),
    ("mhzoo.search.space",),
    ("mhzoo.search.latency",),
    ("mhzoo.search.cost",),
    ("mhzoo.search.training",),
    ("mhzoo.search.result",),
    ("mhzoo.search.tunas",),
    ("mhzoo.search.regenerate",),
    ("mhzoo.search.study",),
    ("mhzoo.search.cli",),
)


def _modules() -> dict[str, tuple[Path, bool]]:
    mods: dict[str, tuple[Path, bool]] = {}
    for folder, pkg in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            mods[".".join([pkg, *parts])] = (path, is_pkg)
    return mods


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The mhzoo module ``name`` lives in (a module, or the package defining an attribute)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(mod: str) -> set[str]:
    path, is_pkg = MODULES[mod]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = mod if is_pkg else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                src = f"{base}.{node.module}" if node.module else base
            else:
                src = node.module or ""
            names = [f"{src}.{a.name}" if f"{src}.{a.name}" in MODULES else src
                     for a in node.names]
        else:
            continue
        for name in names:
            if name == "mhzoo" or name.startswith("mhzoo."):
                owner = _owner(name)
                if owner is not None and owner != mod:
                    out.add(owner)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(mod: str) -> str:
    return next((u for u in UPPER if mod == u or mod.startswith(u + ".")), "core")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return comps


def _describe(comp: list[str]) -> str:
    inside = set(comp)
    return "; ".join(f"{m} -> {', '.join(sorted(GRAPH[m] & inside))}" for m in comp)


def test_graph_sees_every_package_and_lazy_imports():
    for pkg in ("mhzoo", "mhzoo.weights", "mhzoo.models", "mhzoo.export", "mhzoo.benchmarks",
                "mhzoo.search", "mhzoo.search.space", "mhzoo.search.latency", "mhzoo.search.cost",
                "mhzoo.search.training", "mhzoo.search.tunas", "mhzoo.search.tunas.supernet",
                "mhzoo.search.cli"):
        assert pkg in MODULES
    # function-level imports count: the builder opens weights lazily, inside build()
    assert "mhzoo.weights.resolve" in GRAPH["mhzoo.builder"]
    # "from pkg import submodule" is an edge to the submodule, not to the package
    assert "mhzoo.models._sources" in GRAPH["mhzoo.models.mobilenet_v1"]
    assert "mhzoo.models" not in GRAPH["mhzoo.models.mobilenet_v1"]


def test_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = [c for c in _cycles(GRAPH)
              if not all(_layer(m) in CYCLE_EXEMPT for m in c)]
    assert not cycles, "import cycles: " + " | ".join(_describe(c) for c in cycles)


def test_layers_point_down():
    bad = [f"{m} -> {t}" for m, targets in GRAPH.items() if not m.startswith(SCRIPTS)
           for t in sorted(targets) if _layer(t) in FORBIDDEN[_layer(m)]]
    assert not bad, "imports across layers (core < export < benchmarks < search): " + \
        ", ".join(bad)


def test_weights_below_builder_and_models_below_registry():
    """The two cycles this layout replaced stay gone, directly and through other modules."""
    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for t in GRAPH[todo.pop()] - seen:
                seen.add(t)
                todo.append(t)
        return seen

    below_builder = reach("mhzoo.weights.resolve") | {"mhzoo.weights.resolve"}
    assert {"mhzoo.weights.checkpoint", "mhzoo.weights.hub", "mhzoo.weights.pretrained",
            "mhzoo.weights.fit", "mhzoo.weights.convert_keras"} <= below_builder
    assert "mhzoo.builder" in reach("mhzoo.weights.cli")  # reach() finds it where it is used
    for mod in below_builder:
        assert "mhzoo.builder" not in reach(mod), mod
    for mod in MODULES:
        if mod.startswith("mhzoo.models"):
            assert "mhzoo.registry" not in reach(mod), mod


def _search_stage(mod: str) -> int | None:
    for i, prefixes in enumerate(SEARCH_STAGES):
        if any(mod == p or mod.startswith(p + ".") for p in prefixes):
            return i
    return None


def _is_shim(mod: str) -> bool:
    """A moved module's old path: it only re-exports (``MOVED_TO`` names the new one)."""
    path, _ = MODULES[mod]
    return "\nMOVED_TO = " in path.read_text(encoding="utf-8")


SHIMS = {m for m in MODULES if m.startswith("mhzoo.search.") and _is_shim(m)}


def test_every_search_module_has_a_stage_or_is_a_shim():
    loose = [m for m in MODULES if m.startswith("mhzoo.search.")
             and _search_stage(m) is None and m not in SHIMS]
    assert not loose, f"modules of search/ outside every stage: {loose}"
    assert {"mhzoo.search.spaces", "mhzoo.search.search_loop", "mhzoo.search.controller"} <= SHIMS


def test_search_stages_import_only_downward():
    bad = []
    for mod, targets in GRAPH.items():
        here = _search_stage(mod)
        if here is None or mod in SHIMS:
            continue
        for t in targets:
            there = _search_stage(t)
            if t in SHIMS:
                bad.append(f"{mod} -> {t} (an old path)")
            elif there is not None and there > here:
                bad.append(f"{mod} -> {t}")
    assert not bad, "upward imports inside search/: " + ", ".join(sorted(bad))


def test_stage_check_finds_an_upward_import():
    """The stage order is what the check reads: cost importing tunas would be refused."""
    assert _search_stage("mhzoo.search.cost.linear") < _search_stage("mhzoo.search.tunas.step")
    assert _search_stage("mhzoo.search.space.base") == 1
    assert _search_stage("mhzoo.search") is None  # the package's front door re-exports space


def test_nothing_imports_a_shim():
    users = [f"{m} -> {t}" for m, targets in GRAPH.items() if m not in SHIMS
             for t in targets if t in SHIMS]
    assert not users, f"modules importing an old path: {users}"
