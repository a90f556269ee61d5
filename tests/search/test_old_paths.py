"""Old import paths of moved modules keep working for one release, with a DeprecationWarning
that names the new path (README: "changed")."""

from __future__ import annotations

import importlib
import sys

import pytest

OLD = {
    "mhzoo.search.spaces": ("get_space", "mhzoo.search.space.registry"),
    "mhzoo.search.collect": ("merge_stores", "mhzoo.search.latency"),
    "mhzoo.search.cputime": ("measure_tflite_cpu_time", "mhzoo.search.latency.cputime"),
    "mhzoo.search.search_cost": ("load_cost_models", "mhzoo.search.cost.folder"),
    "mhzoo.search.search_config": ("get_search_preset", "mhzoo.search.tunas.config"),
    "mhzoo.search.controller": ("Controller", "mhzoo.search.tunas.controller"),
    "mhzoo.search.rewards": ("make_reward", "mhzoo.search.tunas.rewards"),
    "mhzoo.search.search_loop": ("run_search", "mhzoo.search.tunas.loop"),
    "mhzoo.search.supernet": ("plan_space", "mhzoo.search.tunas.supernet"),
}


@pytest.mark.parametrize("old", sorted(OLD))
def test_old_path_warns_and_works(old):
    name, new = OLD[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
