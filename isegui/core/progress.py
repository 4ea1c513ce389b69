"""How long operations report progress: a plain callable, so core needs no UI."""

from __future__ import annotations

from collections.abc import Callable

# progress(done, total, what): `what` names the item just finished (a file, an image)
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, what: str) -> None:
    pass
