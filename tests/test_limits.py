"""cnnstat.limits (issue 19): every limit is raised the way its error line says, the expression
budget bounds work (not only values), the wall-clock deadline ends a forward that never
returns, and the docs list every limit."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

import cnnstat
from cnnstat import limits
from cnnstat.errors import DefinitionError, UsageError
from cnnstat.definition import parse_definition, build_graph
from cnnstat.definition.expr import Budget, evaluate

ROOT = Path(__file__).resolve().parent.parent


def test_each_limit_reads_its_variable(monkeypatch):
    for limit in limits.LIMITS.values():
        monkeypatch.delenv(limit.env, raising=False)
        assert limits.value(limit.key) == limit.default
        monkeypatch.setenv(limit.env, "7")
        assert limits.value(limit.key) == 7
        monkeypatch.setenv(limit.env, "1_000")
        assert limits.value(limit.key) == 1000
        for bad in ("0", "-1", "nan", "inf", "lots"):
            monkeypatch.setenv(limit.env, bad)
            with pytest.raises(UsageError, match=f"{limit.env}="):
                limits.value(limit.key)
        monkeypatch.delenv(limit.env)


def test_override_wins_and_is_undone(monkeypatch):
    monkeypatch.setenv("CNNSTAT_MAX_LAYERS", "10")
    with limits.override(layers=20):
        assert limits.value("layers") == 20
    assert limits.value("layers") == 10
    with pytest.raises(KeyError):
        with limits.override(nonsense=1):
            pass


def test_the_error_names_the_limit_and_how_to_raise_it():
    text = str(limits.exceeded("layers", "the model has more than 100,000 layers"))
    assert text == ("the model has more than 100,000 layers (limit: 100,000 layers per model; "
                    "raise it with the environment variable CNNSTAT_MAX_LAYERS)")
    assert "raise it with --timeout SECONDS or CNNSTAT_TIMEOUT" in str(
        limits.exceeded("timeout", "x"))


def test_every_limit_is_documented():
    page = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    for limit in limits.LIMITS.values():
        assert limit.env in page, limit.env
        default = f"{limit.default:,}" if isinstance(limit.default, int) else str(limit.default)
        assert default in page, (limit.key, default)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/limits.md" in readme


def test_a_raised_limit_lets_the_model_through():
    text = "input: [3, 8, 8]\nlayers:\n  - repeat: 30\n    call: relu\n"
    with limits.override(layers=10):
        with pytest.raises(limits.LimitError, match="more than 10"):
            build_graph(parse_definition(text))
    with limits.override(layers=31):
        assert len(build_graph(parse_definition(text))) == 31


def test_expression_work_is_charged():
    # a comparison costs the elements it compares; 10 comparisons of 10^4 elements = 2x10^5 steps
    d, e = list(range(10_000)), list(range(10_000))
    budget = Budget(steps=250_000)
    for _ in range(10):
        evaluate("d == e", {"d": d, "e": e}.__getitem__, budget)
    with pytest.raises(limits.LimitError, match="more than 250,000 steps"):
        for _ in range(5):
            evaluate("d == e", {"d": d, "e": e}.__getitem__, budget)


def test_sum_of_lists_is_linear_and_bounded():
    lists = [[1] * 1000] * 9
    assert len(evaluate("sum(x, [])", {"x": lists}.__getitem__)) == 9000
    start = time.perf_counter()
    with pytest.raises(DefinitionError, match="longer than 10,000"):
        evaluate("sum(x, [])", {"x": [[1] * 10_000] * 10_000}.__getitem__,
                 Budget(steps=10 ** 12, max_size=10 ** 9))
    assert time.perf_counter() - start < 1


def test_nested_values_count_in_full():
    a = list(range(1000))
    with pytest.raises(limits.LimitError, match="a value of 10,010 elements"):
        evaluate("[a, a, a, a, a, a, a, a, a, a]", {"a": a}.__getitem__, Budget(max_size=10_000))


def test_deadline_raises_in_python_code():
    start = time.monotonic()
    with pytest.raises(limits.LimitError, match="spinning took longer than 0.3 s"):
        with limits.deadline("spinning", 0.3):
            while True:
                pass
    assert time.monotonic() - start < 5
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler, None) \
        or callable(signal.getsignal(signal.SIGALRM))


def test_deadline_is_off_in_the_api_unless_asked():
    with limits.deadline("anything"):                 # no timeout set: no alarm
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_deadline_in_bench_marks_the_row_failed(monkeypatch):
    pytest.importorskip("torch")
    from cnnstat.timing import sweep
    from cnnstat.timing.runner import resolve_target

    def endless(row, step, clock, memory, settings):
        while True:
            step()

    target = resolve_target("lenet5")
    settings = sweep.Settings(batches=[1], threads=1, warmup_s=0.01, min_time_s=0.01,
                              min_iters=1)
    with limits.override(timeout=0.5):
        result = sweep.run_sweep([target], settings, measure=endless)
    assert result.rows[0].status == sweep.ERROR
    assert "took longer than 0.52 s" in result.rows[0].message     # 0.5 s + warm-up + timing


def test_the_api_runs_python_models_in_process(tmp_path):
    """The CLI contains a model's code in a child process; the API does not (the user's own
    code, in the user's own process) — and still turns sys.exit into an error."""
    pytest.importorskip("torch")
    path = tmp_path / "exits.py"
    path.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                    "        super().__init__()\n        raise SystemExit(4)\n")
    assert not limits.contain_user_code()
    with pytest.raises(UsageError, match=r"its code called sys.exit\(4\)"):
        cnnstat.analyze(f"{path}:Net")

