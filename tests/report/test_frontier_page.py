"""The group page (`evalkit report GROUP`): stored names are escaped, the chart is inline."""

from __future__ import annotations

from evalkit.analysis.frontier import CellStats, build_frontier
from evalkit.report.frontier import frontier_chart, render_group_html


def test_stored_names_are_text_and_a_cell_without_cost_is_left_off_the_chart() -> None:
    passes = {f"c{i}": i < 8 for i in range(10)}
    cells = [
        CellStats(
            "r1", "<b>v1</b>", "<script>alert(1)</script>", 10, 8, 0.49, 0.94, 1.5, 300.0, case_passed=passes
        ),
        CellStats("r2", "v2", "m", 10, 8, 0.49, 0.94, None, None, case_passed=passes),
    ]
    frontier = build_frontier(cells)
    html = render_group_html(frontier, group_id="g<1>", suite="s&t")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;v1&lt;/b&gt;" in html and "g&lt;1&gt;" in html and "s&amp;t" in html
    assert "default-src 'none'" in html  # nothing external can load, no script can run
    assert frontier_chart(frontier) is not None
    assert frontier_chart(build_frontier(cells[1:])) is None  # no cell with a cost: no chart
    assert '<h2 id="chart">' not in render_group_html(build_frontier(cells[1:]), group_id="g", suite="s")
