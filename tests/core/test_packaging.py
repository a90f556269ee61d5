"""setup.cfg ships every package of the one ``mhzoo`` namespace: each folder with an
``__init__.py`` under the mapped source folders is listed (an editable install finds any
package, a wheel only the listed ones)."""

from __future__ import annotations

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _cfg() -> tuple[dict[str, str], set[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = [x.strip() for x in cfg["options"]["package_dir"].splitlines() if x.strip()]
    package_dir = dict(tuple(part.strip() for part in x.split("=")) for x in lines)
    packages = {x.strip() for x in cfg["options"]["packages"].splitlines() if x.strip()}
    return package_dir, packages


def test_every_package_folder_is_listed() -> None:
    package_dir, packages = _cfg()
    found = set()
    for name, folder in package_dir.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            found.add(".".join([name, *rel.parts]))
    # a package folder mapped to its own entry (mhzoo.export = export) is found twice: fine
    missing = sorted(found - packages)
    assert not missing, f"setup.cfg [options] packages lacks {missing}"
    assert not sorted(packages - found), "setup.cfg lists packages that do not exist"
