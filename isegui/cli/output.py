"""What the command line shows: progress bars on a terminal, JSON when asked."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from isegui.core.one_line import one_line
from isegui.core.progress import Progress


@contextmanager
def progress_bar(description: str) -> Iterator[Progress]:
    """A Progress callback drawing a bar on stderr (only when stderr is a terminal)."""
    bar = tqdm(desc=description, unit="item", disable=None, file=sys.stderr, leave=False)
    try:
        def update(done: int, total: int, what: str) -> None:
            if bar.total != total:
                bar.reset(total=total)
            bar.n = done
            bar.refresh()
        yield update
    finally:
        bar.close()


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def print_warnings(warnings: list[str], limit: int = 30) -> None:
    for w in warnings[:limit]:
        print(f"warning: {one_line(w)}", file=sys.stderr)
    if len(warnings) > limit:
        print(f"... and {len(warnings) - limit} more warnings", file=sys.stderr)
