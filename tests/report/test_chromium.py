"""The report in a real headless Chromium: it renders, its charts load, its filter works, payloads never run.

Needs Debian's ``chromium`` (``.ci/setup`` installs it when run as root); skipped without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from evalkit.report.html import write_report
from evalkit.store import open_store
from tests.report.payloads import payload_runs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/setup installs it)")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=10000",  # let the load event (charts decoded) happen before the dump
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chromium")
    store = open_store(root / "r.duckdb")
    a, b = payload_runs(store, root / "suite")
    return write_report(store, a, b, path=root / "report.html")


def test_payloads_show_as_text_and_never_run(report: Path, tmp_path: Path) -> None:
    # every failing case opened: outputs, inputs, tags, judge explanations and diffs are all on the page
    done = chromium(tmp_path / "profile", "--dump-dom", report.as_uri() + "#failures&open")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    head = dom[: dom.index("<body")]
    # the report's own script ran (so scripts were enabled) and every chart image decoded
    assert 'data-report-ready="1"' in head
    assert 'data-charts-loaded="5"' in head
    # no payload ran: the title is ours, no flag was set, no payload became an element
    assert "<title>evalkit report · s · v1 · openai/m vs v2 · openai/m</title>" in dom
    assert "data-pwned" not in head
    assert not re.search(r"<img[^>]*\bsrc=\"?x\b", dom)
    assert dom.count("<script") == 2  # the data block and the report's script
    # ... and each payload is on the page as text, in outputs, diffs, tags and judge explanations
    opened = dom[dom.index('id="case-list"') :]
    assert opened.count('<details class="case" data-id=') == 8
    assert "&lt;script&gt;window.__pwned = 1; document.title = 'pwned-script'&lt;/script&gt;" in opened
    assert "&lt;img src=x onerror=\"document.title='pwned-img'" in opened
    assert '<div class="reasoning judge-reasoning">the output holds &lt;script&gt;window.__pwned' in opened
    assert '<span class="tag">&lt;img src=x onerror=' in opened
    # word diffs, expected against output and A against B
    assert re.search(r'<pre class="diff expected">\{"answer":"<del>a</del><ins>', opened)
    assert '<pre class="diff versions">' in opened


def test_filter_to_failures_in_the_browser(report: Path, tmp_path: Path) -> None:
    everything = chromium(tmp_path / "profile", "--dump-dom", report.as_uri())
    assert everything.returncode == 0, everything.stderr[-2000:]
    assert re.findall(r'<details class="case" data-id="([^"]+)"', everything.stdout)[:3] == [
        "case-000",
        "case-001",
        "case-002",
    ]
    assert "30 of 30 cases" in everything.stdout
    failing = chromium(tmp_path / "profile", "--dump-dom", report.as_uri() + "#failures")
    shown = re.findall(r'<details class="case" data-id="([^"]+)" data-failing="(\d)"', failing.stdout)
    assert [case_id for case_id, _ in shown] == [f"case-{i:03d}" for i in (0, 1, 2, 3, 4, 5, 20, 21)]
    assert {flag for _, flag in shown} == {"1"}
    assert "8 of 30 cases" in failing.stdout
    assert '<div class="body">' not in failing.stdout  # details are built only when a case is opened


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = chromium(
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1280,1600",
        f"--screenshot={shot}",
        report.as_uri(),
    )
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(str(shot))
    assert pixels.shape[:2] == (1600, 1280)
    flat = pixels[..., :3].reshape(-1, 3)
    share_white = float((flat.min(axis=1) > 0.97).mean())
    colours = len({tuple(p) for p in (flat[::97] * 255).astype(int).tolist()})
    assert share_white < 0.95 and colours > 40  # text, tables and the charts' bars, not an empty page
