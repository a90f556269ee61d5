"""Search spaces as data (pure Python): decisions and slots (:mod:`.base`), genotypes
(:mod:`.genotype`), encoding (:mod:`.encode`), the stage builders of the MobileNet-like spaces
(:mod:`.staged`), one module per space and the registry (:mod:`.registry`)."""

from mhzoo.search.space.base import TAGS, Decision, LayerChoice, Slot, Space
from mhzoo.search.space.genotype import Genotype
from mhzoo.search.space.registry import (
    decode_genotype,
    get_space,
    list_spaces,
    load_genotype,
    save_genotype,
    space_of,
)

__all__ = ["TAGS", "Decision", "Genotype", "LayerChoice", "Slot", "Space", "decode_genotype",
           "get_space", "list_spaces", "load_genotype", "save_genotype", "space_of"]
