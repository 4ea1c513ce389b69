"""Fetches the pretrained weights the packaged program ships, at BUILD time, on a machine with
the internet (the build runner): torchvision's ImageNet backbone weights of the registered
models, from the pinned list beside this script (pretrained_weights.json: URL, file name,
SHA-256). Each file is verified before it is kept in build/weights/, which build.spec bundles as
`weights/`. The program itself never downloads anything.

Verification: the full SHA-256 where the list pins it; otherwise the first hex digits of the
SHA-256 that torchvision puts in the file name (what torch.hub checks), and the full hash is
printed so a maintainer can pin it. Standard library only.

    python scripts/fetch_weights.py                      # download into build/weights
    python scripts/fetch_weights.py --source DIR         # take the files from DIR (offline)
    python scripts/fetch_weights.py --require-full-hash  # fail unless every hash is pinned
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINNED = HERE / "pretrained_weights.json"
DEFAULT_OUT = HERE.parent / "build" / "weights"
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")  # torch.hub's rule for torchvision's names
TIMEOUT_S = 120


class FetchError(Exception):
    pass


def load_pinned(path: Path) -> list[dict]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["weights"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"{path}: not a list of pinned weights ({exc})") from None
    for entry in entries:
        missing = [k for k in ("model", "url", "file") if not entry.get(k)]
        if missing:
            raise FetchError(f"{path}: an entry lacks {', '.join(missing)}: {entry}")
        if not entry.get("sha256") and not HASH_IN_NAME.search(entry["file"]):
            raise FetchError(f"{path}: {entry['file']} has neither a pinned sha256 nor a hash "
                             "in its name: nothing to verify it by")
    return entries


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, entry: dict) -> str:
    """The file's full SHA-256, once it matches what the entry pins (or its name's prefix)."""
    digest = sha256_of(path)
    pinned = entry.get("sha256", "").lower()
    if pinned and digest != pinned:
        raise FetchError(f"{entry['file']}: SHA-256 {digest} is not the pinned {pinned}")
    if not pinned:
        prefix = HASH_IN_NAME.search(entry["file"]).group(1)
        if not digest.startswith(prefix):
            raise FetchError(f"{entry['file']}: SHA-256 {digest} does not begin with {prefix}, "
                             "the hash in its name")
    return digest


def fetch(entry: dict, out: Path, source: Path | None) -> tuple[Path, str, str]:
    """(the verified file in `out`, its SHA-256, what was done)."""
    target = out / entry["file"]
    if target.is_file():
        try:
            return target, verify(target, entry), "kept"
        except FetchError:
            target.unlink()  # an old or damaged file: fetch it again
    out.mkdir(parents=True, exist_ok=True)
    part = out / f".{entry['file']}.part"
    try:
        if source is not None:
            origin = source / entry["file"]
            if not origin.is_file():
                raise FetchError(f"{origin}: not found in the source folder")
            shutil.copyfile(origin, part)
            how = f"copied from {source}"
        else:
            with urllib.request.urlopen(entry["url"], timeout=TIMEOUT_S) as response, \
                    open(part, "wb") as f:
                shutil.copyfileobj(response, f, 1 << 20)
            how = f"downloaded from {entry['url']}"
        digest = verify(part, entry)
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target, digest, how


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: build/weights")
    parser.add_argument("--source", type=Path, help="a folder to take the files from instead "
                        "of downloading them")
    parser.add_argument("--list", type=Path, default=PINNED, help="the pinned list (default: "
                        "pretrained_weights.json beside this script)")
    parser.add_argument("--require-full-hash", action="store_true",
                        help="fail when an entry has no full SHA-256 pinned")
    args = parser.parse_args(argv)
    try:
        entries = load_pinned(args.list)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for entry in entries:
        try:
            path, digest, how = fetch(entry, args.out, args.source)
        except (FetchError, OSError) as exc:  # urllib's errors are OSErrors
            print(f"error: {entry['file']} ({entry['model']}): {exc}", file=sys.stderr)
            failed += 1
            continue
        note = "" if entry.get("sha256") else " (not pinned: copy it into the list's sha256)"
        print(f"{path} ({path.stat().st_size / 2**20:.1f} MB, {entry['model']}): {how}; "
              f"sha256 {digest}{note}")
    unpinned = [e["file"] for e in entries if not e.get("sha256")]
    if args.require_full_hash and unpinned:
        print(f"error: --require-full-hash: no full SHA-256 pinned in {args.list} for "
              f"{', '.join(unpinned)}", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
