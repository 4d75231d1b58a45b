"""The studio in a real headless Chromium (Debian's, driven by Playwright): filter a run to failures,
open a case, grade it, reload and see the grade; accept a candidate; correct a golden case; a write
without the CSRF token is refused; payloads in outputs, ids, tags and reasons never run.

Set ``EVALKIT_UPDATE_SCREENSHOT=1`` to also write the case-page screenshot to docs/studio.png.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.store.labels import LabelStore
from evalkit.studio.app import create_app
from evalkit.studio.server import free_port
from tests.conftest import REPO
from tests.runs import Outcome, case_result, run_record
from tests.studio.conftest import StudioData, build_studio_data

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/setup installs it)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, StudioData]]:
    """The studio on a free loopback port, in a thread of this process."""
    import uvicorn

    data = build_studio_data(tmp_path)
    port = free_port("127.0.0.1")
    app = create_app(data.store, grader="ann")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):  # wait for the server to say it listens (a state check, not a fixed sleep)
        if server.started:
            started.set()
            break
        thread.join(0.02)
    assert started.is_set(), "the studio did not start"
    try:
        yield f"http://127.0.0.1:{port}", data
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def page() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = context.new_page()
        tab.pwned_dialogs = []
        tab.on("dialog", lambda d: (tab.pwned_dialogs.append(d.message), d.dismiss()))
        yield tab
        browser.close()


def assert_no_payload_ran(tab: Any) -> None:
    # the studio's own script ran (so scripts are enabled on the page) ...
    tab.wait_for_selector("html[data-studio-ready='1']", state="attached", timeout=10_000)
    # ... and no payload did
    assert tab.evaluate("typeof window.__pwned") == "undefined"
    assert tab.evaluate("document.documentElement.hasAttribute('data-pwned')") is False
    assert "pwned" not in tab.title()
    assert tab.pwned_dialogs == []


def test_review_in_the_browser(served: tuple[str, StudioData], page: Any, tmp_path: Path) -> None:
    base, data = served
    t = page
    # open a run and filter it to failures (the select submits itself: the studio's own script runs)
    t.goto(base + "/")
    t.click("#runs a[href='/runs/run-b']")
    # the select submits through studio.js, a script of its own: wait until the run page's has run
    # (choosing before it is attached changes the select and submits nothing)
    t.wait_for_url(base + "/runs/run-b")
    t.wait_for_selector("html[data-studio-ready='1']", state="attached", timeout=10_000)
    with t.expect_navigation():
        t.select_option("select[name=verdict]", "fail")
    assert "verdict=fail" in t.url
    ids = t.locator("a.case-link").all_inner_texts()
    assert ids == ["case-000", "case-001", "case-002", "case-003", "case-004", "case-005", "case-020"]
    assert_no_payload_ran(t)
    # open a case holding payloads in its input, output and tag, grade it, reload
    t.click("a.case-link >> text=case-001")
    assert_no_payload_ran(t)
    assert "<img src=x onerror" in t.locator("span.tag").first.inner_text()
    t.fill(".grade-form input[name=note]", "<script>window.__pwned=1</script> wrong answer")
    with t.expect_navigation():  # the form posted and its redirect loaded
        t.click(".grade-form button[value=fail]")
    t.reload()
    grade = t.locator("#grade-0").inner_text()
    assert (
        grade.startswith("Human grade: fail by ann")
        and "<script>window.__pwned=1</script> wrong answer" in grade
    )
    assert_no_payload_ran(t)
    screenshot = tmp_path / "studio.png"
    t.screenshot(path=str(screenshot), full_page=False)
    if os.environ.get("EVALKIT_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, REPO / "docs" / "studio.png")
    # the judge reasoning of another case holds a <script>: shown as text
    t.goto(base + "/runs/run-b/case?id=case-020")
    assert "<script>window.__pwned = 1" in t.locator(".judge-reasoning").inner_text()
    assert_no_payload_ran(t)

    # a write without the CSRF token (same browser, same cookies) is refused and changes nothing
    labels_before = LabelStore(data.store).current()
    refused = t.request.post(
        base + "/grade", form={"run": "run-b", "case": "case-002", "epoch": "0", "grade": "pass"}
    )
    assert refused.status == 403
    assert LabelStore(data.store).current() == labels_before

    # accept a candidate: it lands in the suite's generated-case file
    t.goto(base + "/queue")
    assert_no_payload_ran(t)
    with t.expect_navigation():  # the form posted and its redirect loaded
        t.click(".candidate[data-id=gen-empty-001] button[value=accept]")
    accepted = [json.loads(x) for x in data.generated_file.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in accepted] == ["gen-empty-001"]

    # correct a golden case's expected output: exactly its line changes
    before = data.cases_file.read_bytes().split(b"\n")
    t.goto(base + "/runs/run-b/case?id=case-005")
    t.fill(".correct-form textarea[name=expected]", '{"answer": "b"}')
    with t.expect_navigation():  # the form posted and its redirect loaded
        t.click(".correct-form button")
    after = data.cases_file.read_bytes().split(b"\n")
    assert [i for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y] == [5]
    assert json.loads(after[5])["expected"] == {"answer": "b"}


def test_an_epoch_whose_call_failed_offers_no_grade(served: tuple[str, StudioData], page: Any) -> None:
    """Epoch 0 of the case errored, epoch 1 answered: the page offered pass/fail on the failed call,
    and the `p`/`f` keys graded it."""
    base, data = served
    data.store.create_run(run_record("run-err", minutes=10))
    data.store.add_results(
        "run-err", [case_result(Outcome("c1", "error")), case_result(Outcome("c1", "pass"), 1)]
    )
    t = page
    t.goto(base + "/runs/run-err/case?id=c1")
    t.wait_for_selector("html[data-studio-ready='1']", state="attached", timeout=10_000)
    assert "No output to grade: the model call failed" in t.locator("#epoch-0 .grading").inner_text()
    assert t.locator("#epoch-0 .grade-form").count() == 0 and t.locator("#epoch-1 .grade-form").count() == 1
    # the first epoch's key: nothing to grade there, so no form is submitted (a submission is
    # dispatched while the key is handled, so it is seen, and held back, here)
    t.evaluate(
        "document.addEventListener('submit', e => { window.__sent = e.submitter.value; e.preventDefault(); }, true)"
    )
    t.keyboard.press("p")
    assert t.evaluate("window.__sent === undefined"), t.evaluate("window.__sent")
    t.reload()
    with t.expect_navigation():
        t.click("#epoch-1 .grade-form button[value=fail]")
    labels = [(lab.epoch, lab.grade) for lab in LabelStore(data.store).current() if lab.run_id == "run-err"]
    assert labels == [(1, "fail")]
