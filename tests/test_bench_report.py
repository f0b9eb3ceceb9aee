"""Benchmark results as tables, CSV, JSON, Markdown and plots (cnnstat.timing.report), from rows
built by hand: no torch, exact figures."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cnnstat.roofline.render import sig
from cnnstat.timing.agreement import Agreement
from cnnstat.timing.report import CSV_COLUMNS, csv_text, footnotes, json_text, report_files, table
from cnnstat.timing.stats import summarize
from cnnstat.timing.sweep import OOM, Row, Settings, SweepResult

MACHINE = {"cpu": "Test CPU", "torch_threads": 1, "usable_cores": 2, "torch": "2.x",
           "load_average_1_5_15min": [0.5, 0.4, 0.3], "date_utc": "2026-01-01T00:00:00Z"}


def _row(batch: int, median: float, **kw) -> Row:
    row = Row("net", "graph", "cpu", "fp32", False, False, batch, 1, macs=1_000_000_000,
              input=(3, 224, 224), **kw)
    if row.status == "ok":
        row.stats = summarize([median * f for f in (0.9, 1.0, 1.0, 1.0, 1.2)])
        row.memory_growth, row.memory_method = 3 * 2 ** 20, "peak RSS (test)"
    return row


def _result(rows, **kw) -> SweepResult:
    return SweepResult(rows, Settings(batches=tuple(r.batch for r in rows)), MACHINE,
                       planned=len(rows), **kw)


def test_sig_never_uses_exponents():
    assert [sig(x) for x in (1234.5, 123.4, 12.34, 1.234, 0.01234, 1.234e-5, 0.0, None)] == \
        ["1,234", "123", "12.3", "1.23", "0.0123", "0.0000123", "0", "-"]


def test_table_cells_are_derived_from_the_median():
    ok = _row(8, 0.040, predicted_s=0.010, profile="toy")
    oom = _row(64, 0.0, status=OOM, message="CUDA out of memory. Tried to allocate 2.00 GiB")
    headers, cells, numeric = table(_result([ok, oom]))
    first = dict(zip(headers, cells[0]))
    # median 40 ms; p10 = 0.9·40 + 0.4·(40 − 36) = 37.6 ms; p90 = 40 + 0.6·(48 − 40) = 44.8 ms
    assert first["median ms"] == "40.0" and first["p10–p90 ms"] == "37.6–44.8"
    assert first["images/s"] == "200"                    # 8 / 0.040
    assert first["GFLOP/s"] == "50.0"                    # 2 × 1e9 / 0.040 / 1e9
    assert first["GMAC/s"] == "25.0" and first["memory"] == "3.00 MiB"
    assert first["predicted ms"] == "10.0" and first["measured ÷ predicted"] == "4.00"
    assert first["input"] == "3×224×224" and numeric[headers.index("median ms")]
    second = dict(zip(headers, cells[1]))
    assert second["median ms"].startswith("out of memory: CUDA out of memory")
    assert len(cells[1]) == len(headers)


def test_timer_columns_show_the_interleaved_medians_they_compare():
    row = _row(1, 0.050)
    row.timer = Agreement((0.020, 0.021, 0.022), (0.020, 0.020, 0.021), 1, 0.10, (1.05,))
    headers, cells, _ = table(_result([row]))
    got = dict(zip(headers, cells[0]))
    assert got["cnnstat ms, interleaved"] == "21.0" and got["Timer ms"] == "20.0"
    assert got["cnnstat ÷ Timer"] == "1.050"
    data = json.loads(json_text(_result([row])))
    assert data["rows"][0]["timer"]["ratio"] == pytest.approx(1.05)
    assert data["rows"][0]["timer"]["within_tolerance"] is True


def test_csv_holds_base_units_and_every_column():
    rows = [_row(1, 0.010), _row(2, 0.0, status="error", message="torch.compile failed: x")]
    parsed = list(csv.DictReader(io.StringIO(csv_text(_result(rows)))))
    assert list(parsed[0]) == CSV_COLUMNS
    assert float(parsed[0]["median_s"]) == pytest.approx(0.010)
    assert float(parsed[0]["throughput_images_per_s"]) == pytest.approx(100.0)
    assert int(parsed[0]["flops"]) == 2_000_000_000 and parsed[0]["input"] == "3x224x224"
    assert parsed[1]["status"] == "error" and parsed[1]["median_s"] == ""


def test_footnotes_state_the_method_and_an_interruption():
    notes = footnotes(_result([_row(1, 0.01)], interrupted=True))
    text = "\n".join(notes)
    assert "warm-up ≥ 0.5 s excluded" in text and "FLOPs = 2 × MACs" in text
    assert "peak resident set" in text and "[peak RSS (test)]" in text
    assert "interrupted (Ctrl-C): 1 of 1 rows finished" in text


def test_report_files_with_a_plot_that_lists_failed_rows():
    rows = [_row(1, 0.01), _row(8, 0.05), _row(64, 0.0, status=OOM, message="no memory")]
    files = report_files(_result(rows), "cnnstat bench net --batch 1,8,64")
    assert set(files) == {"README.md", "bench.csv", "bench.json", "bench.png", "bench.svg"}
    assert files["bench.png"][:4] == b"\x89PNG"
    svg = files["bench.svg"].decode()
    assert "not measured: net fp32 batch 64: out of memory" in svg
    readme = files["README.md"]
    assert readme.startswith("# cnnstat bench: Test CPU") and "`cnnstat bench net --batch 1,8,64`" in readme
    assert "| load average (1, 5, 15 min) | 0.5, 0.4, 0.3 |" in readme
    again = report_files(_result(rows), "cnnstat bench net --batch 1,8,64")
    assert again["bench.svg"] == files["bench.svg"]       # deterministic plots


def test_no_plot_when_nothing_was_measured():
    files = report_files(_result([_row(1, 0.0, status=OOM, message="no memory")]))
    assert "bench.png" not in files and "bench.png" not in files["README.md"]
