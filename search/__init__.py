"""mhzoo.search: the architecture-search subpackage (search space, cost models, TuNAS).

Not implemented yet: no issue for it has been taken. The search space will emit
:class:`mhzoo.spec.ArchSpec` values, so searched models build, count and export with the core.
"""
