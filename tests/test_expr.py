"""The safe expression evaluator: what it computes and what it refuses."""

from __future__ import annotations

import pytest

from cnnstat.definition.expr import ExprError, evaluate, make_divisible

VARS = {"alpha": 0.5, "layers": [3, 4, 6, 3], "c": 64}


def ev(src):
    return evaluate(src, lambda name: VARS[name])


@pytest.mark.parametrize("src, value", [
    ("1 + 2 * 3", 7),
    ("c // 3", 21),
    ("c / 4", 16.0),
    ("2 ** 10", 1024),
    ("-c % 7", 6),
    ("layers[2]", 6),
    ("layers[-1]", 3),
    ("layers[1:3]", [4, 6]),
    ("[c, c * 2]", [64, 128]),
    ("c if alpha < 1 else 0", 64),
    ("alpha < 1 and c > 10", True),
    ("not true", False),
    ("3 in layers", True),
    ("len(layers)", 4),
    ("sum(layers)", 16),
    ("max(layers)", 6),
    ("min(3, 1, 2)", 1),
    ("round(2.5)", 2),                 # Python's rounding: halves to even
    ("round(3.5)", 4),
    ("ceil(1.2)", 2),
    ("floor(-1.2)", -2),
    ("int(c * alpha)", 32),
    ("'bi' + 'linear'", "bilinear"),
    ("none", None),
    ("range(3)", [0, 1, 2]),
    # torchvision's _make_divisible: 32 * 0.75 = 24 stays; 16 * 0.35 = 5.6 -> 8 (min_value)
    ("make_divisible(32 * 0.75, 8)", 24),
    ("make_divisible(16 * 0.35, 8)", 8),
])
def test_values(src, value):
    assert ev(src) == value


def test_make_divisible_never_drops_more_than_ten_percent():
    # 91 -> int(91 + 4) // 8 * 8 = 88 (>= 0.9 * 91 = 81.9): kept; 10 -> 8 < 9: bumped to 16
    assert make_divisible(91, 8) == 88
    assert make_divisible(10, 8) == 16
    for v in range(1, 2000):
        m = make_divisible(v, 8)
        assert m % 8 == 0 and m >= 0.9 * v


@pytest.mark.parametrize("src, message", [
    ("1 / 0", "division by zero"),
    ("c % 0", "division by zero"),
    ("nope + 1", "unknown name 'nope'"),
    ("c.real", "attribute access"),
    ("[x for x in layers]", "comprehension"),
    ("lambda: 1", "lambda"),
    ("__import__('os')", "not a function"),
    ("open('/etc/passwd')", "not a function"),
    ("2 ** 200", "too large"),
    ("10 ** 20", "too large"),
    ("layers[9]", "out of range"),
    ("layers['a']", "not an integer"),
    ("'a' * 3", "not a number"),
    ("[1] * 100000000", "not a number"),
    ("1 +", "cannot parse"),
    ("(" * 300 + ")" * 300, "cannot parse|nested"),
    ("1" + " + 1" * 3000, "nested too deeply|longer than"),
    ("range(10 ** 9)", "too long|too large"),
    ("{'a': 1}", "mapping"),
    ("f'{c}'", "f-string"),
    ("max()", "at least one"),
    ("fail('alpha must be below 1')", "^alpha must be below 1$"),   # the definition's own message
])
def test_refusals(src, message):
    import re
    with pytest.raises(ExprError) as info:
        ev(src)
    assert re.search(message, info.value.message), info.value.message


def test_fail_is_raised_only_on_the_branch_taken():
    assert ev("c if alpha < 1 else fail('too wide')") == 64             # alpha = 0.5
    with pytest.raises(ExprError, match="^too wide$"):
        ev("c if alpha > 1 else fail('too wide')")
