"""`isegui self-test`: does this installation work? One line per check, exit 0 when all pass.
For support on a line PC, and for the packaged build before it ships."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("self-test", help="check that this installation works (about a minute)",
                       description="Imports every module, runs torchvision's compiled ops, a "
                       "CPU forward pass of each model, one training step in a process of its "
                       "own, and opens and closes the main window off screen, in a temporary "
                       "folder. Exits 0 when every check passes.")
    p.add_argument("--line", action="store_true",
                   help="the line folder's checks only: onnxruntime, the watch, the station")
    p.set_defaults(handler=run_self_test_command)


def run_self_test_command(args) -> int:
    from isegui.logs import log_folder
    from isegui.selftest import describe_environment, describe_pretrained, run_self_test
    print(describe_environment(), flush=True)
    if not args.line:
        print(f"pretrained weights: {describe_pretrained()}", flush=True)
    start = time.perf_counter()

    def report(result) -> None:
        print(f"{'ok' if result.ok else 'FAILED':<7}{result.name:<20}{result.seconds:6.1f} s  "
              f"{result.detail}", flush=True)

    results = run_self_test(report, line=args.line)
    failed = [r.name for r in results if not r.ok]
    total = time.perf_counter() - start
    if failed:
        print(f"self-test FAILED ({', '.join(failed)}) after {total:.1f} s; details in the log "
              f"folder {log_folder()}", file=sys.stderr)
        return 1
    print(f"self-test passed: {len(results)} checks in {total:.1f} s")
    return 0
