"""Public names are what the docs say: every ``__all__`` entry is a function, class or constant,
never a module that shadows a function of the same name (also after every submodule has been
imported, which is when a lazy export gets shadowed)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

PACKAGES = ("mhzoo", "mhzoo.export", "mhzoo.benchmarks", "mhzoo.weights", "mhzoo.search",
            "mhzoo.search.space", "mhzoo.search.latency", "mhzoo.search.cost")


def _import_everything(package: str) -> None:
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)


def _kind(name: str, value: object) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if inspect.isclass(value):
        return "class"
    if callable(value):
        return "function"
    return "constant"


def _expected(name: str) -> str:
    if name.startswith("__"):
        return "constant"  # __version__
    if name.upper() == name:
        return "constant"
    if name[0].isupper():
        return "class"
    return "function"


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_are_the_documented_kind(package):
    for p in PACKAGES:
        _import_everything(p)  # submodule imports are what shadow lazy exports
    pkg = importlib.import_module(package)
    names = getattr(pkg, "__all__", None)
    assert names, f"{package} has no __all__"
    wrong = []
    for name in names:
        value = getattr(pkg, name)
        kind, want = _kind(name, value), _expected(name)
        if kind != want:
            wrong.append(f"{package}.{name}: {kind}, expected {want}")
    assert not wrong, "; ".join(wrong)


def test_docstring_example_imports_give_callables():
    from mhzoo.benchmarks import bench, mn_norm, mn_norm_avg
    from mhzoo.export import inventory, to_tflite

    for f in (bench, mn_norm, mn_norm_avg, inventory, to_tflite):
        assert callable(f) and not isinstance(f, types.ModuleType)


def test_submodules_never_share_a_public_function_name():
    clashes = []
    for package in PACKAGES:
        _import_everything(package)
        pkg = importlib.import_module(package)
        subs = {i.name.rsplit(".", 1)[-1] for i in pkgutil.iter_modules(pkg.__path__)}
        clashes += [f"{package}.{n}" for n in getattr(pkg, "__all__", ()) if n in subs]
    assert not clashes, f"public names shadowed by submodules: {clashes}"
