"""The example workflow modules are importable by their file names, as the loader imports
them (`import thumbnails`), so these tests and `aiki worker` share one copy of each."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "workflows"

if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))
