"""USCC (GB 32100-2015) check digits, validation and generation."""

import numpy as np
import pytest

from riskpipe.core import uscc

REAL_CODES = [
    "91350100M000100Y43",
    "91440300708461136T",
    "91110108551385082Q",
    "91110000802100433B",
    "91341000MA2N0ABGXX",
    "92510100MA61WJ3204",
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_known_real_codes_are_valid(code):
    assert uscc.is_valid(code)
    assert uscc.check_digit(code[:17]) == code[17]


def test_weights_follow_the_standard():
    assert uscc.WEIGHTS[:6] == (1, 3, 9, 27, 19, 26)
    assert len(uscc.ALPHABET) == 31 and not set("IOZSV") & set(uscc.ALPHABET)


@pytest.mark.parametrize(
    "bad",
    [
        "91350100M000100Y44",  # wrong check digit
        "91350100M000100Y4",  # too short
        "91350100M000100Y433",  # too long
        "91350100M0001O0Y43",  # forbidden letter O
        "91350100m000100y43",  # lower case
        "９１３５０１００Ｍ０００１００Ｙ４３",  # full width
        None,
        913501,
        "",
    ],
)
def test_malformed_codes_are_invalid(bad):
    assert not uscc.is_valid(bad)


def test_normalise_recovers_full_width_and_case():
    assert uscc.normalise(" ９１３５０１００ｍ０００１００ｙ４３ ") == "91350100M000100Y43"
    assert uscc.is_valid(uscc.normalise("９１３５０１００Ｍ０００１００Ｙ４３"))


def test_generated_codes_are_valid_and_carry_the_region():
    rng = np.random.default_rng(0)
    codes = [uscc.generate(rng, "141102") for _ in range(2000)]
    assert all(uscc.is_valid(c) for c in codes)
    assert all(c[2:8] == "141102" for c in codes)
    assert len(set(codes)) == len(codes)
    coop = uscc.generate(rng, "141124", entity_type="3")
    assert coop[:2] == "93" and uscc.is_valid(coop)


def test_every_single_character_change_is_detected():
    code = REAL_CODES[1]
    for pos in range(18):
        for ch in uscc.ALPHABET:
            if ch != code[pos]:
                assert not uscc.is_valid(code[:pos] + ch + code[pos + 1 :])


def test_check_digit_rejects_bad_input():
    with pytest.raises(ValueError):
        uscc.check_digit("123")
    with pytest.raises(ValueError):
        uscc.check_digit("9135010OM000100Y4")
    with pytest.raises(ValueError):
        uscc.generate(np.random.default_rng(0), "14110")
