"""mhzoo.search: search spaces as data (decisions, genotypes) that decode to ``ArchSpec``.

Pure Python at import time (no TensorFlow). Spaces: ``multi_hardware`` (the paper's section
6.1), ``proxylessnas`` and ``mobilenet_v3_like`` (TuNAS) and ``fbnet`` (HW-NAS-Bench / HELP)::

    from mhzoo.search import get_space
    space = get_space("multi_hardware", input_size=96)
    g = space.sample(0)                 # a Genotype: one index per decision
    spec = space.decode(g)              # a concrete ArchSpec, build it with mhzoo.build
    space.encode(spec) == g             # up to indices of inactive decisions
"""

from mhzoo.search.space import (
    TAGS,
    Decision,
    Genotype,
    LayerChoice,
    Slot,
    Space,
    decode_genotype,
    get_space,
    list_spaces,
    load_genotype,
    save_genotype,
    space_of,
)

__all__ = ["TAGS", "Decision", "Genotype", "LayerChoice", "Slot", "Space", "decode_genotype",
           "get_space", "list_spaces", "load_genotype", "save_genotype", "space_of"]
