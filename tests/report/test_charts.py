"""The report's charts, read from matplotlib's artists rather than from the pixels."""

from __future__ import annotations

from matplotlib.figure import Figure

from evalkit.report.charts import RunSeries, _usage


def test_cost_chart_draws_runs_with_the_same_label_apart() -> None:
    # a run and its cached re-run: same prompt and model, so the same label
    runs = [
        RunSeries("v1 · openai/m", cost_usd=0.5, prompt_tokens=10),
        RunSeries("v1 · openai/m", cost_usd=0.2, cost_known=False, prompt_tokens=10),
    ]
    fig = Figure()
    _usage(fig, runs)
    cost_ax = fig.axes[0]
    bars = [(bar.get_x() + bar.get_width() / 2, bar.get_height()) for bar in cost_ax.patches]
    assert bars == [(0.0, 0.5), (1.0, 0.0)]  # one bar a run; no price draws no bar that reads as free
    assert [label.get_text() for label in cost_ax.get_xticklabels()] == ["v1 · openai/m"] * 2
    assert [(text.get_position()[0], text.get_text()) for text in cost_ax.texts] == [(1, "no price")]


def test_cost_chart_marks_a_cost_that_is_a_lower_bound() -> None:
    """A run whose calls are not all in its figures (requests in flight at a stop, a killed part):
    its bar is drawn, and said to be at least that."""
    runs = [RunSeries("a", cost_usd=0.5), RunSeries("b", cost_usd=0.3, cost_at_least=True)]
    fig = Figure()
    _usage(fig, runs)
    cost_ax = fig.axes[0]
    assert [bar.get_height() for bar in cost_ax.patches] == [0.5, 0.3]
    assert [(text.get_position(), text.get_text()) for text in cost_ax.texts] == [((1, 0.3), "at least")]
