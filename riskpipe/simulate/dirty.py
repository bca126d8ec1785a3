"""Defect injection and the defect manifest.

Every file-level table (a dict of equal-length numpy arrays, "columns") passes through
:func:`inject` before it is written. Each row draws
one uniform number; the unit interval is partitioned by the configured rates, so a row gets
at most one defect and the realised rate of each type is binomial around its rate. Every
injected defect is appended to ``manifest/defects.jsonl`` with the file it lives in and a
key naming the row (for ``missing_month`` the row is, by design, absent from that file).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from riskpipe.core import uscc as uscc_mod

ROW_TYPES = (
    "duplicate",
    "late",
    "missing_month",
    "malformed_uscc",
    "unit_mix",
    "negative_amount",
    "absurd_amount",
    "future_date",
    "fullwidth",
)
ABSURD_MIN, ABSURD_MAX = 1e13, 9.9e13
MAX_LATE_FILES = 3
FORBIDDEN_LETTERS = "IOZSV"


class DefectLog:
    """Streams defect entries to ``defects.jsonl`` and counts them.

    Attributes:
        counts: Defects per (source, type).
        eligible: Rows (or files) that could have received each (source, type).
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("w", encoding="utf-8", newline="\n")
        self._next = 1
        self.counts: Counter = Counter()
        self.eligible: Counter = Counter()

    def record(self, defect_type: str, source: str, file: str | None, keys: list[dict], details: list[Any]) -> None:
        """Append one manifest line per key."""
        for key, detail in zip(keys, details):
            entry = {
                "defect_id": f"D{self._next:09d}",
                "defect_type": defect_type,
                "source": source,
                "file": file,
                "key": key,
                "detail": detail,
            }
            self._fh.write(json.dumps(entry, ensure_ascii=False, default=_json_default) + "\n")
            self._next += 1
        self.counts[(source, defect_type)] += len(keys)

    def close(self) -> None:
        """Flush and close the manifest file."""
        self._fh.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def to_fullwidth(text: str) -> str:
    """Convert printable ASCII (and the space) to full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def malform_uscc(code: str, rng: np.random.Generator) -> tuple[str, str]:
    """Corrupt a USCC so that it is invalid; returns (bad code, kind)."""
    kind = ("check_digit", "length", "forbidden_letter")[int(rng.integers(0, 3))]
    if kind == "check_digit":
        good = code[-1]
        options = [c for c in uscc_mod.ALPHABET if c != good]
        return code[:-1] + options[int(rng.integers(0, len(options)))], kind
    if kind == "length":
        if rng.random() < 0.5:
            return code[:-1], kind
        return code + str(int(rng.integers(0, 10))), kind
    pos = int(rng.integers(8, 17))
    letter = FORBIDDEN_LETTERS[int(rng.integers(0, len(FORBIDDEN_LETTERS)))]
    return code[:pos] + letter + code[pos + 1 :], kind


def absurd_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Absurd amounts around 1e13."""
    return np.round(rng.uniform(ABSURD_MIN, ABSURD_MAX, n), 2)


@dataclass
class Roles:
    """How a source's table is corrupted.

    Attributes:
        source: Source name for the manifest.
        key: Columns naming a row in the manifest.
        amounts: Numeric columns eligible for negative/absurd values.
        uscc: USCC column (malformed / full-width), if any.
        fullwidth: Column converted to full width (defaults to ``uscc``).
        future: Callable ``(cols, rows, rng) -> detail list`` moving dates into the future
            (modifies ``cols`` in place).
        extra: Source-specific ``type -> (eligible_mask_fn(cols), apply_fn(cols, rows, rng))``.
    """

    source: str
    key: tuple[str, ...]
    amounts: tuple[str, ...] = ()
    uscc: str | None = None
    fullwidth: str | None = None
    future: Callable | None = None
    extra: dict[str, tuple[Callable, Callable]] = field(default_factory=dict)


Columns = dict[str, np.ndarray]


def length(cols: Columns) -> int:
    """Number of rows of a column dict."""
    return len(next(iter(cols.values()))) if cols else 0


def take(cols: Columns, rows: np.ndarray) -> Columns:
    """Row subset of a column dict."""
    return {k: v[rows] for k, v in cols.items()}


def concat(parts: list[Columns]) -> Columns:
    """Concatenate column dicts with the same keys."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _py(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("ascii")
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class LateBuffer:
    """Rows held back to be delivered in a later file."""

    def __init__(self) -> None:
        self._held: dict[int, list[tuple[Columns, list[str]]]] = {}

    def hold(self, rows: Columns, origin: str, targets: np.ndarray) -> None:
        """Hold ``rows`` (from file ``origin``) until the file indices in ``targets``."""
        for target in np.unique(targets):
            sel = np.flatnonzero(targets == target)
            self._held.setdefault(int(target), []).append((take(rows, sel), [origin] * len(sel)))

    def release(self, index: int) -> tuple[Columns, list[str]] | None:
        """Rows due in file ``index`` and the files they were due in (or None)."""
        parts = self._held.pop(index, None)
        if not parts:
            return None
        return concat([p for p, _ in parts]), [o for _, origin in parts for o in origin]


def _keys(cols: Columns, rows: np.ndarray, key: tuple[str, ...]) -> list[dict]:
    return [{c: _py(cols[c][r]) for c in key} for r in rows]


def _notna(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return np.array([v is not None and v == v for v in values], dtype=bool)
    return np.ones(len(values), dtype=bool)


def _eligible_masks(cols: Columns, roles: Roles, can_be_late: bool) -> dict[str, np.ndarray]:
    n = length(cols)
    everything = np.ones(n, dtype=bool)
    nothing = ~everything
    width_col = roles.fullwidth or roles.uscc
    masks = {
        "duplicate": everything,
        "missing_month": everything,
        "late": everything if can_be_late else nothing,
        "malformed_uscc": _notna(cols[roles.uscc]) if roles.uscc else nothing,
        "fullwidth": _notna(cols[width_col]) if width_col else nothing,
        "negative_amount": everything if roles.amounts else nothing,
        "absurd_amount": everything if roles.amounts else nothing,
        "future_date": everything if roles.future else nothing,
        "unit_mix": nothing,
    }
    for name, (mask_fn, _) in roles.extra.items():
        masks[name] = mask_fn(cols)
    return masks


def inject(
    cols: Columns,
    roles: Roles,
    relpath: str,
    rates: dict[str, float],
    rng: np.random.Generator,
    log: DefectLog,
    late: LateBuffer | None = None,
    file_index: int = 0,
    last_index: int = 0,
) -> Columns:
    """Inject row-level defects into one file's columns.

    Args:
        cols: Clean rows of the file (not modified; copied).
        roles: Column roles of the source.
        relpath: File path relative to the output root (for the manifest).
        rates: Defect type -> rate (types absent or 0 are not injected).
        rng: Random generator of this file.
        log: Manifest log.
        late: Buffer for late rows (None: the source has no later files).
        file_index: Index of this file in the delivery sequence.
        last_index: Index of the last file (late rows never go past it).

    Returns:
        The dirty columns (rows held back for later files removed, duplicates added).
    """
    cols = {k: np.array(v, copy=True) for k, v in cols.items()}
    n = length(cols)
    types = [t for t in ROW_TYPES if rates.get(t, 0) > 0]
    masks = _eligible_masks(cols, roles, late is not None and file_index < last_index)
    edges = np.cumsum([rates[t] for t in types])
    draw = np.searchsorted(edges, rng.random(n), side="right")
    empty = np.array([], dtype=np.int64)
    chosen: dict[str, np.ndarray] = {}
    for i, t in enumerate(types):
        log.eligible[(roles.source, t)] += int(masks[t].sum())
        chosen[t] = np.flatnonzero((draw == i) & masks[t])
    missing = chosen.get("missing_month", empty)
    if len(missing):
        log.record(
            "missing_month",
            roles.source,
            relpath,
            _keys(cols, missing, roles.key),
            [{"note": "row not delivered"}] * len(missing),
        )
    for t, rows, det in _apply_values(cols, roles, chosen, rng):
        log.record(t, roles.source, relpath, _keys(cols, rows, roles.key), det)
    drop = np.zeros(n, dtype=bool)
    drop[missing] = True
    held = chosen.get("late", empty)
    if late is not None and len(held):
        targets = np.minimum(file_index + rng.integers(1, MAX_LATE_FILES + 1, len(held)), last_index)
        late.hold(take(cols, held), relpath, targets)
        drop[held] = True
    reps = np.where(drop, 0, 1)
    dups = chosen.get("duplicate", empty)
    dups = dups[~drop[dups]]
    reps[dups] = 2
    if len(dups):
        log.record("duplicate", roles.source, relpath, _keys(cols, dups, roles.key), [{"copies": 2}] * len(dups))
    return take(cols, np.repeat(np.arange(n), reps))


def release_late(late: LateBuffer, index: int, roles: Roles, relpath: str, log: DefectLog) -> Columns | None:
    """Rows held for file ``index``, recorded in the manifest as ``late``."""
    got = late.release(index)
    if got is None:
        return None
    rows, origin = got
    log.record(
        "late",
        roles.source,
        relpath,
        _keys(rows, np.arange(length(rows)), roles.key),
        [{"due_in_file": o} for o in origin],
    )
    return rows


def _apply_values(
    cols: Columns, roles: Roles, chosen: dict[str, np.ndarray], rng: np.random.Generator
) -> list[tuple[str, np.ndarray, list]]:
    """Apply value corruptions in place; returns (type, rows, details) triples."""
    out = []
    empty = np.array([], dtype=np.int64)
    rows = chosen.get("malformed_uscc", empty)
    if len(rows):
        col, det = cols[roles.uscc], []
        for r in rows:
            bad, kind = malform_uscc(col[r], rng)
            det.append({"kind": kind, "original": col[r]})
            col[r] = bad
        out.append(("malformed_uscc", rows, det))
    rows = chosen.get("fullwidth", empty)
    if len(rows):
        name = roles.fullwidth or roles.uscc
        col, det = cols[name], []
        for r in rows:
            det.append({"column": name, "original": col[r]})
            col[r] = to_fullwidth(col[r])
        out.append(("fullwidth", rows, det))
    for t in ("negative_amount", "absurd_amount"):
        rows = chosen.get(t, empty)
        if not len(rows):
            continue
        which = rng.integers(0, len(roles.amounts), len(rows))
        new = absurd_values(rng, len(rows))
        det = []
        for j, (r, c) in enumerate(zip(rows, which)):
            name = roles.amounts[c]
            old = float(cols[name][r])
            cols[name][r] = new[j] if t == "absurd_amount" else (-abs(old) if old else -1.0)
            det.append({"column": name, "original": old})
        out.append((t, rows, det))
    rows = chosen.get("future_date", empty)
    if len(rows):
        out.append(("future_date", rows, roles.future(cols, rows, rng)))
    for name, (_, apply_fn) in roles.extra.items():
        rows = chosen.get(name, empty)
        if len(rows):
            out.append((name, rows, apply_fn(cols, rows, rng)))
    return out
