"""Breaking Chinese text into lines the way typesetters do (禁则, cf. W3C clreq).

No line starts with a closing mark (，。、；：！？）》」』”’ …) and no line ends with an
opening mark (“‘（《「『【 …): where a break would do that, the character before it moves down
with it (推出), never hanging over the margin. A run of Latin letters, digits and the marks
inside numbers (2026, 3.5%, H.264) is never split. No character is ever dropped. Pure.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable

CLOSING = "，。、；：！？）》」』】〕〉”’…—·%,.;:!?)]}"
OPENING = "（《「『【〔〈“‘([{"
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.%+-_/#")


def text_width(text: str) -> float:
    """Width in ems: wide (CJK) characters 1, and the ambiguous ones too (quotation marks “”
    are full width in Chinese fonts); others about half."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WFA" else 0.55 for c in text)


def tokens(text: str) -> list[str]:
    """Unbreakable pieces: one CJK character or mark, or a whole Latin word / number."""
    out: list[str] = []
    for char in text:
        if out and char in _WORD and out[-1][-1] in _WORD:
            out[-1] += char
        else:
            out.append(char)
    return out


def break_lines(text: str, width: float, measure: Callable[[str], float] = text_width) -> list[str]:
    """`text` (one paragraph) in lines no wider than `width` (in `measure`'s units) where the
    rules allow; a single piece wider than a line gets a line of its own."""
    lines: list[str] = []
    line: list[str] = []
    for token in tokens(" ".join(text.split())):
        if not line and token == " ":
            continue
        if line and measure("".join(line) + token) > width:
            carry = [token]
            # A closing mark never starts a line: the piece before it comes down too.
            while carry[0][0] in CLOSING and len(line) > 1:
                carry.insert(0, line.pop())
            # An opening mark never ends a line: it goes down with what it opens.
            while line[-1][-1] in OPENING and len(line) > 1:
                carry.insert(0, line.pop())
            lines.append("".join(line).rstrip())
            line = carry if carry[0] != " " else carry[1:]
        else:
            line.append(token)
    if line:
        lines.append("".join(line).rstrip())
    return [x for x in lines if x]


def fits(lines: list[str]) -> bool:
    """The rules hold between every two lines (what the tests check)."""
    return all(
        not (after[0] in CLOSING or before[-1] in OPENING)
        for before, after in itertools.pairwise(lines)
    )
