"""Text from outside (a file name, a class name, an error's own words) made safe to print as
one line of a terminal. A file named "x\\nerror: all fine.png" must not print a second line
that looks like isegui's, nor one holding ESC clear the screen or rename the window; and a
10 MB value in a rules file must not become a 10 MB "line". No imports beyond the standard
library: the line's commands use it too."""

from __future__ import annotations

import unicodedata

MAX_CHARS = 500  # characters of one line at most, the "..." included
ELLIPSIS = "..."  # ASCII: any console's code page can show it

# categories a terminal does not show as a character: controls (\n, \r, \t, ESC, NUL, DEL,
# C1), format characters (bidi overrides, zero-width), line and paragraph separators, and
# lone surrogates (a name's bytes that are no UTF-8)
_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: object, limit: int = MAX_CHARS) -> str:
    """`text` as one printable line: every character a terminal would act on shown escaped,
    as Python's repr writes it ("\\n", "\\x1b", "\\u2028"; a byte of a name that is no UTF-8
    as "\\xff"), and cut with "..." past `limit`
    characters. Only what can be shown is looked at, so a huge text costs no more than a
    short one."""
    text = str(text)
    pieces, size = [], 0
    for char in text[:limit + 1]:
        piece = _escaped(char) if unicodedata.category(char) in _UNSAFE else char
        pieces.append(piece)
        size += len(piece)
    if size <= limit and len(text) <= limit:
        return "".join(pieces)
    return _cut(pieces, limit - len(ELLIPSIS)) + ELLIPSIS


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that is no UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _cut(pieces: list[str], room: int) -> str:
    """The first pieces that fit in `room` characters; an escape is never cut in half."""
    kept, size = [], 0
    for piece in pieces:
        if size + len(piece) > room:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept)


def is_text(text: str) -> bool:
    """Whether `text` is Unicode text that UTF-8 can hold (no lone surrogate, as a name's
    bytes that are no UTF-8 decode to)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
