"""Entry point: see harness.py (framework), fixtures.py, cases.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main

sys.exit(main())
