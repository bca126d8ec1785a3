"""Simple point-in-time aggregates computed from the delivered files (test helper).

Used by the calibration tests: a plain logistic regression on these features, trained on
earlier month-end snapshots and tested on later ones, must reach a moderate AUC. Only the
delivered files are read (never ``truth/``) except for the default labels.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from riskpipe.core import uscc as uscc_mod

FEATURES = ["sales_growth", "zero_or_missing_6m", "arrears_flag", "elec_yoy", "unpaid_bills_6m", "defendant_12m"]
ABSURD = 1e11
MWH_TO_KWH = 1000.0


def normalise_name(name: str) -> str:
    """Court-name normalisation: half-width, no spaces, one company suffix."""
    text = uscc_mod.normalise(name) if isinstance(name, str) else ""
    text = text.replace(" ", "").replace("(", "（").replace(")", "）")
    return text.replace("有限责任公司", "有限公司")


def _file_month(path: str) -> pd.Period:
    return pd.Period(re.search(r"_(\d{6})(?:_redelivery)?\.", path).group(1), "M")


def load_tax(root: Path) -> pd.DataFrame:
    """Original (non-amendment) filings with their delivery month, defects made harmless."""
    parts = []
    for path in sorted(glob.glob(str(root / "tax/filings/tax_filings_??????.csv"))):
        df = pd.read_csv(path, dtype=str, on_bad_lines="skip")
        df["delivered"] = _file_month(path)
        parts.append(df)
    tax = pd.concat(parts, ignore_index=True)
    tax = tax[tax["is_amendment"] == "false"].copy()
    tax["uscc"] = tax["uscc"].map(uscc_mod.normalise)
    tax["sales"] = pd.to_numeric(tax["taxable_sales"], errors="coerce").clip(0, ABSURD)
    tax["arrears"] = pd.to_numeric(tax["arrears_amount"], errors="coerce").clip(0, ABSURD)
    tax["period"] = pd.PeriodIndex(tax["period"], freq="M")
    return tax.drop_duplicates(["uscc", "period"])


def load_power(root: Path) -> pd.DataFrame:
    """Electricity reads in kWh, with their delivery month."""
    parts = []
    for path in sorted(glob.glob(str(root / "utility/utility_reads_??????.jsonl"))):
        df = pd.read_json(path, lines=True, dtype={"uscc": str, "period": str})
        df["delivered"] = _file_month(path)
        parts.append(df)
    u = pd.concat(parts, ignore_index=True)
    u["uscc"] = u["uscc"].map(uscc_mod.normalise)
    u["kwh"] = np.where(u["unit"] == "MWh", u["consumption"] * MWH_TO_KWH, u["consumption"])
    u["kwh"] = u["kwh"].clip(0, ABSURD)
    u["unpaid"] = ~u["paid_flag"].astype(bool)
    u["period"] = pd.PeriodIndex(u["period"], freq="M")
    u = u.drop_duplicates(["meter_id", "period"])
    return u


def load_court(root: Path, registry: pd.DataFrame) -> pd.DataFrame:
    """Defendant case filings matched to USCCs by normalised name (or by party_uscc)."""
    rows = [json.loads(line) for line in open(root / "court/events.jsonl", encoding="utf-8") if line.strip()]
    ev = pd.DataFrame(rows).drop_duplicates("event_id")
    ev = ev[(ev["event_type"] == "case_filed") & (ev["role"] == "defendant")].copy()
    by_name = dict(zip(registry["company_name"].map(normalise_name), registry["uscc"]))
    ev["uscc"] = ev["party_name"].map(normalise_name).map(by_name)
    ev["event_date"] = pd.to_datetime(ev["event_date"], errors="coerce")
    ev["published_date"] = pd.to_datetime(ev["published_date"], errors="coerce")
    return ev.dropna(subset=["uscc", "event_date"])


def _window_sum(df: pd.DataFrame, value: str, lo: pd.Period, hi: pd.Period) -> pd.Series:
    sel = df[(df["period"] >= lo) & (df["period"] <= hi)]
    return sel.groupby("uscc")[value].sum()


def snapshot_features(
    snap: pd.Period, tax: pd.DataFrame, power: pd.DataFrame, court: pd.DataFrame, usccs: pd.Index
) -> pd.DataFrame:
    """Features as of the end of month ``snap`` (only files delivered by then)."""
    t = tax[tax["delivered"] <= snap]
    p = power[power["delivered"] <= snap]
    last = snap - 1
    recent = _window_sum(t, "sales", last - 2, last).reindex(usccs, fill_value=0)
    year_ago = _window_sum(t, "sales", last - 14, last - 12).reindex(usccs, fill_value=0)
    six = t[(t["period"] >= last - 5) & (t["period"] <= last)]
    filed_nonzero = six[six["sales"] > 0].groupby("uscc").size().reindex(usccs, fill_value=0)
    latest = t[t["period"] == last].set_index("uscc")["arrears"].reindex(usccs, fill_value=0)
    e_recent = _window_sum(p, "kwh", last - 2, last).reindex(usccs, fill_value=0)
    e_year = _window_sum(p, "kwh", last - 14, last - 12).reindex(usccs, fill_value=0)
    unpaid = p[(p["period"] >= last - 5) & (p["period"] <= last)].groupby("uscc")["unpaid"].sum()
    end = snap.to_timestamp(how="end")
    c = court[(court["published_date"] <= end) & (court["event_date"] > end - pd.DateOffset(months=12))]
    return pd.DataFrame(
        {
            "sales_growth": np.log1p(recent) - np.log1p(year_ago),
            "zero_or_missing_6m": 6 - filed_nonzero,
            "arrears_flag": (latest > 0).astype(float),
            "elec_yoy": np.log1p(e_recent) - np.log1p(e_year),
            "unpaid_bills_6m": unpaid.reindex(usccs, fill_value=0),
            "defendant_12m": c.groupby("uscc").size().reindex(usccs, fill_value=0),
        },
        index=usccs,
    )


def active_borrowers(root: Path, snap: pd.Period) -> set[str]:
    """USCCs with a performing loan (DPD < 90) on the last business day of ``snap``."""
    end = snap.to_timestamp(how="end").normalize()
    for back in range(0, 7):
        day = (end - pd.Timedelta(days=back)).strftime("%Y%m%d")
        path = root / f"bank/loan_balances/loan_balances_{day}.parquet"
        if path.exists():
            bal = pd.read_parquet(path)
            ok = bal[(bal["status"] == "active") & (bal["days_past_due"] < 90)]
            return set(ok["uscc"])
    return set()


def default_labels(root: Path, borrowers: set[str], snap: pd.Period, horizon_months: int = 12) -> pd.Series:
    """1 if the enterprise defaults within the horizon after the snapshot."""
    d = pd.read_parquet(root / "truth/defaults.parquet")
    end = snap.to_timestamp(how="end")
    hit = d[
        (pd.to_datetime(d["default_date"]) > end)
        & (pd.to_datetime(d["default_date"]) <= end + pd.DateOffset(months=horizon_months))
    ]
    idx = pd.Index(sorted(borrowers))
    return pd.Series(idx.isin(set(hit["uscc"])).astype(int), index=idx)


def build_panel(root: Path, snaps: list[pd.Period]) -> pd.DataFrame:
    """Stacked (snapshot, uscc) rows with features and the 12-month default label."""
    registry = pd.read_csv(root / "registry/enterprises.csv", dtype=str)
    tax, power = load_tax(root), load_power(root)
    court = load_court(root, registry)
    frames = []
    for snap in snaps:
        borrowers = active_borrowers(root, snap)
        labels = default_labels(root, borrowers, snap)
        feats = snapshot_features(snap, tax, power, court, labels.index)
        feats["default_12m"] = labels
        feats["snapshot"] = snap
        frames.append(feats)
    return pd.concat(frames)
