"""One writer per kind of data: in the window, only the session and the document write to the
project's store; panels, tools and commands go through them (so every write is announced and
guarded). Read from the code, as the layer test reads imports."""

import ast
import inspect
import re
from pathlib import Path

import isegui.gui
from isegui.core.store import Store

WRITERS = {"session.py", "document.py"}


def _store_writes() -> set[str]:
    """Store methods that write: a transaction or SQL that changes rows, or a call of one."""
    sources = {name: inspect.getsource(fn)
               for name, fn in inspect.getmembers(Store, inspect.isfunction)}
    writes = {name for name, src in sources.items() if name != "transaction" and re.search(
        r"self\.transaction\(\)|\bINSERT\b|\bUPDATE\b|\bDELETE\b", src)}
    while True:  # and those that call a writer
        more = {name for name, src in sources.items() if name not in writes and any(
            f"self.{w}(" in src for w in writes)}
        if not more:
            return writes
        writes |= more


def _store_calls(tree: ast.AST, methods: set[str]):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in methods):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "store":
                yield node.lineno, node.func.attr


def test_only_the_session_and_the_document_write_to_the_store():
    methods = _store_writes()
    assert {"add_class", "take_predictions", "update_instance", "set_meta"} <= methods
    root = Path(isegui.gui.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name in WRITERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(root)}:{line} store.{name}"
                  for line, name in _store_calls(tree, methods)]
    assert found == []


def test_the_scan_sees_a_write_where_there_is_one():
    methods = _store_writes()
    tree = ast.parse("def f(self):\n    self.session.store.add_class('x')\n"
                     "    store.classes()\n")
    assert list(_store_calls(tree, methods)) == [(2, "add_class")]
