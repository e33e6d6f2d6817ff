"""Charts: the start-up warm-up builds every kind of figure the dashboard draws, with French labels."""

from __future__ import annotations

import sys
from datetime import date

from ccr.ui import charts


def test_the_warm_up_loads_each_trace_type_the_dashboard_uses():
    charts.warm_up()
    for module in ("plotly.graph_objs._scatter", "plotly.graph_objs._bar", "plotly.graph_objs._heatmap"):
        assert module in sys.modules, module


def test_the_trend_figure_keeps_french_separators_and_the_threshold_line():
    trend = {"granularity": "day", "pass_threshold": 75.5, "detail_boundary": None,
             "points": [{"period": date(2026, 3, 2), "avg_score": 81.25, "calls": 3,
                         "pass_rate": 66.7, "source": "detail"}]}
    fig = charts.trend_figure(trend).to_dict()
    assert fig["layout"]["separators"] == ", "
    assert any("75,5" in a["text"] for a in fig["layout"]["annotations"])
