"""Only for running the template's tests in place, inside the evstore repository,
where it is deliberately not installed (an installed template would show up in every
store). A copy is installed with `pip install -e .` and can drop this file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "src"))
