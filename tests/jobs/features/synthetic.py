"""Small synthetic silver data (plain row dicts) for the feature tests.

The same rows feed Spark (``spec.rows_to_df``) and DuckDB (pandas), so the two
implementations see identical input. Deterministic (seeded).
"""

from __future__ import annotations

import datetime as dt
import random

from riskpipe.core.uscc import check_digit

FIRST_PERIOD = dt.date(2019, 1, 1)
LAST_DAY = dt.date(2021, 7, 15)  # everything the sources delivered up to here
SNAPSHOTS = [
    dt.date(2021, 1, 31),
    dt.date(2021, 2, 28),
    dt.date(2021, 3, 31),
    dt.date(2021, 4, 30),
    dt.date(2021, 5, 31),
    dt.date(2021, 6, 30),
]


def uscc(i: int) -> str:
    body = f"91141100MA0{i:06d}"[:17]
    return body + check_digit(body)


def _month(day: dt.date, add: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + add
    return dt.date(index // 12, index % 12 + 1, 1)


def _periods() -> list[dt.date]:
    out, p = [], FIRST_PERIOD
    while _month(p, 1).replace(day=16) <= LAST_DAY:
        out.append(p)
        p = _month(p, 1)
    return out


def _chain(rows: list[dict], entity: tuple[str, ...]) -> list[dict]:
    """Set known_to / is_current like silver's history chain."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in entity), []).append(r)
    for versions in groups.values():
        versions.sort(key=lambda r: r["known_from"])
        for a, b in zip(versions, versions[1:] + [None]):
            a["known_to"] = b["known_from"] if b else None
            a["is_current"] = b is None
    for i, r in enumerate(rows):
        r.setdefault("_batch_id", f"b{r['known_from']}")
        r.setdefault("_record_hash", f"h{i}")
    return rows


def make(n_enterprises: int = 4, seed: int = 7) -> dict[str, list[dict]]:
    """Silver rows per table."""
    rng = random.Random(seed)
    ids = [uscc(i + 1) for i in range(n_enterprises)]
    data = {
        "enterprises": [],
        "tax_filings": [],
        "tax_ratings": [],
        "utility_reads": [],
        "court_events": [],
        "transactions": [],
        "loans": [],
        "loan_balances": [],
    }
    for e, code in enumerate(ids):
        data["enterprises"].append(
            dict(
                uscc=code,
                company_name=f"企业{e}",
                county="离石区",
                industry="walnut",
                size_class="small",
                founded_date=dt.date(2015, 3, 10 + e),
                gov_recommended=e % 2 == 0,
                recommended_date=dt.date(2020, 6, 1),
                known_from=dt.date(2019, 1, 1),
            )
        )
        _tax(data, code, e, rng)
        _utility(data, code, e, rng)
        _court(data, code, e, rng)
        _transactions(data, code, e, rng)
        if e < 3:
            _loans(data, code, e, rng)
    for table, entity in (
        ("enterprises", ("uscc",)),
        ("tax_filings", ("uscc", "period")),
        ("tax_ratings", ("uscc", "rating_year")),
        ("utility_reads", ("meter_id", "period")),
        ("court_events", ("event_id",)),
        ("loans", ("loan_id",)),
    ):
        _chain(data[table], entity)
    for table in ("transactions", "loan_balances"):
        for i, r in enumerate(data[table]):
            r.setdefault("_batch_id", f"b{r.get('txn_date') or r.get('as_of_date')}")
            r.setdefault("_record_hash", f"h{i}")
            r.setdefault("known_from", (r.get("txn_date") or r.get("as_of_date")) + dt.timedelta(days=1))
            r.setdefault("is_current", True)
    return data


def _tax(data, code, e, rng):
    base = 100_000.0 * (e + 1)
    for p in _periods():
        if rng.random() < 0.1:
            continue  # missed filing
        sales = 0.0 if rng.random() < 0.1 else round(base * rng.uniform(0.5, 1.5), 2)
        row = dict(
            uscc=code,
            period=p,
            filing_date=_month(p, 1).replace(day=10),
            taxable_sales=sales,
            vat_paid=round(sales * 0.03, 2),
            arrears_amount=round(rng.uniform(0, 5000), 2),
            penalty_amount=round(rng.choice([0.0, 0.0, 100.0]), 2),
            is_amendment=False,
            known_from=_month(p, 1).replace(day=16),
        )
        data["tax_filings"].append(row)
        if rng.random() < 0.15:  # restated two months later
            data["tax_filings"].append(
                {
                    **row,
                    "taxable_sales": round(sales * 0.7, 2),
                    "is_amendment": True,
                    "known_from": _month(p, 3).replace(day=16),
                }
            )
    for year, rating in ((2019, "AB"[e % 2]), (2020, "BMCD"[e % 4])):
        data["tax_ratings"].append(
            dict(
                uscc=code,
                rating_year=year,
                rating=rating,
                published_date=dt.date(year + 1, 4, 20),
                known_from=dt.date(year + 1, 4, 21),
            )
        )


def _utility(data, code, e, rng):
    for p in _periods():
        for kind, meter in (("electricity", f"E{e}"), ("water", f"W{e}")):
            if rng.random() < 0.08:
                continue
            cons = 0.0 if rng.random() < 0.07 else round(rng.uniform(1000, 5000) * (1.5 if kind == "water" else 10), 1)
            data["utility_reads"].append(
                dict(
                    meter_id=meter,
                    uscc=code,
                    utility_type=kind,
                    period=p,
                    read_date=_month(p, 1).replace(day=3),
                    consumption=cons,
                    unit="kWh" if kind == "electricity" else "m3",
                    bill_amount=round(cons * 0.6, 2),
                    paid_flag=rng.random() > 0.15,
                    arrears_amount=round(rng.choice([0.0, 0.0, 300.0]), 2),
                    known_from=_month(p, 1).replace(day=11),
                )
            )


def _court(data, code, e, rng):
    n = len(data["court_events"])
    for c in range(e + 1):
        filed = dt.date(2019, 6, 1) + dt.timedelta(days=rng.randint(0, 700))
        role = "defendant" if c % 3 != 2 else "plaintiff"
        cause = ("loan_dispute", "labour", "contract", "other")[(c + e) % 4]
        case = f"C{e}-{c}"
        events = [("case_filed", filed, 10_000.0 * (c + 1))]
        if role == "defendant" and c % 2 == 0:
            events.append(("enforcement", filed + dt.timedelta(days=90), 9_000.0 * (c + 1)))
            if e % 2 == 1:
                events.append(("dishonest_listed", filed + dt.timedelta(days=150), 9_000.0 * (c + 1)))
        elif c % 2 == 1:
            events.append(("case_closed", filed + dt.timedelta(days=120), 10_000.0 * (c + 1)))
        for etype, day, amount in events:
            n += 1
            pub = day + dt.timedelta(days=5)
            data["court_events"].append(
                dict(
                    event_id=f"CE{n:06d}",
                    case_id=case,
                    event_type=etype,
                    event_date=day,
                    published_date=pub,
                    party_name=f"企业{e}",
                    role=role,
                    cause=cause,
                    amount=amount,
                    status="x",
                    uscc=code,
                    uscc_match="given",
                    known_from=pub,
                )
            )


def _transactions(data, code, e, rng):
    n = len(data["transactions"])
    day = dt.date(2019, 12, 1)
    while day <= LAST_DAY:
        if rng.random() < 0.3 or day.day in (28, 30, 31):
            for _ in range(rng.randint(1, 2)):
                n += 1
                direction = "C" if rng.random() < 0.55 else "D"
                ts = dt.datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59), n % 60)
                data["transactions"].append(
                    dict(
                        txn_id=f"T{n:07d}",
                        account_id=f"A{e}",
                        uscc=code,
                        txn_ts=ts,
                        amount=round(rng.uniform(1_000, 60_000), 2),
                        direction=direction,
                        counterparty_name=f"对手{rng.randint(1, 4)}",
                        counterparty_account=f"CP{rng.randint(1, 4)}",
                        channel=rng.choice(["transfer", "cash", "pos", "online"]),
                        balance_after=round(rng.uniform(10_000, 500_000), 2),
                        txn_date=day,
                        txn_month=f"{day:%Y-%m}",
                    )
                )
        day += dt.timedelta(days=1)


def _loans(data, code, e, rng):
    loan = f"LN{e:04d}"
    start = dt.date(2019, 9, 20) + dt.timedelta(days=30 * e)
    maturity = dt.date(start.year + 2, start.month, start.day)
    contract = dict(
        loan_id=loan,
        uscc=code,
        product=("Y_MODEL_WORKING_CAPITAL", "SME_WORKING_CAPITAL")[e % 2],
        principal=1_000_000.0,
        credit_limit=1_200_000.0,
        interest_rate=0.05,
        start_date=start,
        maturity_date=maturity,
        fund_coverage_share=0.6 if e % 2 == 0 else 0.0,
        gov_recommended=e % 2 == 0,
        status="active",
        known_from=start + dt.timedelta(days=1),
    )
    data["loans"].append(contract)
    first_missed = dt.date(2021, 1, 21) if e == 1 else None
    day = start
    while day <= min(maturity, LAST_DAY - dt.timedelta(days=1)):
        dpd = (day - first_missed).days if first_missed and day >= first_missed else 0
        status = "written_off" if dpd >= 200 else "active"
        data["loan_balances"].append(
            dict(
                loan_id=loan,
                uscc=code,
                as_of_date=day,
                outstanding_principal=0.0 if status != "active" else 1_000_000.0,
                undrawn_amount=200_000.0,
                overdue_principal=1_000_000.0 if dpd else 0.0,
                days_past_due=dpd,
                repaid_amount=0.0,
                status=status,
                as_of_month=f"{day:%Y-%m}",
            )
        )
        if status == "written_off":
            data["loans"].append({**contract, "status": "written_off", "known_from": day + dt.timedelta(days=1)})
            break
        day += dt.timedelta(days=3 if day.day < 25 else 1)
