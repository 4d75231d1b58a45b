"""The HTML report as written: self-contained, escaped, complete (the browser test is test_chromium.py)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.report.html import write_report
from evalkit.store import open_store
from tests.conftest import CliResult
from tests.report.payloads import IMG, payload_runs


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("report")
    store = open_store(root / "r.duckdb")
    a, b = payload_runs(store, root / "suite")
    return write_report(store, a, b, path=root / "out" / "report.html").read_text()


def test_report_is_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # and the page says so to the browser
    charts = re.findall(
        r'<img class="chart" data-chart="(\w+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"', html
    )
    assert [key for key, _ in charts] == ["scorers", "fields", "scores", "latency", "cost"]
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in charts)


def case_data(html: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="case-data">(.*?)</script>', html, re.S)
    assert block is not None
    text = block.group(1)
    assert not set(text) & set("<>&")  # nothing in the data can end its element or start a tag
    data: dict[str, Any] = json.loads(text)
    return data


def test_untrusted_text_is_escaped_everywhere(html: str) -> None:
    assert html.count("<script") == 2  # the case data block and the report's own script
    assert "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;img src=x onerror=" in html  # in the flipped cases, rendered by jinja2
    assert "&lt;b&gt;bold&lt;/b&gt; is not markup here." in html  # the prompt version's text
    outputs = [side["out"] for case in case_data(html)["cases"] for side in case["s"] if side]
    assert any(IMG.replace('"', "'") in (out or "") for out in outputs)  # data arrives intact, as data


def test_case_table_data(html: str) -> None:
    data = case_data(html)
    assert data["runs"] == [{"key": "a", "label": "v1 · openai/m"}, {"key": "b", "label": "v2 · openai/m"}]
    cases = data["cases"]
    assert len(cases) == 30
    assert sum(c["fail"] for c in cases) == 8  # failing in A or B: 0-5, 20, 21
    assert sorted(c["flip"] for c in cases if c["flip"]) == ["fail→pass"] + ["pass→fail"] * 6
    case = next(c for c in cases if c["id"] == "case-001")
    assert case["tags"] == [IMG] and case["exp"] == '{"answer": "a"}'
    assert [side["v"] for side in case["s"]] == ["pass", "fail"]
    assert case["why"] == "judge: answer differs from expected"
    reasoning = [n[5] for c in cases for side in c["s"] if side for n in side["n"] if n[5]]
    assert len(reasoning) == 2 + 7 and all("window.__pwned = 1" in r for r in reasoning)
    assert "Flipped cases: 6 pass→fail, 1 fail→pass" in html
    assert re.search(r"<td>pass rate</td><td class=\"num\">93.3%</td><td class=\"num\">76.7%</td>", html)
    assert '<option value="failing">failures (8)</option>' in html


def test_single_run_report_and_cli(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path / "r.duckdb")
    payload_runs(store, tmp_path / "suite")
    monkeypatch.chdir(tmp_path)
    result = cli("report", "run-a", "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "report written to reports/run-a.html"
    single = (tmp_path / "reports" / "run-a.html").read_text()
    assert 'id="comparison"' not in single and len(case_data(single)["cases"]) == 30
    pair = cli("report", "run-a", "--compare", "run-b", "--db", str(tmp_path / "r.duckdb"))
    assert pair.stdout.strip() == "report written to reports/run-a-vs-run-b.html"
    assert cli("report", "run-a", "--compare", "run-a", "--db", str(tmp_path / "r.duckdb")).exit_code == 2
    # a prompt edited since the run is shown as it is now, and said not to be the run's
    (tmp_path / "suite" / "prompts" / "v1.j2").write_text("[user]\nchanged {{ question }}\n")
    cli("report", "run-a", "--out", "edited.html", "--db", str(tmp_path / "r.duckdb"))
    assert "is not this run&#39;s template" in (tmp_path / "edited.html").read_text()


def test_field_metrics_table_lists_every_field_with_micro_row(html: str) -> None:
    section = html.split('<h2 id="fields">', 1)[1].split("<h2", 1)[0]
    rows = re.findall(r"<tr><td>([^<]+)</td>((?:<td class=\"num\">[^<]*</td>){8})</tr>", section)
    assert rows and rows[-1][0] == "* (micro)"
    assert "micro P" in section and "macro P" in section
    assert re.search(r"slots · from [\w:, -]+</div>", section)  # names the checks the fields come from


def test_per_field_chart_shows_the_worst_25_of_many_fields() -> None:
    from evalkit.report.charts import FIELDS_SHOWN, RunSeries, render_charts

    accuracy = {f"attribute {i:02d}": i / 60 for i in range(51)}
    chart = next(c for c in render_charts([RunSeries("A", field_accuracy=accuracy)]) if c.key == "fields")
    assert chart.title == f"Accuracy per field (the {FIELDS_SHOWN} worst of 51)"
    png = base64.b64decode(chart.data_uri.split(",", 1)[1])
    height = int.from_bytes(png[20:24], "big")  # IHDR: the chart grows with its rows
    assert height > 3.4 * 80 * 1.5
