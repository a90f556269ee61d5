"""mhzoo.search: search spaces as data (decisions, genotypes) that decode to ``ArchSpec``.

Pure Python at import time (no TensorFlow). Spaces: ``multi_hardware`` (the paper's section
6.1), ``proxylessnas`` and ``mobilenet_v3_like`` (TuNAS) and ``fbnet`` (HW-NAS-Bench / HELP)::

    from mhzoo.search import get_space
    space = get_space("multi_hardware", input_size=96)
    g = space.sample(0)                 # a Genotype: one index per decision
    spec = space.decode(g)              # a concrete ArchSpec, build it with mhzoo.build
    space.encode(spec) == g             # up to indices of inactive decisions
"""

# the public names are the spaces' (search/space/__init__.py lists them)
from mhzoo.search.space import *  # noqa: F403
from mhzoo.search.space import __all__  # noqa: F401
