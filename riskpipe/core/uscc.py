"""Unified Social Credit Code (统一社会信用代码, USCC) utilities.

Implements GB 32100-2015: an 18-character code over the alphabet
``0123456789ABCDEFGHJKLMNPQRTUWXY`` (character values 0-30, no I, O, Z, S, V),
laid out as::

    [0]    registration authority (9 = market regulation / 工商)
    [1]    entity type (1 = enterprise, 2 = individual business, 3 = farmer co-op)
    [2:8]  administrative division code of the registering authority (6 digits)
    [8:17] organisation code (GB 11714: 8 characters + its own check character)
    [17]   check character over positions 0..16

The check character: weights ``3**i mod 31`` for i = 0..16, ``check = 31 - (sum mod 31)``,
and a result of 31 maps to 0.

This module is shared by the simulator (generation) and the ingestion jobs (validation).
"""

from __future__ import annotations

import numpy as np

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
LENGTH = 18
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}

# GB 11714 organisation code: 8 body characters weighted, check = 11 - (sum mod 11).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Codes issued since 2015 mostly carry an "MA" prefix in the organisation-code part.
_MA_PREFIX_SHARE = 0.7


def check_digit(first17: str) -> str:
    """Compute the GB 32100-2015 check character.

    Args:
        first17: The first 17 characters of a USCC (upper case, USCC alphabet).

    Returns:
        The 18th (check) character.

    Raises:
        ValueError: If the input is not 17 characters of the USCC alphabet.
    """
    if len(first17) != LENGTH - 1:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    try:
        total = sum(_VALUES[ch] * w for ch, w in zip(first17, WEIGHTS))
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} not in the USCC alphabet") from exc
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value]


def is_valid(code: object) -> bool:
    """Tell whether ``code`` is a well-formed USCC with a correct check character.

    The check is strict: exactly 18 upper-case half-width characters of the USCC alphabet.
    Callers that want to accept full-width or lower-case input should normalise first
    (for example with :func:`normalise`).

    Args:
        code: Candidate value (anything; non-strings are invalid).

    Returns:
        True if valid.
    """
    if not isinstance(code, str) or len(code) != LENGTH:
        return False
    if any(ch not in _VALUES for ch in code):
        return False
    return check_digit(code[:17]) == code[17]


def normalise(code: object) -> object:
    """Map full-width characters to half-width, strip blanks and upper-case.

    Args:
        code: Raw value from a feed.

    Returns:
        The normalised string, or the input unchanged if it is not a string.
    """
    if not isinstance(code, str):
        return code
    out = []
    for ch in code:
        cp = ord(ch)
        if 0xFF01 <= cp <= 0xFF5E:
            ch = chr(cp - 0xFEE0)
        elif cp == 0x3000:
            ch = " "
        out.append(ch)
    return "".join(out).strip().upper()


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_check_digit(body8: str) -> str:
    """Compute the GB 11714 check character of an 8-character organisation-code body.

    Args:
        body8: Eight characters (digits or upper-case letters).

    Returns:
        ``0``-``9`` or ``X``.
    """
    value = 11 - sum(_org_value(ch) * w for ch, w in zip(body8, _ORG_WEIGHTS)) % 11
    if value == 10:
        return "X"
    return "0" if value == 11 else str(value)


def generate(rng: np.random.Generator, region_code: str, entity_type: str = "1", authority: str = "9") -> str:
    """Generate a random valid USCC.

    Args:
        rng: NumPy random generator (the only source of randomness).
        region_code: Six-digit administrative division code, e.g. ``"141102"``.
        entity_type: Entity type character (``"1"`` enterprise, ``"3"`` farmer co-op).
        authority: Registration authority character (``"9"`` market regulation).

    Returns:
        An 18-character code for which :func:`is_valid` is true.
    """
    if len(region_code) != 6 or not region_code.isdigit():
        raise ValueError(f"region code must be six digits, got {region_code!r}")
    if rng.random() < _MA_PREFIX_SHARE:
        tail = rng.integers(0, len(_ORG_BODY_CHARS), size=6)
        body = "MA" + "".join(_ORG_BODY_CHARS[i] for i in tail)
    else:
        body = "".join(str(d) for d in rng.integers(0, 10, size=8))
    first17 = authority + entity_type + region_code + body + org_check_digit(body)
    return first17 + check_digit(first17)
