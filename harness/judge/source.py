"""Source lines as the findings quote them."""
from __future__ import annotations

from pathlib import Path


def source_text(root: str | None, file: str, line: int) -> str | None:
    """The text of a source line on this machine (None when the file is not here)."""
    if not root or not file or line < 1:
        return None
    path = Path(file) if Path(file).is_absolute() else Path(root) / file
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            for i, text in enumerate(f, 1):
                if i == line:
                    return text.strip()[:200]
    except OSError:
        return None
    return None
