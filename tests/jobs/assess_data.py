"""Test data of the pre-loan assessment: a tiny silver lakehouse and a champion on catalogue features.

Applicants (silver rows built from the ``schemas`` specs):

* ``GOOD``: registered 2012, monthly VAT filings since 2019 with sales growing 10% a year,
  electricity up 10% a year, no court record, one performing loan of 300,000 CNY;
* ``LISTED``: the same excellent profile, government-recommended, and put on the
  dishonest-debtor list on 2021-06-03 (published, hence known, from 2021-06-08).

The champion is a scorecard trained on a synthetic sample of six catalogue features with a
known logistic default relationship, so the assessment's own features feed it.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd

from riskpipe.core import io
from riskpipe.core.uscc import check_digit
from schemas.registry import get


def uscc(i: int) -> str:
    body = f"91141100MA0{i:06d}"[:17]
    return body + check_digit(body)


GOOD, LISTED = uscc(901), uscc(902)
LISTING_DATE, LISTING_PUBLISHED = dt.date(2021, 6, 3), dt.date(2021, 6, 8)
MODEL_FEATURES = {  # log-odds effect per unit
    "tax_sales_growth_12m": -3.0,
    "util_elec_yoy_3m": -2.5,
    "court_defendant_cases_12m": 0.6,
    "tax_arrears_latest": 0.0001,
    "ent_age_months": -0.004,
    "tax_zero_filings_12m": 0.3,
}
FIRST_PERIOD, LAST_PERIOD = dt.date(2019, 1, 1), dt.date(2021, 6, 1)


def _next_month(day: dt.date, day_of_month: int = 1) -> dt.date:
    return dt.date(day.year + (day.month == 12), day.month % 12 + 1, day_of_month)


def _periods() -> list[dt.date]:
    out, period = [], FIRST_PERIOD
    while period <= LAST_PERIOD:
        out.append(period)
        period = _next_month(period)
    return out


_HASHES = itertools.count()


def _version(row: dict) -> dict:
    return {"known_to": None, "is_current": True, "_batch_id": "b1", "_record_hash": f"h{next(_HASHES)}", **row}


def _monthly(code: str) -> tuple[list[dict], list[dict]]:
    filings, reads = [], []
    for n, period in enumerate(_periods()):
        growth = 1.1 ** (n / 12)
        sales = round(400_000.0 * growth, 2)
        filings.append(
            _version(
                dict(
                    uscc=code,
                    period=period,
                    filing_date=_next_month(period, 10),
                    taxable_sales=sales,
                    vat_paid=round(sales * 0.03, 2),
                    arrears_amount=0.0,
                    penalty_amount=0.0,
                    is_amendment=False,
                    known_from=_next_month(period, 16),
                )
            )
        )
        reads.append(
            _version(
                dict(
                    meter_id=f"E-{code}",
                    uscc=code,
                    utility_type="electricity",
                    period=period,
                    read_date=_next_month(period, 3),
                    consumption=round(20_000 * growth, 1),
                    unit="kWh",
                    bill_amount=round(12_000 * growth, 2),
                    paid_flag=True,
                    arrears_amount=0.0,
                    known_from=_next_month(period, 11),
                )
            )
        )
    return filings, reads


def _loan(code: str) -> tuple[list[dict], list[dict]]:
    start = dt.date(2020, 7, 1)
    contract = _version(
        dict(
            loan_id="LN-GOOD",
            uscc=code,
            product="Y_MODEL_WORKING_CAPITAL",
            principal=300_000.0,
            credit_limit=300_000.0,
            interest_rate=0.05,
            start_date=start,
            maturity_date=dt.date(2022, 7, 1),
            fund_coverage_share=0.6,
            gov_recommended=False,
            status="active",
            known_from=start + dt.timedelta(days=1),
        )
    )
    balances, day = [], start
    while day <= dt.date(2021, 6, 29):
        balances.append(
            dict(
                loan_id="LN-GOOD",
                uscc=code,
                as_of_date=day,
                outstanding_principal=300_000.0,
                undrawn_amount=0.0,
                overdue_principal=0.0,
                days_past_due=0,
                repaid_amount=0.0,
                status="active",
                as_of_month=f"{day:%Y-%m}",
                known_from=day + dt.timedelta(days=1),
                is_current=True,
                _batch_id="b1",
                _record_hash=f"h{day}",
            )
        )
        day += dt.timedelta(days=7)
    return [contract], balances


def silver_rows() -> dict[str, list[dict]]:
    """Silver table name -> rows of the two applicants."""
    data: dict[str, list[dict]] = {
        t: []
        for t in (
            "enterprises",
            "tax_filings",
            "tax_ratings",
            "utility_reads",
            "court_events",
            "transactions",
            "loans",
            "loan_balances",
        )
    }
    for code, name, recommended in ((GOOD, "核桃食品有限公司", False), (LISTED, "红枣加工有限公司", True)):
        data["enterprises"].append(
            _version(
                dict(
                    uscc=code,
                    company_name=name,
                    county="离石区",
                    industry="walnut",
                    size_class="small",
                    founded_date=dt.date(2012, 3, 1),
                    gov_recommended=recommended,
                    recommended_date=dt.date(2020, 1, 1) if recommended else None,
                    known_from=dt.date(2019, 1, 1),
                )
            )
        )
        filings, reads = _monthly(code)
        data["tax_filings"] += filings
        data["utility_reads"] += reads
        data["tax_ratings"].append(
            _version(
                dict(
                    uscc=code,
                    rating_year=2020,
                    rating="A",
                    published_date=dt.date(2021, 4, 20),
                    known_from=dt.date(2021, 4, 21),
                )
            )
        )
    data["court_events"].append(
        _version(
            dict(
                event_id="CE-LISTED",
                case_id="(2021)晋11执123号",
                event_type="dishonest_listed",
                event_date=LISTING_DATE,
                published_date=LISTING_PUBLISHED,
                party_name="红枣加工有限公司",
                role="defendant",
                cause="contract",
                amount=80_000.0,
                uscc=LISTED,
                uscc_match="given",
                known_from=LISTING_PUBLISHED,
            )
        )
    )
    data["loans"], data["loan_balances"] = _loan(GOOD)
    return data


def silver_frames(spark) -> dict:
    """Silver table name -> DataFrame of :func:`silver_rows` with exactly the declared schema."""
    return {table: get(table).rows_to_df(spark, rows) for table, rows in silver_rows().items()}


def write_silver(spark, settings) -> None:
    """Write the silver tables to the (test) lakehouse of ``settings``, one commit per table (fast)."""
    for table, df in silver_frames(spark).items():
        spec = get(table)
        df.write.format("delta").partitionBy(*spec.partition_by).save(io.table_path(spec, settings=settings))


def training_data(n_ids: int = 250, months: int = 12, seed: int = 11):
    """A :class:`models.data.TrainingData` on the catalogue features of ``MODEL_FEATURES`` (~4% defaults)."""
    from models.data import TrainingData, out_of_time_split

    rng = np.random.default_rng(seed)
    n = n_ids * months
    frame = pd.DataFrame(
        {
            "uscc": np.tile([uscc(i) for i in range(n_ids)], months),
            "snapshot_date": np.repeat(pd.date_range("2020-01-31", periods=months, freq="ME").date, n_ids),
            "tax_sales_growth_12m": rng.normal(0.0, 0.25, n),
            "util_elec_yoy_3m": rng.normal(1.0, 0.2, n),
            "court_defendant_cases_12m": rng.poisson(0.3, n).astype(float),
            "tax_arrears_latest": rng.exponential(5_000, n) * (rng.random(n) < 0.3),
            "ent_age_months": rng.uniform(6, 240, n),
            "tax_zero_filings_12m": rng.poisson(0.5, n).astype(float),
        }
    )
    logit = -3.8 + sum(b * (frame[f] - (1.0 if f == "util_elec_yoy_3m" else 0.0)) for f, b in MODEL_FEATURES.items())
    frame["default_12m"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    train, valid = out_of_time_split(frame, date_col="snapshot_date", split_date="2020-10-01")
    return TrainingData(
        train=train, valid=valid, features=list(MODEL_FEATURES), source={"table": "synthetic", "version": None}
    )


def train_champion(spark, settings, artifact_root: str) -> str:
    """Train a scorecard on :func:`training_data`, register it and point ``@champion`` at it."""
    from models.config import model_config
    from models.registry import set_alias
    from models.train import train

    config = model_config(
        settings,
        {"experiment": "test-assess", "kinds": ["scorecard"], "candidate": "scorecard", "artifact_root": artifact_root},
    )
    version = train(config, spark=spark, settings=settings, data=training_data()).models["scorecard"].version
    set_alias(config, "champion", version)
    return version
