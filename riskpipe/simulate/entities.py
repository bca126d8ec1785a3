"""Enterprise registry: USCCs, Chinese company names and latent traits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from riskpipe.core import uscc
from riskpipe.simulate import params as P
from riskpipe.simulate.params import ModelParams
from riskpipe.simulate.timeline import Timeline

BRAND_CHARS = (
    "晋源丰泰华盛鑫隆兴达宏昌利恒通金银福瑞祥康禾农穗绿野山川汾吕梁黄河宝德顺和嘉"
    "益润佳信诚远博众安新天地中正荣鼎汇聚成开元"
)
NUMBER_BRANDS = ("168", "888", "518", "666", "99")
LETTER_BRANDS = ("JY", "HX", "LX", "TR")
NUMBER_BRAND_SHARE = 0.03
LETTER_BRAND_SHARE = 0.02
BRACKET_NAME_SHARE = 0.15
COOP_SHARE_AGRI = 0.3
AGRI_INDUSTRIES = (0, 1, 2, 3)  # walnut, jujube, coarse_grains, livestock
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司", "专业合作社", "农民专业合作社")
FOUNDED_FROM = np.datetime64("2000-01-01")
COOP_FOUNDED_FROM = np.datetime64("2008-01-01")
RECOMMENDED_FROM = np.datetime64("2018-03-01")


@dataclass
class Enterprises:
    """Registry plus latent per-enterprise traits (arrays aligned with ``frame``).

    Attributes:
        frame: Public registry columns (written to ``registry/enterprises.csv``).
        county: County index into ``params.COUNTIES``.
        industry: Industry index into ``params.INDUSTRIES``.
        size: Size-class index into ``params.SIZE_CLASSES``.
        base_sales: Annual sales level at the window start (CNY).
        mu: Long-run health level.
        falsifier: Inflates tax filings.
        inflate: Inflation factor of tax sales for falsifiers (1 otherwise).
        borrower: Borrows from the bank during the window.
        coop: Is a farmer co-operative.
    """

    frame: pd.DataFrame
    county: np.ndarray
    industry: np.ndarray
    size: np.ndarray
    base_sales: np.ndarray
    mu: np.ndarray
    falsifier: np.ndarray
    inflate: np.ndarray
    borrower: np.ndarray
    coop: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def uscc(self) -> np.ndarray:
        """USCC array (object dtype)."""
        return self.frame["uscc"].to_numpy().astype(object)

    @cached_property
    def names(self) -> np.ndarray:
        """Registered company names (object dtype)."""
        return self.frame["company_name"].to_numpy().astype(object)


def _brand(rng: np.random.Generator) -> str:
    u = rng.random()
    if u < NUMBER_BRAND_SHARE:
        return str(rng.choice(NUMBER_BRANDS))
    if u < NUMBER_BRAND_SHARE + LETTER_BRAND_SHARE:
        return str(rng.choice(LETTER_BRANDS))
    a, b = rng.integers(0, len(BRAND_CHARS), size=2)
    return BRAND_CHARS[a] + BRAND_CHARS[b]


def _suffix(rng: np.random.Generator, size: int, coop: bool) -> str:
    if coop:
        return SUFFIXES[3] if rng.random() < 0.5 else SUFFIXES[4]
    if size == 2 and rng.random() < 0.2:
        return SUFFIXES[2]
    return SUFFIXES[0] if rng.random() < 0.6 else SUFFIXES[1]


def _names(
    rng: np.random.Generator, county: np.ndarray, industry: np.ndarray, size: np.ndarray, coop: np.ndarray
) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for c, ind, sz, co in zip(county, industry, size, coop):
        while True:
            word = str(rng.choice(P.INDUSTRY_WORDS[ind]))
            brand = _brand(rng)
            suffix = _suffix(rng, int(sz), bool(co))
            if not co and rng.random() < BRACKET_NAME_SHARE:
                name = f"{brand}（吕梁）{word}{suffix}"
            else:
                name = f"{P.COUNTIES[c]}{brand}{word}{suffix}"
            if name not in seen:
                seen.add(name)
                names.append(name)
                break
    return names


def _usccs(rng: np.random.Generator, county: np.ndarray, coop: np.ndarray) -> list[str]:
    codes: list[str] = []
    seen: set[str] = set()
    for c, co in zip(county, coop):
        while True:
            code = uscc.generate(rng, P.COUNTY_CODES[c], entity_type="3" if co else "1")
            if code not in seen:
                seen.add(code)
                codes.append(code)
                break
    return codes


def _uniform_dates(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo = np.asarray(lo, dtype="datetime64[D]")
    span = (np.asarray(hi, dtype="datetime64[D]") - lo).astype(int)
    return lo + (rng.random(span.shape) * span).astype(int)


def generate(n: int, timeline: Timeline, mp: ModelParams, rng: np.random.Generator) -> Enterprises:
    """Generate ``n`` enterprises.

    Args:
        n: Number of enterprises.
        timeline: Simulated window (bounds founding and recommendation dates).
        mp: Model parameters.
        rng: Random generator of the ``entities`` stream.

    Returns:
        The registry and latent traits.
    """
    county = rng.choice(len(P.COUNTIES), size=n, p=np.array(P.COUNTY_WEIGHTS) / sum(P.COUNTY_WEIGHTS))
    industry = rng.choice(len(P.INDUSTRIES), size=n, p=P.INDUSTRY_WEIGHTS)
    size = rng.choice(len(P.SIZE_CLASSES), size=n, p=P.SIZE_WEIGHTS)
    coop = np.isin(industry, AGRI_INDUSTRIES) & (size == 0) & (rng.random(n) < COOP_SHARE_AGRI)
    base_sales = np.array(P.SIZE_MEDIAN_SALES)[size] * np.exp(rng.normal(0, P.SALES_LOG_SD, n))
    recommended = rng.random(n) < mp.recommended_share
    falsifier = rng.random(n) < mp.falsifier_share
    mu = rng.normal(0, mp.mu_sd, n) + mp.recommended_mu * recommended + mp.falsifier_mu * falsifier
    inflate = np.where(falsifier, rng.uniform(mp.falsify_min, mp.falsify_max, n), 1.0)
    p_borrow = np.where(recommended, mp.borrower_share_recommended, mp.borrower_share_other)
    borrower = rng.random(n) < p_borrow
    founded_hi = timeline.first_day - 180
    founded = _uniform_dates(rng, np.where(coop, COOP_FOUNDED_FROM, FOUNDED_FROM), np.full(n, founded_hi))
    rec_date = _uniform_dates(rng, np.full(n, RECOMMENDED_FROM), np.full(n, timeline.last_day - 30))
    names = _names(rng, county, industry, size, coop)
    codes = _usccs(rng, county, coop)
    frame = pd.DataFrame(
        {
            "uscc": codes,
            "company_name": names,
            "county": np.array(P.COUNTIES)[county],
            "industry": np.array(P.INDUSTRIES)[industry],
            "size_class": np.array(P.SIZE_CLASSES)[size],
            "founded_date": founded.astype(str),
            "gov_recommended": recommended,
            "recommended_date": np.where(recommended, rec_date.astype(str), ""),
        }
    )
    return Enterprises(frame, county, industry, size, base_sales, mu, falsifier, inflate, borrower, coop)
