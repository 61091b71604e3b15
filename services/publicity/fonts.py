"""A font file with Chinese glyphs, for the charts and the poster."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from matplotlib import font_manager

_CJK_HINTS = ("wqy", "wenquanyi", "noto sans cjk", "noto serif cjk", "source han", "simhei",
              "simsun", "microsoft yahei", "pingfang", "heiti", "droid sans fallback")  # fmt: skip


def _fc_list() -> list[str]:
    if shutil.which("fc-list") is None:
        return []
    try:
        result = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":")[0].strip() for line in result.stdout.splitlines() if line.strip()]


def find_cjk_font(explicit: str = "") -> Path | None:
    """A font file with Chinese glyphs: the configured one, else one fontconfig knows."""
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    files = sorted(_fc_list(), key=lambda f: (not any(h in f.lower() for h in _CJK_HINTS), f))
    for name in files:
        if Path(name).is_file():
            return Path(name)
    for entry in font_manager.fontManager.ttflist:
        if any(h in entry.name.lower() for h in _CJK_HINTS):
            return Path(entry.fname)
    return None
