"""Lets `pytest` import paperchain_wordcount from this folder even before `pip install -e .`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
