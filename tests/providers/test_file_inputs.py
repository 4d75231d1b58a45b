"""PDF, image and text files as case inputs, through the loopback OpenAI-compatible server."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from PIL import Image

from evalkit.providers.file_inputs import FileInput, pdf_text
from evalkit.results import CaseResult
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, one_error_line


def write_pdf(path: Path, *pages: str) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))


def write_png(path: Path, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def make_suite(
    root: Path, prompt: str, cases: list[dict[str, Any]], model: str = "openai/loopback", api_base: str = ""
) -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "v1.j2").write_text(prompt)
    (root / "cases").mkdir(exist_ok=True)
    (root / "cases" / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    base = f"  api_base: {api_base}\n" if api_base else ""
    (root / "suite.yaml").write_text(
        f"name: files\ntarget:\n  model: {model}\n{base}  prompts: {{v1: prompts/v1.j2}}\n"
        "cases: [cases/cases.jsonl]\nscorers:\n  - name: json_valid\n"
    )
    return root / "suite.yaml"


def run(suite: Path, db: Path) -> dict[str, CaseResult]:
    results: dict[str, CaseResult] = {}
    run_suite(
        load_suite(suite), open_store(db), RunOptions(), on_result=lambda r: results.__setitem__(r.case.id, r)
    )
    return results


def test_pdf_text_layer_page_by_page(tmp_path: Path) -> None:
    write_pdf(tmp_path / "a.pdf", "Invoice INV-001", "Total due: 120.50 EUR")
    text = pdf_text((tmp_path / "a.pdf").read_bytes())
    assert text.split("\f") == ["Invoice INV-001", "Total due: 120.50 EUR"]


def test_a_pdf_case_sends_its_text_layer_and_an_image_case_sends_an_image_part(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_pdf(root / "cases" / "docs" / "inv.pdf", "Invoice INV-001 from ACME GmbH", "Total due: 120.50 EUR")
    png = write_png(root / "cases" / "docs" / "mug.png", (200, 10, 10))
    cases = [
        {"id": "pdf", "input": {"doc": {"$file": "docs/inv.pdf"}, "ask": "total?"}},
        {"id": "img", "input": {"doc": {"$file": "docs/mug.png"}, "ask": "colour?"}},
    ]
    with LoopbackOpenAI() as server:
        suite = make_suite(
            root,
            "[system]\nExtract.\n[user]\n{{ ask }}\n{{ doc }}\nJSON only.\n",
            cases,
            api_base=server.base_url,
        )
        results = run(suite, tmp_path / "r.duckdb")
        bodies = {
            b["messages"][-1]["content"] if isinstance(b["messages"][-1]["content"], str) else "image": b
            for b in server.stats.bodies
        }
    assert results["pdf"].output.status == "ok" and results["img"].output.status == "ok"
    pdf_body = next(b for k, b in bodies.items() if k != "image")
    assert (
        pdf_body["messages"][-1]["content"]
        == "total?\nInvoice INV-001 from ACME GmbH\fTotal due: 120.50 EUR\nJSON only."
    )
    parts = bodies["image"]["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
    assert parts[0]["text"] == "colour?\n" and parts[2]["text"] == "\nJSON only."
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == png
    assert bodies["image"]["messages"][0] == {"role": "system", "content": "Extract."}


def test_the_cache_key_follows_the_files_content(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_png(root / "cases" / "docs" / "mug.png", (200, 10, 10))
    write_pdf(root / "cases" / "docs" / "inv.pdf", "Total 1")
    cases = [
        {"id": "img", "input": {"doc": {"$file": "docs/mug.png"}}},
        {"id": "pdf", "input": {"doc": {"$file": "docs/inv.pdf"}}},
    ]
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI() as server:
        suite = make_suite(root, "[user]\n{{ doc }}\n", cases, api_base=server.base_url)
        run(suite, db)
        assert server.stats.requests == 2
        again = run(suite, db)
        assert server.stats.requests == 2 and again["img"].output.cached and again["pdf"].output.cached
        write_png(root / "cases" / "docs" / "mug.png", (10, 10, 200))  # same name, new pixels
        # the same text layer in a new PDF (another producer, other bytes): a new call too
        write_pdf(root / "cases" / "docs" / "inv.pdf", "Total 1", "")
        edited = run(suite, db)
        assert server.stats.requests == 4
        assert not edited["img"].output.cached and not edited["pdf"].output.cached


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"$file": "docs/nope.png"}, "input 'doc': file not found: /"),
        ({"$file": "docs/broken.pdf"}, "cases/docs/broken.pdf: "),
        # the limit was shown rounded to whole MB (of 10^6 bytes, the setting's are 2^20): "0 MB"
        (
            {"$file": "docs/big.txt"},
            "big.txt: 5,000 bytes, over the 0.001 MB limit (1,048 bytes) that EVALKIT_MAX_FILE_MB sets",
        ),
        ({"$file": "https://example.com/a.png"}, "is a URL; evalkit does not fetch files"),
        ({"$file": "docs/blob"}, "cannot tell the type of 'blob'"),
    ],
)
def test_bad_files_are_one_line_errors_with_the_case_file_and_line(
    tmp_path: Path,
    cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    ref: dict[str, Any],
    message: str,
) -> None:
    root = tmp_path / "s"
    docs = root / "cases" / "docs"
    docs.mkdir(parents=True)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    (docs / "big.txt").write_text("x" * 5000)
    monkeypatch.setenv("EVALKIT_MAX_FILE_MB", "0.001")
    suite = make_suite(
        root,
        "[user]\n{{ doc }}\n",
        [{"id": "ok", "input": {"doc": "text"}}, {"id": "bad", "input": {"doc": ref}}],
        api_base="http://127.0.0.1:9",
    )
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cases.jsonl:2: case 'bad': input 'doc': " in result.stderr and message in result.stderr


def test_a_file_limit_that_is_not_a_number_is_not_the_files_fault(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It read "unreadable docs/inv.pdf: ConfigError: EVALKIT_MAX_FILE_MB='abc': ...", blaming the PDF."""
    root = tmp_path / "s"
    write_pdf(root / "cases" / "docs" / "inv.pdf", "Invoice INV-001")
    monkeypatch.setenv("EVALKIT_MAX_FILE_MB", "abc")
    suite = make_suite(
        root,
        "[user]\n{{ doc }}\n",
        [{"id": "a", "input": {"doc": {"$file": "docs/inv.pdf"}}}],
        api_base="http://127.0.0.1:9",
    )
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    line = one_error_line(result, 2, f"{root / 'cases' / 'cases.jsonl'}:1: case 'a': ")
    assert line.endswith("case 'a': EVALKIT_MAX_FILE_MB='abc': give the largest input file in MB, e.g. 20")


def test_python_targets_receive_the_file_and_text_files_render_their_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "s"
    (root / "cases" / "docs").mkdir(parents=True)
    (root / "cases" / "docs" / "note.txt").write_text("hello from a file")
    (root / "files_pipe.py").write_text(
        "def read(doc):\n    return {'kind': doc.kind, 'text': doc.text, 'sha': doc.sha256, 'exists': doc.path.is_file()}\n"
    )
    monkeypatch.syspath_prepend(str(root))
    suite = make_suite(
        root, "", [{"id": "t", "input": {"doc": {"$file": "docs/note.txt"}}}], model="python:files_pipe:read"
    )
    results = run(suite, tmp_path / "r.duckdb")
    out = json.loads(results["t"].output.text or "")
    assert out["kind"] == "text" and out["text"] == "hello from a file" and out["exists"] is True
    assert len(out["sha"]) == 64
    assert str(FileInput("x", "text", "text/plain", "0" * 64, data=b"abc")) == "abc"


def test_image_parts_through_litellm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALKIT_FAST_PATH", "0")
    root = tmp_path / "s"
    png = write_png(root / "cases" / "docs" / "mug.png", (200, 10, 10))
    with LoopbackOpenAI() as server:
        suite = make_suite(
            root,
            "[user]\nWhat colour?\n{{ doc }}\n",
            [{"id": "img", "input": {"doc": {"$file": "docs/mug.png"}}}],
            api_base=server.base_url,
        )
        results = run(suite, tmp_path / "r.duckdb")
        parts = server.stats.bodies[0]["messages"][-1]["content"]
    assert results["img"].output.status == "ok"
    assert [p["type"] for p in parts] == ["text", "image_url"]
    assert base64.b64decode(parts[1]["image_url"]["url"].split(",", 1)[1]) == png


def test_pdf_pages_as_images_when_the_template_asks(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_pdf(root / "cases" / "docs" / "two.pdf", "Page one", "Page two")
    prompt = "[user]\nRead both pages.\n{{ doc.page_images }}\nText layer: {{ doc }}\n"
    with LoopbackOpenAI() as server:
        suite = make_suite(
            root, prompt, [{"id": "p", "input": {"doc": {"$file": "docs/two.pdf"}}}], api_base=server.base_url
        )
        run(suite, tmp_path / "r.duckdb")
        parts = server.stats.bodies[0]["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "text"]
    assert parts[-1]["text"] == "\nText layer: Page one\fPage two"
    pages = [
        Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1]))) for p in parts[1:3]
    ]
    assert [page.size for page in pages] == [(827, 1170), (827, 1170)]  # A4 at 100 dpi
    assert pages[0].tobytes() != pages[1].tobytes()


def test_a_file_as_json_gives_text_an_images_url_or_its_bytes() -> None:
    from evalkit.providers.file_inputs import FileInput

    note = FileInput("n.txt", "text", "text/plain", "a" * 64, data=b"hello")
    assert note.as_json() == {
        "name": "n.txt",
        "media_type": "text/plain",
        "sha256": "a" * 64,
        "text": "hello",
    }
    linked = FileInput("https://x/p.png", "image", "image/png", "b" * 64, url="https://x/p.png")
    assert linked.as_json()["url"] == "https://x/p.png" and "base64" not in linked.as_json()
    inline = FileInput("p.png", "image", "image/png", "c" * 64, data=b"\x89PNG")
    assert inline.as_json()["base64"] == "iVBORw=="


def test_a_file_outside_the_suites_directory_and_the_case_files_is_refused(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`../../secret.txt` was read and handed to the target (and stored with the run)."""
    root = tmp_path / "s"
    (root / "shared").mkdir(parents=True)
    (root / "shared" / "note.txt").write_text("in the suite")
    (tmp_path / "secret.txt").write_text("not for the model")
    (root / "files_pipe.py").write_text("def read(doc):\n    return {'text': doc.text}\n")
    monkeypatch.syspath_prepend(str(root))
    db = str(tmp_path / "r.duckdb")
    for ref in ("../../secret.txt", str(tmp_path / "secret.txt"), "../shared/../../secret.txt"):
        suite = make_suite(
            root,
            "",
            [
                {"id": "ok", "input": {"doc": {"$file": "../shared/note.txt"}}},
                {"id": "bad", "input": {"doc": {"$file": ref}}},
            ],
            model="python:files_pipe:read",
        )
        result = cli("run", str(suite), "--db", db, "--no-progress")
        assert result.exit_code == 2, (ref, result.stdout, result.stderr)
        assert result.stderr.strip() == (
            f"evalkit: error: {root / 'cases' / 'cases.jsonl'}:2: case 'bad': input 'doc': "
            f"{tmp_path / 'secret.txt'} is outside the suite's directory and the case file's: "
            "input files must be under one of them (or a directory listed in EVALKIT_FILE_ROOTS)"
        )
    assert not (tmp_path / "r.duckdb").exists()
    # a symlink kept in the repository is its own (git-annex and DVC keep files so), and a path with
    # a NUL byte is one line, not a crash
    (root / "cases" / "annexed.txt").symlink_to(tmp_path / "secret.txt")
    for ref, code in (("annexed.txt", (0, 1)), ("x\u0000.txt", (2,))):
        linked = make_suite(
            root, "", [{"id": "a", "input": {"doc": {"$file": ref}}}], model="python:files_pipe:read"
        )
        (root / "cases" / "annexed.txt").unlink(missing_ok=True)
        (root / "cases" / "annexed.txt").symlink_to(tmp_path / "secret.txt")
        followed = cli("run", str(linked), "--db", db, "--no-progress")
        assert followed.exit_code in code, (ref, followed.stdout, followed.stderr)
    assert "embedded null byte" in followed.stderr and "Traceback" not in followed.stderr
    suite = make_suite(
        root,
        "",
        [{"id": "bad", "input": {"doc": {"$file": "../../secret.txt"}}}],
        model="python:files_pipe:read",
    )
    assert cli("run", str(suite), "--db", db, "--no-progress").exit_code == 2
    # the person running evalkit (not a case file) may allow another directory
    monkeypatch.setenv("EVALKIT_FILE_ROOTS", f"/nonexistent{os.pathsep}{tmp_path}")
    allowed = cli("run", str(suite), "--db", db, "--no-progress")
    assert allowed.exit_code in (0, 1), allowed.stderr
    monkeypatch.delenv("EVALKIT_FILE_ROOTS")
    # a case file kept outside the suite (as suites/invoices keeps golden/invoices.jsonl) names
    # files beside it
    (tmp_path / "golden" / "docs").mkdir(parents=True)
    (tmp_path / "golden" / "docs" / "a.txt").write_text("beside the case file")
    (tmp_path / "golden" / "cases.jsonl").write_text(
        json.dumps({"id": "g", "input": {"doc": {"$file": "docs/a.txt"}}}) + "\n"
    )
    text = (root / "suite.yaml").read_text().replace("cases/cases.jsonl", "../golden/cases.jsonl")
    (root / "suite.yaml").write_text(text)
    result = cli("run", str(root / "suite.yaml"), "--db", db, "--no-progress")
    assert result.exit_code in (0, 1), result.stderr


def test_pypdf_does_not_log_beside_evalkits_one_line_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated PDF printed pypdf's own 'EOF marker not found' lines next to the error."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    buffer = io.BytesIO()
    writer.write(buffer)
    truncated = buffer.getvalue()[: buffer.getvalue().rfind(b"%%EOF")]
    with pytest.raises(Exception):  # noqa: B017 - pypdf's error types vary; evalkit reports any
        pdf_text(truncated)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


def write_scanned_invoice(path: Path) -> None:
    """A scanned invoice as the document flagship's generator writes it: a JPEG page, no text layer."""
    from tests.suite.test_invoices_flagship import golden, load

    path.parent.mkdir(parents=True, exist_ok=True)
    load("make_invoices").write_invoice(golden("inv-scanned-01"), path)


@pytest.mark.parametrize("placed", ["{{ doc }}", "{{ doc.text }}"])
def test_a_scanned_pdf_placed_as_text_is_the_cases_error_not_an_empty_prompt(
    tmp_path: Path, placed: str
) -> None:
    """A PDF without a text layer went to the model as an empty document, and its answer (from
    nothing) was scored as the model's failure."""
    root = tmp_path / "s"
    write_scanned_invoice(root / "cases" / "docs" / "scan.pdf")
    write_pdf(root / "cases" / "docs" / "inv.pdf", "Invoice INV-001", "Total due: 120.50 EUR")
    assert pdf_text((root / "cases" / "docs" / "scan.pdf").read_bytes()).strip() == ""
    cases = [
        {"id": "scan", "input": {"doc": {"$file": "docs/scan.pdf"}}},
        {"id": "digital", "input": {"doc": {"$file": "docs/inv.pdf"}}},
    ]
    db = tmp_path / "r.duckdb"
    results: dict[str, CaseResult] = {}
    with LoopbackOpenAI() as server:
        suite = make_suite(root, f"[user]\nRead the invoice.\n{placed}\n", cases, api_base=server.base_url)
        store = open_store(db)
        outcome = run_suite(
            load_suite(suite), store, RunOptions(), on_result=lambda r: results.update({r.case.id: r})
        )
        sent = [b["messages"][-1]["content"] for b in server.stats.bodies]
    assert sent == ["Read the invoice.\nInvoice INV-001\fTotal due: 120.50 EUR"]  # the scan made no call
    scan = results["scan"]
    assert scan.verdict == "error" and scan.output.status == "error" and scan.output.attempts == 0
    assert scan.output.error is not None and scan.output.error.startswith(
        "scan.pdf has no text layer (a scanned document?): input 'doc' would reach the model empty"
    )
    assert "{{ doc.page_images }}" in scan.output.error
    assert results["digital"].verdict == "pass"
    # an error, not a failure: the gate says the verdict cannot be trusted (exit 3), not "model worse"
    assert (outcome.summary.errors, outcome.summary.failed, outcome.summary.passed) == (1, 0, 1)
    assert outcome.decision.exit_code == 3
    stored = {row.case_id: row for row in store.case_results(outcome.run.run_id, frame=False)}
    assert (stored["scan"].verdict, stored["scan"].status) == ("error", "error")
    assert stored["scan"].error == scan.output.error and stored["scan"].raw_text is None
    # beside its pages as images, the same (empty) text is no problem: a vision model reads the scan
    with LoopbackOpenAI() as server:
        prompt = f"[user]\nRead the invoice.\n{{{{ doc.page_images }}}}\nText layer: {placed}\n"
        suite = make_suite(root, prompt, cases[:1], api_base=server.base_url)
        seen = run(suite, tmp_path / "vision.duckdb")
        parts = server.stats.bodies[0]["messages"][-1]["content"]
    assert seen["scan"].output.status == "ok"
    assert [p["type"] for p in parts] == ["text", "image_url", "text"]
