"""Column-level conforming used by every silver job (built-in functions only, no UDFs).

Real feeds mix full-width and half-width characters, bracket styles and company
suffixes, MWh and kWh, and put text where numbers belong. These helpers turn a
raw string column into a typed, conformed one and record parse failures as
named rules, so that a bad value sends its row to quarantine instead of
silently becoming null.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DataType, DateType, DoubleType, IntegerType, TimestampType

from riskpipe.core.frames import names_where

# Full-width ASCII variants U+FF01..U+FF5E map one-to-one onto U+0021..U+007E;
# U+3000 is the ideographic space.
_FULLWIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_HALFWIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "

# Suffix variants that name the same legal form; matched after width folding.
COMPANY_SUFFIX_CANONICAL = (
    ("有限责任公司", "有限公司"),
    ("股份有限公司", "股份公司"),
)
TRUE_STRINGS = ("true", "1", "yes", "y", "t")
FALSE_STRINGS = ("false", "0", "no", "n", "f")
KWH_PER_MWH = 1000.0


def to_halfwidth(col: Column) -> Column:
    """Fold full-width letters, digits, punctuation and spaces to half-width.

    Only a value with a multi-byte character can hold a full-width one; ``translate`` looks up
    every character, so pure ASCII values (most ids, codes and amounts) skip it.
    """
    ascii_only = F.octet_length(col) == F.char_length(col)
    return F.when(ascii_only, col).otherwise(F.translate(col, _FULLWIDTH, _HALFWIDTH))


def clean_text(col: Column) -> Column:
    """Half-width, trimmed, inner whitespace collapsed; empty becomes null."""
    folded = F.trim(F.regexp_replace(to_halfwidth(col), r"\s+", " "))
    return F.when(folded == "", F.lit(None)).otherwise(folded)


def normalise_uscc(col: Column) -> Column:
    """USCC as the registry writes it: half-width, upper case, no spaces."""
    return F.upper(F.regexp_replace(to_halfwidth(col), r"\s+", ""))


def normalise_company_name(col: Column) -> Column:
    """A matching key for company names.

    Folds width (so （）become ()), removes all whitespace and brackets' content
    spacing, upper-cases Latin letters and maps suffix variants to one form
    (有限责任公司 → 有限公司).
    """
    name = F.upper(F.regexp_replace(to_halfwidth(col), r"\s+", ""))
    name = F.regexp_replace(name, r"[\[【〔]", "(")
    name = F.regexp_replace(name, r"[\]】〕]", ")")
    for variant, canonical in COMPANY_SUFFIX_CANONICAL:
        name = F.regexp_replace(name, f"{variant}$", canonical)
    return name


def parse_bool(col: Column) -> Column:
    lowered = F.lower(F.trim(col))
    return F.when(lowered.isin(*TRUE_STRINGS), F.lit(True)).when(lowered.isin(*FALSE_STRINGS), F.lit(False))


def parse_period(col: Column) -> Column:
    """``YYYY-MM`` (or ``YYYYMM`` / a full date) to the first day of that month."""
    text = F.trim(to_halfwidth(col))
    return F.coalesce(
        F.to_date(text, "yyyy-MM"),
        F.to_date(text, "yyyyMM"),
        F.trunc(F.to_date(text, "yyyy-MM-dd"), "month"),
    )


def parse_value(col: Column, dtype: DataType) -> Column:
    """Parse a raw string into ``dtype`` (null when it cannot be parsed)."""
    text = F.trim(to_halfwidth(col.cast("string")))
    if isinstance(dtype, BooleanType):
        return parse_bool(text)
    if isinstance(dtype, DateType):
        return F.coalesce(F.to_date(text, "yyyy-MM-dd"), F.to_date(text, "yyyy/MM/dd"), F.to_date(text, "yyyyMMdd"))
    if isinstance(dtype, TimestampType):
        return F.to_timestamp(text)
    if isinstance(dtype, (DoubleType, IntegerType)):
        # try_cast: an unparseable value becomes null and is reported by parse_failed
        return F.regexp_replace(text, ",", "").try_cast(dtype)
    return text.cast(dtype)


def parse_failed(raw: Column, parsed: Column) -> Column:
    """True when a non-blank raw value did not parse."""
    present = raw.isNotNull() & (F.trim(raw.cast("string")) != "")
    return present & parsed.isNull()


def parse_errors(checks: Iterable[tuple[str, Column]]) -> Column:
    """Array of the rule names whose failure condition is true (empty when none)."""
    return names_where(checks)


def electricity_to_kwh(consumption: Column, unit: Column) -> Column:
    """Normalise consumption delivered in MWh to kWh; other units pass through."""
    return F.when(F.upper(F.trim(unit)) == "MWH", consumption * F.lit(KWH_PER_MWH)).otherwise(consumption)


def normalised_unit(unit: Column) -> Column:
    """The unit after normalisation: kWh for kWh/MWh, m3 for water, else as given."""
    upper = F.upper(F.trim(to_halfwidth(unit)))
    return (
        F.when(upper.isin("KWH", "MWH"), F.lit("kWh"))
        .when(upper.isin("M3", "M³", "CUBIC_METRE"), F.lit("m3"))
        .otherwise(F.trim(unit))
    )


def record_hash(columns: Iterable[str]) -> Column:
    """SHA-256 over the payload columns; nulls and field boundaries are unambiguous."""
    parts = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000")) for c in columns]
    return F.sha2(F.concat_ws("\u001f", *parts), 256)
