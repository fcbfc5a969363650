"""Where the project is: put on sys.path first, so the benchmarks and these modules import its apps."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
