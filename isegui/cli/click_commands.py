"""`isegui train-clicks DIR`: the project's click model, learned from its labeled instances
(the click tool, box -> mask and propagate use it once it exists)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-clicks", help="train the project's click model from its labeled instances",
        description="Learns how the project's objects are outlined from a click or two "
        "(click_model.pt in the project folder, replaced when done). Uses the train split's "
        "instances only; a tenth of its images are held out for the figures it prints.")
    p.add_argument("dir", type=Path, help="the project folder")
    p.add_argument("--minutes", type=float, default=3.0, help="how long to train (3)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, help=argparse.SUPPRESS)
    p.add_argument("--progress", choices=["bar", "jsonl"], default="bar",
                   help="jsonl: one JSON event per line on stdout (for the app)")
    p.set_defaults(handler=run_train_clicks)


def run_train_clicks(args) -> int:
    from isegui.ml.click.train import ClickTrainSpec, train_click_model
    from isegui.ml.click.words import holdout_in_words
    from isegui.ml.run_protocol import EXIT_CANCELLED, EXIT_OK, CancelToken
    if not args.minutes > 0 or args.minutes > 24 * 60:
        raise SystemExit("error: --minutes must be more than 0 and at most a day")
    cancel = CancelToken()
    if args.progress == "jsonl" and not sys.stdin.isatty():
        cancel.watch_stdin()

    def report(kind: str, fields: dict) -> None:
        if args.progress == "jsonl":
            print(json.dumps({"event": kind, **fields}, ensure_ascii=False))
            sys.stdout.flush()
        elif kind == "start":
            print(f"click model: {fields['instances']} instances of {fields['images']} images "
                  f"(another {fields['holdout_images']} held out), on {fields['device']}",
                  file=sys.stderr)
        elif kind == "step":
            print(f"  step {fields['step']}: loss {fields['loss']:.3f} "
                  f"({fields['elapsed_s']:.0f} s)", file=sys.stderr)

    try:
        info = train_click_model(
            ClickTrainSpec(args.dir.resolve(), minutes=args.minutes, device=args.device,
                           seed=args.seed, max_steps=args.max_steps),
            report, lambda: cancel.cancelled)
    except KeyboardInterrupt:
        info = None
    if info is None:
        print("click model: stopped; the project's click model is as it was", file=sys.stderr)
        return EXIT_CANCELLED
    if args.progress == "bar":
        print(f"click model: {info.steps} steps in {info.seconds:.0f} s, saved in "
              f"{args.dir / 'click_model.pt'}; {holdout_in_words(info.holdout)}")
    return EXIT_OK
