"""What C libraries print on the process's stderr while they decode an image: libpng's
"libpng warning: iCCP: ..." and libjpeg's "Corrupt JPEG data: 12 extraneous bytes ...". They
would stand beside isegui's own one-line message, and libjpeg's warnings are the only sign
that a JPEG it decoded "successfully" was damaged (its missing part drawn grey).

`captured()` points file descriptor 2 at a temporary file for the length of a block and gives
back what was written there. One block at a time (a lock): the descriptor belongs to the whole
process. Text that is not a decoder's (another thread's log line) is written back to stderr
afterwards, so nothing else is lost. Where there is no stderr to redirect (a windowed .exe on
Windows), the block runs as it is and nothing is captured."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()
# lines a decoder prints: libpng's, libjpeg's (through OpenCV or Pillow) and OpenCV's own
_DECODER_LINE = re.compile(r"^(libpng (warning|error)|Corrupt JPEG data|Premature end of JPEG|"
                           r"Invalid SOS|Warning: unknown JFIF|Unsupported marker|"
                           r"\[ WARN|\[ERROR|Bogus|JPEG datastream|_?TIFF\w*:)")
# what says the pixels are not the file's: the decode is refused
_DAMAGE = re.compile(r"Corrupt JPEG data|Premature end of JPEG|libpng error|CRC error|"
                     r"IHDR|Invalid SOS|Bogus|JPEG datastream contains no image")


class Captured:
    """The decoder lines printed during a block."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @property
    def damage(self) -> str | None:
        """The first line that says the image data is damaged, or None."""
        return next((line for line in self.lines if _DAMAGE.search(line)), None)


@contextmanager
def captured() -> Iterator[Captured]:
    result = Captured()
    with _LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no stderr: nothing to keep clean
            yield result
            return
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield result
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace")
        others: list[str] = []
        for line in text.splitlines():
            (result.lines if _DECODER_LINE.match(line.strip()) else others).append(line)
        if others:  # not a decoder's: another thread's, given back
            os.write(2, ("\n".join(others) + "\n").encode("utf-8", "replace"))
