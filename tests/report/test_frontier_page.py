"""The group page (`evalkit report GROUP`): stored names are escaped, the chart is inline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.analysis.frontier import CellStats, build_frontier
from evalkit.report.frontier import frontier_chart, frontier_markdown, render_group_html, write_group_report
from tests.report.test_chromium import CHROMIUM, chromium


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
    markdown = frontier_markdown(frontier)
    assert "<script>" not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "default-src 'none'" in html  # nothing external can load, no script can run
    assert frontier_chart(frontier) is not None
    assert frontier_chart(build_frontier(cells[1:])) is None  # no cell with a cost: no chart
    assert '<h2 id="chart">' not in render_group_html(build_frontier(cells[1:]), group_id="g", suite="s")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/setup installs it)")
def test_the_page_in_headless_chromium(tmp_path: Path) -> None:
    passes = {f"c{i}": i < 8 for i in range(10)}
    payload = "<img src=x onerror=\"document.title='pwned'\">"
    cells = [
        CellStats("r1", "v1", payload, 10, 8, 0.49, 0.94, 1.5, 300.0, case_passed=passes),
        CellStats("r2", "v1", "m", 10, 6, 0.31, 0.83, 3.0, 400.0, case_passed=passes),
    ]
    page = write_group_report(build_frontier(cells), group_id="g-1", suite="s", path=tmp_path / "g.html")
    done = chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<title>Group g-1 · s</title>" in dom  # the payload did not run
    assert not re.search(r"<img[^>]*\bsrc=\"?x\b", dom)
    rows = re.findall(r'<tr class="([a-z ]+)">', dom)
    assert rows == ["pareto recommended", "dominated"]
    assert "&lt;img src=x onerror=" in dom
    assert '<img src="data:image/png;base64,' in dom
