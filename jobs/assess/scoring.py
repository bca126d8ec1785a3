"""Score one applicant with a registered model, pinned to a version so the decision can be replayed.

``models:/NAME@champion`` is resolved to ``models:/NAME/VERSION`` before loading: the version is
what the audit records and what a replay loads, whatever the alias points at later. Loaded
models are cached per (tracking URI, version-pinned URI), which never change content.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models.reasons import N_REASONS, reason_text
from riskpipe.core.config import Settings

_ALIAS_URI = re.compile(r"models:/(?P<name>[^/@]+)@(?P<alias>[^/]+)")
_VERSION_URI = re.compile(r"models:/(?P<name>[^/@]+)/(?P<version>\d+)")


@dataclass(frozen=True)
class ModelRef:
    """A model to score with: ``name`` and ``version`` (None for a non-registry URI) and the ``uri`` loaded."""

    name: str | None
    version: str | None
    uri: str


def _model_config(settings: Settings) -> Any:
    from models.config import model_config

    return model_config(settings)


def resolve_model(model_uri: str | None, *, settings: Settings, alias: str = "champion") -> ModelRef:
    """Pin ``model_uri`` (default ``models:/<models.name>@<alias>``) to a registry version.

    Raises:
        LookupError: when the alias does not exist (no model trained and promoted yet).
    """
    from mlflow.exceptions import MlflowException

    from models.registry import client

    config = _model_config(settings)
    mlflow_client = client(config)  # also points mlflow at the configured tracking/registry store
    uri = model_uri or f"models:/{config.name}@{alias}"
    by_alias = _ALIAS_URI.fullmatch(uri)
    if by_alias:
        try:
            found = mlflow_client.get_model_version_by_alias(by_alias["name"], by_alias["alias"])
        except MlflowException as error:
            raise LookupError(
                f"{uri} does not exist: train a model and promote it first (riskpipe train, riskpipe promote) [{error}]"
            ) from None
        return ModelRef(by_alias["name"], str(found.version), f"models:/{by_alias['name']}/{found.version}")
    by_version = _VERSION_URI.fullmatch(uri)
    if by_version:
        return ModelRef(by_version["name"], by_version["version"], uri)
    return ModelRef(None, None, uri)


@functools.lru_cache(maxsize=8)
def _load(tracking_uri: str, uri: str) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


def load_model(ref: ModelRef, *, settings: Settings) -> Any:
    """The pyfunc model behind ``ref`` (cached)."""
    from models.registry import client

    config = _model_config(settings)
    client(config)
    return _load(config.tracking_uri, ref.uri)


def _as_double(value: Any) -> float:
    return math.nan if value is None else float(value)


def score_values(model: Any, values: Mapping[str, Any], *, settings: Settings) -> dict[str, Any]:
    """Score one row of feature values.

    Args:
        model: a pyfunc model whose input schema names its feature columns (doubles).
        values: feature name -> value (numbers, booleans or None); extra names are ignored.

    Returns:
        ``pd``, ``score``, ``grade`` and ``reason_1..3`` with ``reason_1_text..reason_3_text``.

    Raises:
        ValueError: when a model input is not among ``values``.
    """
    import pandas as pd

    schema = model.metadata.get_input_schema()
    if schema is None:
        raise ValueError("the model has no input signature naming its feature columns")
    inputs = schema.input_names()
    missing = [name for name in inputs if name not in values]
    if missing:
        raise ValueError(f"the model needs feature(s) {missing} that the applicant's snapshot lacks")
    out = model.predict(pd.DataFrame([{name: _as_double(values[name]) for name in inputs}])).iloc[0]
    texts = _model_config(settings).reason_texts
    result: dict[str, Any] = {"pd": float(out["pd"]), "score": float(out["score"]), "grade": str(out["grade"])}
    for i in range(1, N_REASONS + 1):
        code = out.get(f"reason_{i}")
        code = code if isinstance(code, str) else None
        result[f"reason_{i}"] = code
        result[f"reason_{i}_text"] = reason_text(code.lower(), texts) if code else None
    return result
