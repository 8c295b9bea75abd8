"""The benchmark scripts import each other by bare name (they run as scripts from benchmarks/)."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))  # appended: never shadows an installed module
