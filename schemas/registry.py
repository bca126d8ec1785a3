"""Table registry: every table's schema, keys, partitioning, layer and location, declared once.

The same declaration creates the Delta table (``riskpipe.core.io.ensure_table``),
builds test data (``TableSpec.empty_row`` / ``rows_to_df``) and generates data
quality expectations (``expectations``). Column descriptions live in the
StructField metadata under ``comment`` and are written to the Delta table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql.types import DataType, StructField, StructType

LAYERS = ("bronze", "silver", "gold", "ops")


def column(name: str, dtype: DataType, comment: str, *, nullable: bool = True, **meta: Any) -> StructField:
    """Declare a column with its description (and optional rule metadata).

    Extra keyword metadata (``unit``, ``allowed``, ``min``, ``max`` ...) is kept in
    the StructField metadata so that expectation suites can be generated from it.
    """
    return StructField(name, dtype, nullable=nullable, metadata={"comment": comment, **meta})


@dataclass(frozen=True)
class TableSpec:
    """Declaration of one lakehouse table.

    Attributes:
        name: table name, unique across layers.
        layer: one of ``bronze``, ``silver``, ``gold``, ``ops``.
        schema: the full Spark schema, in output column order.
        keys: business key columns (MERGE condition); empty for append-only tables.
        partition_by: partition columns.
        description: what one row is.
        properties: Delta table properties (e.g. Change Data Feed); the layer's retention
            properties (``maintenance.retention`` of the profile) are added at creation.
        zorder_by: columns the weekly compaction Z-orders the files of each partition by: the
            columns the jobs filter on besides the partition columns; empty: bin-packing only.
    """

    name: str
    layer: str
    schema: StructType
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    description: str = ""
    properties: Mapping[str, str] = field(default_factory=dict)
    zorder_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"table {self.name}: unknown layer {self.layer!r}")
        names = self.schema.fieldNames()
        missing = [c for c in (*self.keys, *self.partition_by) if c not in names]
        if missing:
            raise ValueError(f"table {self.name}: key/partition columns {missing} not in schema")
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        unknown = [c for c in self.zorder_by if c not in names]
        if unknown:
            raise ValueError(f"table {self.name}: Z-order columns {unknown} not in schema")
        # Delta refuses to Z-order by a partition column: every file holds one value of it
        partitioned = [c for c in self.zorder_by if c in self.partition_by]
        if partitioned:
            raise ValueError(f"table {self.name}: Z-order columns {partitioned} are partition columns")

    @property
    def columns(self) -> list[str]:
        return self.schema.fieldNames()

    def location(self, root: str) -> str:
        """Path of the table under the lakehouse ``root``."""
        return f"{root.rstrip('/')}/{self.layer}/{self.name}"

    def field(self, name: str) -> StructField:
        return self.schema[name]

    def empty_row(self, **values: Any) -> dict[str, Any]:
        """A row dict with every column, None unless given (for test data)."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise KeyError(f"table {self.name} has no columns {sorted(unknown)}")
        return {c: values.get(c) for c in self.columns}

    def rows_to_df(self, spark, rows: Iterable[Mapping[str, Any]]):
        """Build a DataFrame with exactly this schema from partial row dicts."""
        return spark.createDataFrame([self.empty_row(**r) for r in rows], schema=self.schema)


_REGISTRY: dict[str, TableSpec] = {}


def register(spec: TableSpec) -> TableSpec:
    """Add ``spec`` to the registry (idempotent for an identical spec)."""
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"table {spec.name} declared twice with different definitions")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> TableSpec:
    """Return the declaration of table ``name``."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; declared: {sorted(_REGISTRY)}") from None


def all_tables(layer: str | None = None) -> list[TableSpec]:
    """All declared tables, optionally of one layer, sorted by layer then name."""
    _load_all()
    specs = [s for s in _REGISTRY.values() if layer is None or s.layer == layer]
    return sorted(specs, key=lambda s: (LAYERS.index(s.layer), s.name))


def _load_all() -> None:
    # Declaration modules register on import; importing here keeps one entry point.
    import importlib
    import pkgutil

    import schemas

    for info in pkgutil.iter_modules(schemas.__path__):
        if info.name not in {"registry"}:
            importlib.import_module(f"schemas.{info.name}")
