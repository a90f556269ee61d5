"""The paper's comparative experiment run here (issue 19): Study A (``multi_hardware`` space,
this machine's measured and simulated targets) and Study B (``fbnet`` space, seven real
devices), each one resumable command (``mhzoo search study A|B --data D --out DIR [--tiny]``).

:mod:`.spec` defines a study (presets, the rule that picks the single-hardware targets),
:mod:`.ledger` the stage ledger ``DIR/study.json``, :mod:`.stages` the stages (calls of the
product's search, training, measurement and MN-Norm code) and :mod:`.report` the tables and
figures. Pure Python at import time.
"""

from mhzoo.search.study.ledger import LEDGER_FILE, Ledger
from mhzoo.search.study.spec import STUDIES, StudySpec, most_disagreeing, study_spec
from mhzoo.search.study.stages import run_study

__all__ = ["LEDGER_FILE", "STUDIES", "Ledger", "StudySpec", "most_disagreeing", "run_study",
           "study_spec"]
