# Two commands for a newcomer: `make run` (the app on the demo project) and `make test`.
# `make run` checks for a display and Qt's system libraries first and says what to install.
# `make package` builds the one-folder app (dist/isegui, build.spec) and runs its self-test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo-project

.PHONY: run test test-fast lint venv postgres package package-line line-model clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "isegui needs Python 3.11 or newer; this is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the package's requirements change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $@

venv: $(VENV)/.installed

run: venv
	@test -f $(DEMO)/project.isegui || $(BIN)/isegui demo $(DEMO)
	@$(BIN)/python -m isegui.gui.display_check
	$(BIN)/isegui $(DEMO)

test: venv postgres lint
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

# the fast lane while working: every test but those marked slow (training runs, processes)
test-fast: venv postgres lint
	@$(BIN)/python -m pytest -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

# PostgreSQL's server for the team-store tests (they start a private one: tests/pg_fixtures.py);
# installed from apt when missing
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	   test -x "$$(pg_config --bindir 2>/dev/null)/initdb"; then exit 0; fi; \
	echo "PostgreSQL's server is missing (the team-store tests need it): installing postgresql"; \
	sudo=; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	{ $$sudo apt-get update && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } || { \
	  echo "could not install PostgreSQL: run 'sudo apt-get install postgresql' and retry"; exit 1; }

# ruff (pyproject's rules), import-linter (the layers: core has no Qt or torch, ml no Qt) and
# mypy (pyproject's [tool.mypy]: strict on core, ml and testing; the GUI and the command line
# checked too, bodies of unannotated functions included, but not strict)
lint: venv
	$(BIN)/ruff check isegui tests bench scripts
	$(BIN)/lint-imports
	$(BIN)/mypy isegui/core isegui/ml isegui/testing isegui/exit_codes.py isegui/gui isegui/cli \
		isegui/runtime.py isegui/line_main.py isegui/selftest.py
	@# the line PC and the packaged app run on Windows: core and ml as its Python sees them
	$(BIN)/mypy --platform win32 isegui/core isegui/ml isegui/runtime.py isegui/line_main.py

# ISEGUI_NO_CUDA=1 passes through to build.spec (see its header). Both folders, each with its
# own self-test: dist/isegui (the app) and dist/isegui-line (the line PC's, no torch).
package: venv line-model
	@# the pretrained weights to bundle; offline, the build goes on without them (it warns)
	-$(BIN)/python scripts/fetch_weights.py --out build/weights
	@# the app's folder holds torch's CUDA libraries (~5 GB): said before PyInstaller fails on it
	@$(BIN)/python -c 'import shutil, sys; free = shutil.disk_usage(".").free / 2**30; \
	sys.exit(0 if free >= 6 else f"make package needs about 6 GB free on this disk for dist/ (torch with CUDA is ~5 GB); {free:.1f} GB is free")'
	@start=$$(date +%s); \
	$(BIN)/pyinstaller --noconfirm build.spec || exit 1; \
	echo "build time: $$(( $$(date +%s) - start )) s"
	dist/isegui-line/isegui-watch self-test
	dist/isegui/isegui-cli self-test
	@$(BIN)/python scripts/package_report.py dist/isegui-line dist/isegui

# the line folder alone, into dist/isegui-line/
package-line: venv line-model
	@start=$$(date +%s); \
	ISEGUI_BUILD=line $(BIN)/pyinstaller --noconfirm build.spec || exit 1; \
	echo "build time: $$(( $$(date +%s) - start )) s"
	dist/isegui-line/isegui-watch self-test
	@$(BIN)/python scripts/package_report.py dist/isegui-line

# PyInstaller, and the untrained model the line folder's self-test runs (it has no torch)
line-model: venv
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[package]"
	$(BIN)/python -c 'from pathlib import Path; from isegui.selftest import export_self_test_model as e; e(Path("build/line-self-test/model.onnx"))'

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache build dist
