from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType

from jobs.silver.conform import (
    electricity_to_kwh,
    normalise_company_name,
    normalise_uscc,
    normalised_unit,
    parse_failed,
    parse_period,
    parse_value,
    to_halfwidth,
)


def _one(spark, expr, value, ddl="v string"):
    return spark.createDataFrame([(value,)], ddl).select(expr.alias("out")).collect()[0]["out"]


def test_fullwidth_folds_to_halfwidth(spark):
    assert _one(spark, to_halfwidth(F.col("v")), "ＡＢＣ１２３（有限）　") == "ABC123(有限) "


def test_company_names_match_across_spellings(spark):
    variants = [
        "吕梁市汾阳县核桃加工有限责任公司",
        "吕梁市汾阳县核桃加工有限公司 ",
        "吕梁市 汾阳县核桃加工有限公司",
        "吕梁市汾阳县核桃加工有限责任公司",
    ]
    keys = {_one(spark, normalise_company_name(F.col("v")), v) for v in variants}
    assert keys == {"吕梁市汾阳县核桃加工有限公司"}
    assert _one(spark, normalise_company_name(F.col("v")), "离石（吕梁）农业有限公司") == "离石(吕梁)农业有限公司"


def test_uscc_is_folded_and_upper_cased(spark):
    assert _one(spark, normalise_uscc(F.col("v")), "９１３５０１００ｍ０００１００y43") == "91350100M000100Y43"


def test_period_and_amount_parsing_flags_garbage(spark):
    assert str(_one(spark, parse_period(F.col("v")), "2020-03")) == "2020-03-01"
    assert _one(spark, parse_value(F.col("v"), DoubleType()), "1,234.5") == 1234.5
    assert _one(spark, parse_failed(F.col("v"), parse_value(F.col("v"), DoubleType())), "12x") is True
    assert _one(spark, parse_failed(F.col("v"), parse_value(F.col("v"), DateType())), "") is False


def test_mwh_becomes_kwh(spark):
    df = spark.createDataFrame([(2.5, "MWh"), (800.0, "kWh"), (30.0, "m3")], "c double, u string")
    out = df.select(electricity_to_kwh(F.col("c"), F.col("u")).alias("c"), normalised_unit(F.col("u")).alias("u"))
    assert [tuple(r) for r in out.collect()] == [(2500.0, "kWh"), (800.0, "kWh"), (30.0, "m3")]
