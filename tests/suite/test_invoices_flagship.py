"""The document flagship's pipeline (suites/invoices) on its generated PDFs: text layer, and OCR where Tesseract is installed."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from evalkit.providers.file_inputs import load_file_input, pdf_text
from evalkit.results import CaseResult
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from evalkit.testing.faults import Faults
from evalkit.testing.openai_server import LoopbackOpenAI

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "invoices"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"invoices_{name}", SUITE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def golden(case_id: str) -> dict[str, Any]:
    for line in (REPO / "golden" / "invoices.jsonl").read_text().splitlines():
        case = json.loads(line)
        if case["id"] == case_id:
            return dict(case)
    raise KeyError(case_id)


def test_the_generator_writes_line_items_that_add_up_to_the_total(tmp_path: Path) -> None:
    make = load("make_invoices")
    case = golden("inv-multipage-01")
    items, subtotal, vat = make.line_items(case["id"], case["expected"]["total"], 34)
    assert round(sum(q * u for _, q, u in items), 2) == subtotal
    assert round(subtotal + vat, 2) == case["expected"]["total"]
    make.write_invoice(case, tmp_path / "inv.pdf")
    # the committed PDF is what the script writes (its text, whatever fpdf2 version wrote the bytes)
    committed = REPO / "golden" / "invoices" / "inv-multipage-01.pdf"
    assert pdf_text((tmp_path / "inv.pdf").read_bytes()) == pdf_text(committed.read_bytes())


def test_a_digital_invoice_is_read_from_its_text_layer() -> None:
    pipeline = load("pipeline")
    case = golden("inv-multipage-01")
    invoice = load_file_input(case["input"]["invoice"], REPO / "golden")
    assert asyncio.run(pipeline.extract(invoice)) == case["expected"]


@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs Debian's tesseract-ocr (.ci/setup installs it)"
)
def test_a_scanned_invoice_is_read_by_ocr() -> None:
    pipeline = load("pipeline")
    case = golden("inv-scanned-01")
    invoice = load_file_input(case["input"]["invoice"], REPO / "golden")
    assert invoice.text.strip() == ""  # no text layer: everything comes from OCR
    assert asyncio.run(pipeline.extract(invoice)) == case["expected"]


@pytest.mark.parametrize("pages", [0, 1])
def test_a_document_with_nothing_to_read_is_the_pipelines_error(tmp_path: Path, pages: int) -> None:
    """A blank page used to come back as {} (every field 'missing', the model's fault in the
    report), and a file of no pages as an IndexError."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with (tmp_path / "blank.pdf").open("wb") as handle:
        writer.write(handle)
    invoice = load_file_input({"$file": "blank.pdf"}, tmp_path)
    with pytest.raises(ValueError, match=r"blank\.pdf: no text layer, and OCR read nothing"):
        asyncio.run(load("pipeline").extract(invoice))


def run_hybrid_02(
    db: Path,
    server: LoopbackOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    *,
    model: str = "openai/loopback",
    calls: int = 1,
) -> CaseResult:
    """The flagship suite on the one invoice whose two sources disagree (its vendor), the LLM that
    settles it being ``model`` on the loopback server; ``calls``: the requests it should get."""
    monkeypatch.setenv("INVOICES_LLM", model)
    monkeypatch.setenv("INVOICES_LLM_API_BASE", server.base_url)
    before = server.stats.requests
    monkeypatch.delitem(sys.modules, "pipeline", raising=False)  # another suite's pipeline.py
    results: list[CaseResult] = []
    store = open_store(db)
    try:
        outcome = run_suite(
            load_suite(SUITE / "suite.yaml"),
            store,
            RunOptions(case_filter=lambda case: case.id == "inv-hybrid-02"),
            on_result=results.append,
        )
    finally:  # the suite's python: target imported its pipeline.py as `pipeline`: not for later tests
        sys.modules.pop("pipeline", None)
    assert server.stats.requests - before == calls  # the reconciling call, unless cached
    (result,) = results
    (stored,) = store.case_results(outcome.run.run_id, frame=False)
    assert stored.raw_text == result.output.text  # the notes are kept with the run
    return result


@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs Debian's tesseract-ocr (.ci/setup installs it)"
)
def test_a_reconciling_llm_that_gives_no_answer_is_noted_and_the_answer_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text layer's candidate was kept without a word when the LLM call failed: the result
    could not tell a settled field from one the LLM never saw."""
    with LoopbackOpenAI(faults=Faults(error_500=1.0)) as server:
        failed = run_hybrid_02(tmp_path / "failed.duckdb", server, monkeypatch)
    with LoopbackOpenAI() as server:  # answers {"echo": ...}: no vendor in it
        unread = run_hybrid_02(tmp_path / "unread.duckdb", server, monkeypatch)
    with LoopbackOpenAI(responder=lambda _: json.dumps({"vendor": "Lumen Event Technology"})) as server:
        settled = run_hybrid_02(tmp_path / "settled.duckdb", server, monkeypatch)
    answer = json.loads(settled.output.text or "")
    assert answer["vendor"] == golden("inv-hybrid-02")["expected"]["vendor"] and "notes" not in answer
    kept = "; kept the text layer's 'Lumen Event Technology'"
    for result in (failed, unread):
        # the same answer, scored the same (the suite does not score the notes): only the note is new
        output = json.loads(result.output.text or "")
        assert {field: value for field, value in output.items() if field != "notes"} == answer
        assert result.verdict == settled.verdict and result.scores == settled.scores
    assert json.loads(failed.output.text or "")["notes"] == [
        "vendor: the reconciling LLM (openai/loopback) failed: ProviderError: 500: injected server error"
        + kept
    ]
    (note,) = json.loads(unread.output.text or "")["notes"]
    assert note.startswith("vendor: the reconciling LLM's answer '{\"echo\": ") and note.endswith(
        "' gives no vendor" + kept
    )


@pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="needs Debian's tesseract-ocr (.ci/setup installs it)"
)
def test_another_reconciling_llm_is_another_pipeline_not_the_first_ones_cached_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with INVOICES_LLM (or INVOICES_LLM_API_BASE) changed was answered from the cache of the
    run with the first LLM: its results were that LLM's, stored as another's."""
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=lambda _: json.dumps({"vendor": "Lumen Event Technology"})) as server:
        settled = run_hybrid_02(db, server, monkeypatch)
        assert run_hybrid_02(db, server, monkeypatch, calls=0).output.cached  # the same pipeline
        run_hybrid_02(db, server, monkeypatch, model="openai/another-model")
    with LoopbackOpenAI() as server:  # another server, answering {"echo": ...}: no vendor in it
        unread = run_hybrid_02(db, server, monkeypatch, model="openai/another-model")
    assert "notes" not in json.loads(settled.output.text or "")
    (note,) = json.loads(unread.output.text or "")["notes"]
    assert note.startswith("vendor: the reconciling LLM's answer")
