"""The model validation report of one registered version: what a validator checks, with uncertainty.

Pure functions on numpy/pandas; nothing here reads tables or talks to MLflow (see
:mod:`jobs.model_monitoring.validation` for rebuilding a version's out-of-time sample and
:mod:`models.validation_render` for the Markdown/HTML files and their logging).

* Discrimination out of time with a confidence interval: :func:`gini_ci` (DeLong by the fast
  algorithm of Sun & Xu 2014, or a seeded bootstrap resampling rows or whole entities) and
  :func:`compare_gini` (two scores on the same rows: the difference of their Ginis and the ratio,
  each with its interval).
* Calibration by master-scale grade with the Jeffreys test (:func:`models.backtest.jeffreys_test`).
* The PD floor (no served PD below ``pd_floor``), stability (PSI of the score and the most drifted
  features, :func:`models.evaluate.psi`), the challenger side by side on the same rows.
* On simulated data, the *oracle*: the Gini of the simulator's latent PD on the same rows and the
  ratio model Gini / oracle Gini (how much of the attainable ranking the model recovers).

:func:`validation_report` assembles a :class:`ValidationReport` from :class:`models.evaluate.Evaluation`
objects, so training (which has them in memory) and ``riskpipe validate`` (which rebuilds them)
produce the same report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.backtest import jeffreys_test
from models.backtest import summary as jeffreys_summary
from models.calibration import MasterScale
from models.evaluate import Evaluation, psi_status

STATUS_ORDER = {"green": 0, "amber": 1, "red": 2}
PSI_LIGHT = {"stable": "green", "watch": "amber", "act": "red"}
REPRODUCTION_TOLERANCE = 1e-9  # a rebuilt OOT sample must give the logged AUC to rounding


# ------------------------------------------------------------------ AUC and its uncertainty


def _as_matrix(scores: Any) -> np.ndarray:
    matrix = np.asarray(scores, dtype=float)
    return matrix.reshape(-1, 1) if matrix.ndim == 1 else matrix


def _classes(y: Any) -> np.ndarray:
    labels = np.asarray(y).astype(int)
    if not set(np.unique(labels)) <= {0, 1} or labels.min(initial=1) == labels.max(initial=0):
        raise ValueError("y must be 0/1 with both classes present")
    return labels.astype(bool)


def auc_delong(y: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """AUC of each score column and their covariance matrix (DeLong; fast algorithm of Sun & Xu 2014).

    Args:
        y: 0/1 outcomes, both classes present.
        scores: ``n`` values, or an ``n x k`` matrix of ``k`` scores of the same rows (higher = riskier).

    Returns:
        ``(aucs, covariance)``: shape ``(k,)`` and ``(k, k)``. Ties count one half.
    """
    from scipy.stats import rankdata

    positive = _classes(y)
    matrix = _as_matrix(scores)
    pos, neg = matrix[positive], matrix[~positive]
    m, n = len(pos), len(neg)
    rank_pos, rank_neg = rankdata(pos, axis=0), rankdata(neg, axis=0)
    rank_all = rankdata(np.vstack([pos, neg]), axis=0)
    aucs = rank_all[:m].sum(axis=0) / (m * n) - (m + 1) / (2 * n)
    # structural components: per default, the share of non-defaults it outranks; per non-default,
    # the share of defaults that outrank it
    v_pos = (rank_all[:m] - rank_pos) / n
    v_neg = 1.0 - (rank_all[m:] - rank_neg) / m
    k = matrix.shape[1]
    s_pos = np.cov(v_pos, rowvar=False).reshape(k, k) if m > 1 else np.zeros((k, k))
    s_neg = np.cov(v_neg, rowvar=False).reshape(k, k) if n > 1 else np.zeros((k, k))
    return aucs, s_pos / m + s_neg / n


def _auc_by_rank(positive: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    m = positive.sum()
    n = len(positive) - m
    ranks = rankdata(matrix, axis=0)
    return (ranks[positive].sum(axis=0) - m * (m + 1) / 2) / (m * n)


def auc_bootstrap(y: Any, scores: Any, *, samples: int, seed: int, groups: Any = None) -> np.ndarray:
    """AUCs of each score column on ``samples`` bootstrap resamples: shape ``(kept, k)``.

    Args:
        groups: optional entity of each row; when given, whole entities are resampled (the rows of
            one borrower over several snapshots are not independent), otherwise rows.

    Resamples holding only one class are skipped (rare unless defaults are very few).
    """
    positive = _classes(y)
    matrix = _as_matrix(scores)
    rows = len(positive)
    codes = np.arange(rows) if groups is None else pd.factorize(np.asarray(groups), sort=False)[0]
    units = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        weight = np.bincount(rng.integers(0, units, units), minlength=units)[codes]
        picked = np.repeat(np.arange(rows), weight)
        chosen = positive[picked]
        if chosen.all() or not chosen.any():
            continue
        out.append(_auc_by_rank(chosen, matrix[picked]))
    if not out:
        raise ValueError("no bootstrap resample holds both classes")
    return np.vstack(out)


@dataclass(frozen=True)
class GiniCI:
    """AUC and Gini (= 2·AUC − 1) of one score with a two-sided confidence interval."""

    auc: float
    auc_lower: float
    auc_upper: float
    gini: float
    gini_lower: float
    gini_upper: float
    se_auc: float
    method: str
    confidence: float
    rows: int
    defaults: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def gini_ci(
    y: Any,
    pd_: Any,
    *,
    method: str = "delong",
    confidence: float = 0.95,
    samples: int = 1000,
    seed: int = 42,
    groups: Any = None,
) -> GiniCI:
    """AUC and Gini of ``pd_`` against ``y`` with a ``confidence`` interval.

    Args:
        method: ``delong`` (normal interval with DeLong's variance, clipped to [0, 1]; assumes
            independent rows) or ``bootstrap`` (percentile interval over ``samples`` seeded resamples,
            of ``groups`` when given, else of rows).

    Raises:
        ValueError: for an unknown method or a ``y`` without both classes.
    """
    labels = _classes(y).astype(int)
    if method == "delong":
        aucs, cov = auc_delong(labels, pd_)
        auc, se = float(aucs[0]), float(np.sqrt(max(cov[0, 0], 0.0)))
        low, high = max(auc - _z(confidence) * se, 0.0), min(auc + _z(confidence) * se, 1.0)
    elif method == "bootstrap":
        auc = float(auc_delong(labels, pd_)[0][0])
        draws = auc_bootstrap(labels, pd_, samples=samples, seed=seed, groups=groups)[:, 0]
        tail = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(draws, [tail, 1 - tail]))
        se = float(draws.std(ddof=1))
    else:
        raise ValueError(f"unknown CI method {method!r}; use delong or bootstrap")
    return GiniCI(
        auc=auc,
        auc_lower=low,
        auc_upper=high,
        gini=2 * auc - 1,
        gini_lower=2 * low - 1,
        gini_upper=2 * high - 1,
        se_auc=se,
        method=method,
        confidence=confidence,
        rows=len(labels),
        defaults=int(labels.sum()),
    )


@dataclass(frozen=True)
class PairedGini:
    """Two scores ``a`` and ``b`` on the same rows: their Ginis, ``a − b`` and ``a / b`` with intervals.

    ``p_value`` is two-sided for H0: equal AUCs. The ratio is NaN when ``b``'s Gini is not positive.
    """

    gini_a: float
    gini_b: float
    difference: float
    difference_lower: float
    difference_upper: float
    p_value: float
    ratio: float
    ratio_lower: float
    ratio_upper: float
    method: str
    confidence: float
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_gini(
    y: Any,
    pd_a: Any,
    pd_b: Any,
    *,
    method: str = "delong",
    confidence: float = 0.95,
    samples: int = 1000,
    seed: int = 42,
    groups: Any = None,
) -> PairedGini:
    """Compare two scores of the same rows (model vs challenger, model vs oracle).

    DeLong: the covariance of the two AUCs gives the difference a normal interval and a z-test,
    and the ratio an interval by the delta method. Bootstrap: both AUCs on every resample,
    percentile intervals of the difference and of the ratio, and the two-sided share of resamples
    on the other side of zero as the p-value.
    """
    from scipy.stats import norm

    labels = _classes(y).astype(int)
    matrix = np.column_stack([np.asarray(pd_a, dtype=float), np.asarray(pd_b, dtype=float)])
    aucs, cov = auc_delong(labels, matrix)
    g_a, g_b = 2 * aucs - 1
    diff = float(g_a - g_b)
    ratio = float(g_a / g_b) if g_b > 0 else float("nan")
    if method == "delong":
        z = _z(confidence)
        var_a, var_b, cov_ab = 4 * cov[0, 0], 4 * cov[1, 1], 4 * cov[0, 1]
        se_diff = float(np.sqrt(max(var_a + var_b - 2 * cov_ab, 0.0)))
        p_value = float(2 * norm.sf(abs(diff) / se_diff)) if se_diff > 0 else float(diff == 0)
        d_low, d_high = diff - z * se_diff, diff + z * se_diff
        if g_b > 0:
            var_ratio = var_a / g_b**2 + g_a**2 * var_b / g_b**4 - 2 * g_a * cov_ab / g_b**3
            se_ratio = float(np.sqrt(max(var_ratio, 0.0)))
            r_low, r_high = ratio - z * se_ratio, ratio + z * se_ratio
        else:
            r_low = r_high = float("nan")
    elif method == "bootstrap":
        draws = 2 * auc_bootstrap(labels, matrix, samples=samples, seed=seed, groups=groups) - 1
        tail = (1 - confidence) / 2
        diffs = draws[:, 0] - draws[:, 1]
        d_low, d_high = np.quantile(diffs, [tail, 1 - tail])
        # (count + 1) / (draws + 1): a finite number of resamples never proves p = 0
        tail_count = min((diffs <= 0).sum(), (diffs >= 0).sum())
        p_value = float(min(1.0, 2 * (tail_count + 1) / (len(diffs) + 1)))
        usable = draws[:, 1] > 0
        if g_b > 0 and usable.any():
            r_low, r_high = np.quantile(draws[usable, 0] / draws[usable, 1], [tail, 1 - tail])
        else:
            r_low = r_high = float("nan")
    else:
        raise ValueError(f"unknown CI method {method!r}; use delong or bootstrap")
    return PairedGini(
        gini_a=float(g_a),
        gini_b=float(g_b),
        difference=diff,
        difference_lower=float(d_low),
        difference_upper=float(d_high),
        p_value=p_value,
        ratio=ratio,
        ratio_lower=float(r_low),
        ratio_upper=float(r_high),
        method=method,
        confidence=confidence,
        rows=len(labels),
    )


# ------------------------------------------------------------------ the report


@dataclass
class ValidationReport:
    """Everything the validation report shows (rendered by :mod:`models.validation_render`).

    Attributes:
        info: model (name, version, kind, run id), data (table and versions, split date, OOT
            snapshots), method (CI method, confidence, resampling), origin and time of the report.
        models: one row per scored model on the OOT sample: ``role`` (``model``: the version
            validated; ``challenger``; ``oracle``), ``label``, rows, defaults, default_rate, auc and
            gini with ``_lower``/``_upper``, ks, brier, mean_pd, min_pd, psi_score, grades_green/amber/red.
        comparisons: ``challenger vs model`` and ``model vs oracle``: the two Ginis on the
            rows they share, difference with interval and p-value, ratio with interval.
        calibration: the model's OOT grade table with the Jeffreys test (count, defaults,
            default_rate, mean_pd, ci_lower, ci_upper, p_value, direction, status) and, with an
            oracle, ``mean_latent_pd``.
        challenger_calibration: the same for the challenger (or None).
        stability: score and the ``top_features`` most drifted features: feature, psi, status, iv.
        pd_floor: floor, min_pd, rows_below, share_below, status.
        checks: check, value, status (green/amber/red, or info), detail; ``status`` is the worst light.
        oracle: the oracle section (rows matched, coverage, Ginis, ratio) or None.
        notes: sentences the reader needs (assumptions, what was not possible).
    """

    info: dict[str, Any]
    models: pd.DataFrame
    comparisons: pd.DataFrame
    calibration: pd.DataFrame
    stability: pd.DataFrame
    pd_floor: dict[str, Any]
    checks: pd.DataFrame
    status: str
    challenger_calibration: pd.DataFrame | None = None
    oracle: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Key figures as MLflow metrics (``validation.*``), finite values only."""
        model = self.models.set_index("role").loc["model"]
        out = {
            f"validation.oot_{k}": model[k]
            for k in ("auc", "auc_lower", "auc_upper", "gini", "gini_lower", "gini_upper", "ks", "brier")
        }
        out.update({f"validation.{k}": model[k] for k in ("grades_green", "grades_amber", "grades_red")})
        out.update(
            {
                "validation.min_pd": self.pd_floor["min_pd"],
                "validation.rows_below_pd_floor": self.pd_floor["rows_below"],
                "validation.psi_score": model["psi_score"],
                "validation.status_code": STATUS_ORDER[self.status],
            }
        )
        for row in self.comparisons.to_dict("records"):
            prefix = "validation.challenger" if row["comparison"].startswith("challenger") else "validation.oracle"
            out.update({f"{prefix}_gini_difference": row["difference"], f"{prefix}_p_value": row["p_value"]})
            if prefix == "validation.oracle":
                out.update(
                    {
                        "validation.oracle_ratio": row["ratio"],
                        "validation.oracle_ratio_lower": row["ratio_lower"],
                        "validation.oracle_ratio_upper": row["ratio_upper"],
                    }
                )
        for row in self.models.to_dict("records"):
            if row["role"] != "model":
                out.update(
                    {
                        f"validation.{row['role']}_gini": row["gini"],
                        f"validation.{row['role']}_gini_lower": row["gini_lower"],
                        f"validation.{row['role']}_gini_upper": row["gini_upper"],
                    }
                )
        if self.oracle:
            out["validation.oracle_coverage"] = self.oracle["coverage"]
        return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(float(v))}

    def tags(self) -> dict[str, str]:
        """Run tags: the overall status and how the report was made."""
        challenger = self.models.loc[self.models["role"] == "challenger", "label"]
        return {
            "validation.status": self.status,
            "validation.ci_method": str(self.info["method"]["ci_method"]),
            "validation.generated_at": str(self.info.get("generated_at", "")),
            "validation.origin": str(self.info.get("origin", "")),
            "validation.challenger": challenger.iloc[0] if len(challenger) else "",
            "validation.oracle": "yes" if self.oracle else "no",
        }


def _ci_kwargs(config: Any, ids: Any) -> dict[str, Any]:
    groups = ids if (config.bootstrap_by == "id" and ids is not None) else None
    return {
        "method": config.ci_method,
        "confidence": config.confidence,
        "samples": config.bootstrap_samples,
        "seed": config.seed,
        "groups": groups,
    }


def scale_of(grades: pd.DataFrame) -> MasterScale:
    """The master scale of a :func:`models.calibration.grade_table` (its upper bounds but the last)."""
    return MasterScale([float(v) for v in grades["pd_upper"].to_numpy()[:-1]])


def calibration_table(evaluation: Evaluation, config: Any, latent_pd: np.ndarray | None = None) -> pd.DataFrame:
    """The OOT grade table with the Jeffreys test; with ``latent_pd`` (aligned with the OOT rows, NaN
    where unknown) also ``mean_latent_pd`` per grade.

    Output columns: grade, pd_lower, pd_upper, rows (borrower-months), count and defaults (obligor
    equivalents when ``jeffreys.unit`` is obligor), default_rate, mean_pd, [mean_latent_pd],
    ci_lower, ci_upper, p_value, direction, status.
    """
    grades = evaluation.grades["oot"]
    columns = [
        "grade",
        "pd_lower",
        "pd_upper",
        *(["rows"] if "rows" in grades else []),
        "count",
        "defaults",
        "default_rate",
        "mean_pd",
    ]
    tested = jeffreys_test(grades[columns], config.jeffreys)
    if latent_pd is not None:
        oot = evaluation.scored["oot"]
        index = scale_of(grades).grade_index(oot["pd"].to_numpy())
        latent = pd.Series(np.asarray(latent_pd, dtype=float)).groupby(index).mean()
        tested.insert(
            tested.columns.get_loc("mean_pd") + 1, "mean_latent_pd", [latent.get(i, np.nan) for i in range(len(tested))]
        )
    return tested


def _model_row(
    role: str,
    label: str,
    y: np.ndarray,
    pd_: np.ndarray,
    evaluation: Evaluation | None,
    grades: pd.DataFrame | None,
    config: Any,
    ids: Any,
) -> dict[str, Any]:
    from models.evaluate import discrimination

    ci = gini_ci(y, pd_, **_ci_kwargs(config, ids))
    base = discrimination(y, pd_)
    counts = jeffreys_summary(grades) if grades is not None else {}
    return {
        "role": role,
        "label": label,
        "rows": ci.rows,
        "defaults": ci.defaults,
        "default_rate": base["default_rate"],
        "auc": ci.auc,
        "auc_lower": ci.auc_lower,
        "auc_upper": ci.auc_upper,
        "gini": ci.gini,
        "gini_lower": ci.gini_lower,
        "gini_upper": ci.gini_upper,
        "ks": base["ks"],
        "brier": base["brier"],
        "mean_pd": base["mean_pd"],
        "min_pd": float(np.min(pd_)),
        "psi_score": evaluation.metrics.get("psi_score", np.nan) if evaluation is not None else np.nan,
        **{k: counts.get(k, np.nan) for k in ("grades_green", "grades_amber", "grades_red")},
    }


def _worst(statuses: list[str]) -> str:
    lights = [s for s in statuses if s in STATUS_ORDER]
    return max(lights, key=lambda status: STATUS_ORDER[status]) if lights else "green"


def _fmt_ci(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def validation_report(
    evaluation: Evaluation,
    *,
    info: Mapping[str, Any],
    features: list[str],
    config: Any,
    ids: Any = None,
    challenger: tuple[str, Evaluation] | None = None,
    latent_pd: Any = None,
    logged: Mapping[str, float] | None = None,
) -> ValidationReport:
    """Build the validation report of one model version.

    Args:
        evaluation: the version's :class:`models.evaluate.Evaluation` (scored train and OOT samples,
            grade tables, PSI), e.g. from :func:`models.train.evaluate_state`.
        info: ``model`` (name, version, kind, run_id), ``data`` (source: table, versions, split date,
            OOT snapshots), ``origin``, ``generated_at``; shown as is and logged.
        features: the version's features (stability shows the most drifted of these).
        config: the ``models.validation`` section (:class:`models.config.ValidationConfig`).
        ids: entity of each OOT row (for the bootstrap by entity), aligned with ``evaluation.scored["oot"]``.
        challenger: ``(label, Evaluation)`` of another model scored on the *same* OOT rows, same order.
        latent_pd: the simulator's latent PD of each OOT row (NaN where unknown): adds the oracle.
        logged: the version's logged training metrics; the report checks it reproduces ``oot_auc``.

    Raises:
        ValueError: when the challenger's OOT sample is not the same rows (length or outcomes differ).
    """
    oot = evaluation.scored["oot"]
    y, pd_ = oot["y"].to_numpy().astype(int), oot["pd"].to_numpy(float)
    ids = None if ids is None else np.asarray(ids)
    notes: list[str] = []
    calibration = calibration_table(evaluation, config, latent_pd)
    model = dict(info.get("model", {}))
    rows = [
        _model_row(
            "model",
            f"v{model.get('version', '?')} {model.get('kind', '')}".strip(),
            y,
            pd_,
            evaluation,
            calibration,
            config,
            ids,
        )
    ]
    comparisons = []
    challenger_calibration = None
    if challenger is not None:
        label, other = challenger
        other_oot = other.scored["oot"]
        if len(other_oot) != len(oot) or not np.array_equal(other_oot["y"].to_numpy().astype(int), y):
            raise ValueError("the challenger was not scored on the same out-of-time rows")
        other_pd = other_oot["pd"].to_numpy(float)
        challenger_calibration = calibration_table(other, config)
        rows.append(_model_row("challenger", label, y, other_pd, other, challenger_calibration, config, ids))
        paired = compare_gini(y, other_pd, pd_, **_ci_kwargs(config, ids))
        comparisons.append({"comparison": "challenger vs model", **paired.as_dict()})
    oracle = None
    if latent_pd is not None:
        latent = np.asarray(latent_pd, dtype=float)
        known = ~np.isnan(latent)
        oracle = {"rows": int(known.sum()), "rows_oot": len(y), "coverage": float(known.mean()) if len(y) else 0.0}
        if known.sum() and 0 < y[known].sum() < known.sum():
            sub_ids = None if ids is None else ids[known]
            row = _model_row("oracle", "latent PD (simulator)", y[known], latent[known], None, None, config, sub_ids)
            rows.append(row)
            paired = compare_gini(y[known], pd_[known], latent[known], **_ci_kwargs(config, sub_ids))
            comparisons.append({"comparison": "model vs oracle", **paired.as_dict()})
            oracle.update(
                gini=row["gini"],
                gini_lower=row["gini_lower"],
                gini_upper=row["gini_upper"],
                model_gini=paired.gini_a,
                ratio=paired.ratio,
                ratio_lower=paired.ratio_lower,
                ratio_upper=paired.ratio_upper,
                mean_latent_pd=float(latent[known].mean()),
                default_rate=float(y[known].mean()),
            )
        else:
            notes.append("The latent-PD table matched no OOT rows with both outcomes: no oracle Gini.")
        if oracle["coverage"] < 1:
            notes.append(
                f"The latent PD covers {oracle['coverage']:.1%} of the OOT rows; the oracle "
                "comparison uses those rows only."
            )
    models_frame = pd.DataFrame(rows)
    comparisons_frame = pd.DataFrame(comparisons, columns=["comparison", *PairedGini.__dataclass_fields__])

    floor = config.pd_floor
    below = int((pd_ < floor).sum())
    pd_floor = {
        "floor": floor,
        "min_pd": float(pd_.min()),
        "rows_below": below,
        "share_below": below / len(pd_),
        "status": "red" if below else "green",
    }

    stability = evaluation.stability
    wanted = stability[stability["feature"].isin(features)].sort_values("psi", ascending=False, kind="mergesort")
    stability = pd.concat([stability.iloc[:1], wanted.head(config.top_features)], ignore_index=True)
    stability["iv"] = stability["feature"].map(lambda f: evaluation.metrics.get(f"iv.{f}", np.nan))
    drifted = wanted["status"].value_counts()

    validated = rows[0]
    checks = []
    gini_light = (
        "green"
        if validated["gini_lower"] >= config.min_gini
        else "amber"
        if validated["gini"] >= config.min_gini
        else "red"
    )
    checks.append(
        (
            "discrimination",
            _fmt_ci(validated["gini"], validated["gini_lower"], validated["gini_upper"]),
            gini_light,
            f"OOT Gini with its {config.confidence:.0%} interval ({config.ci_method}); green "
            f"when the lower bound is at least {config.min_gini:.2f}",
        )
    )
    counts = jeffreys_summary(calibration)
    calib_light = "red" if counts["grades_red"] else ("amber" if counts["grades_amber"] else "green")
    checks.append(
        (
            "calibration",
            f"{counts['grades_green']:.0f} green / {counts['grades_amber']:.0f} amber / {counts['grades_red']:.0f} red",
            calib_light,
            f"Jeffreys test per grade ({config.jeffreys.sides} sides): amber outside the "
            f"{config.jeffreys.amber_confidence:.0%} interval, red outside "
            f"{config.jeffreys.red_confidence:.1%}; a red grade blocks promotion",
        )
    )
    checks.append(
        (
            "pd_floor",
            f"min PD {format_pd(pd_floor['min_pd'])}",
            pd_floor["status"],
            f"{below:,} OOT rows below the floor of {format_pd(floor)}",
        )
    )
    psi_value = float(evaluation.metrics.get("psi_score", np.nan))
    checks.append(
        (
            "stability",
            f"score PSI {psi_value:.3f}",
            PSI_LIGHT[psi_status(psi_value)],
            f"train vs OOT; features: {int(drifted.get('act', 0))} act, {int(drifted.get('watch', 0))} watch "
            f"of {len(wanted)}",
        )
    )
    if logged and "oot_auc" in logged:
        same = abs(logged["oot_auc"] - validated["auc"]) <= REPRODUCTION_TOLERANCE
        checks.append(
            (
                "reproduction",
                f"AUC {validated['auc']:.6f} vs logged {logged['oot_auc']:.6f}",
                "green" if same else "amber",
                "the OOT sample rebuilt from what training logged gives the logged AUC"
                if same
                else "the rebuilt OOT sample differs from the one training evaluated (data changed?)",
            )
        )
    for comparison in comparisons:
        significant = comparison["p_value"] < 1 - config.confidence
        difference = _fmt_ci(comparison["difference"], comparison["difference_lower"], comparison["difference_upper"])
        ratio = _fmt_ci(comparison["ratio"], comparison["ratio_lower"], comparison["ratio_upper"])
        if comparison["comparison"].startswith("challenger"):
            better = significant and comparison["difference"] > 0
            checks.append(
                (
                    "challenger",
                    f"Gini difference {difference}",
                    "amber" if better else "green",
                    "the challenger discriminates significantly better"
                    if better
                    else f"no significantly better challenger (p = {comparison['p_value']:.3f})",
                )
            )
        else:
            checks.append(
                (
                    "oracle",
                    f"ratio {ratio}",
                    "info",
                    "model Gini / latent-PD Gini on the same rows (simulated data only)",
                )
            )
    checks_frame = pd.DataFrame(checks, columns=["check", "value", "status", "detail"])
    status = _worst(checks_frame["status"].tolist())

    if config.ci_method == "delong" or config.bootstrap_by == "row" or ids is None:
        notes.append(
            "The intervals treat OOT rows as independent; one borrower appears in several snapshots, "
            "so they are somewhat too narrow (bootstrap by entity: validation.ci_method: bootstrap)."
        )
    return ValidationReport(
        info={
            **dict(info),
            "method": {
                "ci_method": config.ci_method,
                "confidence": config.confidence,
                "bootstrap_samples": config.bootstrap_samples if config.ci_method == "bootstrap" else None,
                "bootstrap_by": config.bootstrap_by if config.ci_method == "bootstrap" else None,
                "seed": config.seed,
                "jeffreys": asdict(config.jeffreys),
                "pd_floor": floor,
                "min_gini": config.min_gini,
            },
        },
        models=models_frame,
        comparisons=comparisons_frame,
        calibration=calibration,
        stability=stability,
        pd_floor=pd_floor,
        checks=checks_frame,
        status=status,
        challenger_calibration=challenger_calibration,
        oracle=oracle,
        notes=notes,
    )


def format_pd(value: float) -> str:
    """A PD as a percentage that never shows a positive PD as 0.00 % (three significant digits)."""
    if value is None or not np.isfinite(value):
        return ""
    return f"{value * 100:.3g}%" if 0 < value < 0.001 else f"{value:.2%}"


def latent_pd_for(frame: pd.DataFrame, truth: pd.DataFrame, *, id_col: str, date_col: str) -> np.ndarray:
    """The latent PD of each row of ``frame`` (NaN where the truth has none), matched by entity and month.

    Args:
        frame: rows with ``id_col`` and ``date_col`` (any day of the month).
        truth: the simulator's ``truth/latent_pd.parquet``: ``uscc``, ``period`` (``YYYY-MM``),
            ``latent_pd_12m``.

    Returns:
        float array aligned with ``frame``'s rows.
    """
    keys = pd.DataFrame(
        {
            "uscc": frame[id_col].astype(str).to_numpy(),
            "period": pd.to_datetime(frame[date_col]).dt.strftime("%Y-%m").to_numpy(),
        }
    )
    table = truth[["uscc", "period", "latent_pd_12m"]].drop_duplicates(["uscc", "period"])
    matched = keys.merge(table, on=["uscc", "period"], how="left", validate="many_to_one")
    return matched["latent_pd_12m"].to_numpy(float)
