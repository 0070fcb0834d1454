"""The result cache: one JSON file per run outcome, named by the run's key.

The key (`run.cache_key`) hashes the IR after the front end, the run's options and the tool
version, and the tool version includes a digest of the compiler's and simulator's source: any
change to what a run computes gives new keys, so a stale entry is never read. Entries are
written whole (to a temporary file, then renamed), so an interrupted study leaves none half
written. Default folder: `$XDG_CACHE_HOME/fsedp/study` (`~/.cache/fsedp/study`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.study.run import Outcome

# The source a run's result depends on; the study package only reads and shows results.
_SOURCES = ("fsedp_compiler", "dialects", "passes", "backends")
_SKIPPED = ("study",)


def default_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fsedp", "study")


@cache
def tool_version() -> str:
    """`fsedp VERSION+DIGEST`: the package version and a digest of the source that runs."""
    try:
        number = version("fsedp")
    except PackageNotFoundError:
        number = "unknown"
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _SOURCES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root)
            if path.suffix in (".py", ".lark") and relative.parts[1] not in _SKIPPED:
                digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"fsedp {number}+{digest.hexdigest()[:16]}"


class Cache:
    def __init__(self, folder: str):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> Outcome | None:
        try:
            data = json.loads(self._path(key).read_text())
            return Outcome.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: run it again

    def put(self, key: str, outcome: Outcome) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as stream:
                json.dump(outcome.to_json(), stream, sort_keys=True)
            os.replace(stream.name, path)
        except OSError as error:
            raise FsedpError(f"cannot write the result cache {self.folder}: {error}") from None
