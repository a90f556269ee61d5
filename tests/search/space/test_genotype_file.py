"""A saved genotype is also a spec file: the core builds, counts and exports it as it is."""

from __future__ import annotations

import json

from mhzoo.cli import main
from mhzoo.search.space import Genotype, get_space, save_genotype
from mhzoo.spec import ArchSpec


def test_saved_genotype_reads_as_its_decoded_spec(tmp_path):
    space = get_space("multi_hardware")
    g = space.sample(7)
    path = save_genotype(g, tmp_path / "g.json")
    assert ArchSpec.from_file(path) == space.decode(g)
    assert Genotype.load(path) == g
    bare = save_genotype(g, tmp_path / "bare.json", with_spec=False)
    assert "spec" not in json.loads(bare.read_text())


def test_cli_info_takes_a_genotype_file(tmp_path, capsys):
    space = get_space("multi_hardware")
    g = space.sample(11)
    path = save_genotype(g, tmp_path / "g.json")
    try:
        main([ "info", str(path), "--json"], standalone_mode=False)
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    spec = space.decode(g)
    import mhzoo

    assert out["params"] == mhzoo.profile(spec).params
