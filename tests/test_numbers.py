"""Human-readable numbers from the exact integers (issue 19): no float rounding, also past 2**53."""

from __future__ import annotations

import random

from cnnstat.render.numbers import human, human_bytes


def test_exact_past_two_to_the_53():
    n = 162_259_276_829_213_417_434_773_538_734_080
    # a float would print 162259276829213425664.00 T: wrong from the 17th digit on
    assert human(n) == "162259276829213417434.77 T"
    assert human(2 ** 53 + 1) == "9007.20 T"
    assert human_bytes(2 ** 80 + 2 ** 39) == "1099511627776.50 TiB"


def test_rounding_is_half_to_even_on_exact_halves():
    assert human(1_005_000) == "1.00 M"                   # 1.005 exactly: to the even 1.00
    assert human(1_015_000) == "1.02 M"                   # 1.015 exactly: to the even 1.02
    assert human(1_015_001) == "1.02 M" and human(1_004_999) == "1.00 M"
    assert human(-1_234_567, "MAC") == "-1.23 MMAC" and human(999) == "999"
    assert human_bytes(1536) == "1.50 KiB" and human_bytes(1023) == "1023 B"


def test_agrees_with_float_formatting_below_two_to_the_53():
    rng = random.Random(19)
    for _ in range(20_000):
        n = rng.randrange(10 ** 15)
        for scale, prefix in ((10 ** 12, "T"), (10 ** 9, "G"), (10 ** 6, "M"), (10 ** 3, "K")):
            if n >= scale:
                expected = f"{n / scale:.2f} {prefix}"
                break
        else:
            expected = str(n)
        assert human(n) == expected, n
