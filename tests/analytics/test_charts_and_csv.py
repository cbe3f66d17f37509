"""Chart geometry and CSV encoding: pure functions."""

import csv
import io
from pathlib import Path

import pytest

from app.analytics import charts, export
from app.analytics.services import Row

STYLE = Path(__file__).resolve().parents[2] / "app/static/style.css"


def test_the_stylesheet_has_every_bar_width_class():
    css = STYLE.read_text(encoding="utf-8")
    assert charts.width_rules() in css
    for step in (0, 1, 37, 100):
        assert f".w-{step}{{width:{step}%}}" in css


def test_width_steps():
    assert charts.width_step(0, 10) == 0
    assert charts.width_step(5, 0) == 0
    assert charts.width_step(10, 10) == 100
    assert charts.width_step(5, 10) == 50
    assert charts.width_step(1, 1000) == 1      # small but not zero: still visible
    assert charts.width_step(2000, 1000) == 100  # never wider than the track


def test_bars_scale_to_the_largest_shown_and_carry_their_number():
    rows = [Row("a", "A", count=8, hours=2.5), Row("b", "B", count=4), Row("c", "C", count=0)]
    bars = charts.bars(rows)
    assert [(b.key, b.step, b.text) for b in bars] == [("a", 100, "8"), ("b", 50, "4"), ("c", 0, "0")]
    assert [b.text for b in charts.bars(rows, by="hours")] == ["2.5", "0", "0"]
    assert len(charts.bars(rows, limit=2)) == 2
    assert charts.bars([]) == []


def test_column_chart_geometry():
    rows = [Row("2024-01", "2024-01", count=4), Row("2024-02", "2024-02", count=0), Row("2024-03", "2024-03", count=2)]
    chart = charts.column_chart(rows)
    first, empty, third = chart.columns
    assert first.height == charts.PLOT_HEIGHT and first.y == chart.baseline - charts.PLOT_HEIGHT
    assert empty.height == 0 and third.height == charts.PLOT_HEIGHT // 2
    assert third.x > empty.x > first.x
    assert chart.width >= third.x + third.width and chart.height > chart.label_y
    assert all(c.text_y < c.y for c in chart.columns)   # the number sits above its column
    assert charts.column_chart([]).columns == []


@pytest.mark.parametrize("value,safe", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("x=1", "x=1"), ("网格通", "网格通"), (12, "12"), (None, ""), ("", ""),
])
def test_csv_injection_cells_get_a_quote(value, safe):
    assert export.safe_cell(value) == safe


def test_csv_has_a_bom_and_round_trips_chinese():
    body = export.to_csv(["名称", "线索数"], [["XX学习APP", 3], ["=cmd|' /C calc'!A0", 1], ["a,b\n\"c\"", 2]])
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows == [["名称", "线索数"], ["XX学习APP", "3"], ["'=cmd|' /C calc'!A0", "1"], ["a,b\n\"c\"", "2"]]
