"""What our French texts never hold: English words (a test's check of what a user or an
integrator reads)."""

from __future__ import annotations

import re

# Words no French sentence of ours holds ("an" is French: "un an").
ENGLISH = re.compile(
    r"\b(the|of|and|with|is|are|to|for|by|from|its|their|this|that|be|only|every|may"
    r"|must|when|which|not|newest|first|changes|Per|Who|What|Load|Serve|Start|Print)\b"
)
