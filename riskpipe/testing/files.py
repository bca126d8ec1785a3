"""Data files taken away for a block: a read that does not skip them fails with "file does not exist"."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse


def local_path(uri: str) -> Path:
    """A ``file:`` URI (e.g. ``_metadata.file_path``) or a plain path as a local path."""
    return Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)


@contextlib.contextmanager
def moved_away(paths: Iterable[str | Path]) -> Iterator[list[Path]]:
    """Rename ``paths`` to ``_away_<name>`` for the block and put them back after it."""
    moved = [local_path(p) if isinstance(p, str) else p for p in paths]
    for path in moved:
        path.rename(path.with_name(f"_away_{path.name}"))
    try:
        yield moved
    finally:
        for path in moved:
            path.with_name(f"_away_{path.name}").rename(path)
