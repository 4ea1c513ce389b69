"""Where a project is kept: one store interface on two engines (an SQLite file, the embedded
default, or a team's PostgreSQL), its schema and migrations, the project lock, network-share
rules, team files and team images.

Callers take the store from here (`from isegui.core.store import Store`); the modules of this
package import one another by their own names, never through this file.
"""

from __future__ import annotations

from isegui.core.store.base import WRITE_FAILURES, now_iso, write_failure_in_words
from isegui.core.store.project_data import Store

__all__ = ["WRITE_FAILURES", "Store", "now_iso", "write_failure_in_words"]
