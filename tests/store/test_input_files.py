"""Input files stored once by content hash, linked to the cases of each run, shown in the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalkit.store import open_store
from evalkit.store.input_files import InputFileStore
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult
from tests.providers.test_file_inputs import make_suite, run, write_pdf, write_png


def test_files_are_stored_by_hash_per_run_and_shown_in_the_report(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    root = tmp_path / "s"
    png = write_png(root / "cases" / "docs" / "mug.png", (200, 10, 10))
    write_pdf(root / "cases" / "docs" / "inv.pdf", "Total 1")
    cases = [
        {"id": "img", "input": {"doc": {"$file": "docs/mug.png"}}},
        {"id": "img-again", "input": {"doc": {"$file": "docs/mug.png"}, "note": "same file"}},
        {"id": "pdf", "input": {"doc": {"$file": "docs/inv.pdf"}}},
        {"id": "plain", "input": {"doc": "no file"}},
    ]
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI() as server:
        suite = make_suite(root, "[user]\n{{ doc }}\n", cases, api_base=server.base_url)
        run(suite, db)
        run(suite, db)  # a second run: new links, no second copy of the content
    store = open_store(db)
    first, second = sorted(store.list_runs(), key=lambda r: r.started_at)
    files = InputFileStore(store).of_run(first.run_id, with_data=True)
    assert [(f.case_id, f.variable, f.name, f.media_type) for f in files] == [
        ("img", "doc", "cases/docs/mug.png", "image/png"),
        ("img-again", "doc", "cases/docs/mug.png", "image/png"),
        ("pdf", "doc", "cases/docs/inv.pdf", "application/pdf"),
    ]
    assert files[0].data == png and files[2].data.startswith(b"%PDF")
    assert len(InputFileStore(store).of_run(second.run_id)) == 3
    with store._connection() as con:
        assert con.execute("SELECT count(*) FROM input_files")[0][0] == 2
    report = tmp_path / "report.html"
    made = cli("report", first.run_id, "--db", str(db), "--out", str(report))
    assert made.exit_code == 0, made.stderr
    html = report.read_text()
    assert 'id="input-files">Input files (3)' in html
    assert html.count('<img src="data:image/png;base64,') == 2
    assert 'download="inv.pdf">cases/docs/inv.pdf</a>' in html
    # a synced run keeps its files (sync copies a run whole); syncing again copies nothing
    shared = tmp_path / "shared.duckdb"
    for _ in range(2):
        synced = cli("sync", first.run_id, second.run_id, "--db", str(db), "--to", str(shared))
        assert synced.exit_code == 0, synced.stderr
    copied = InputFileStore(open_store(shared)).of_run(first.run_id, with_data=True)
    assert copied == files
    with open_store(shared)._connection() as con:
        assert con.execute("SELECT count(*) FROM input_files")[0][0] == 2
