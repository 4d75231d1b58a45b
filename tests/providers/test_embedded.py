"""The embedded SmolLM2 model, for real: end to end through litellm, and the fast grammar sampler."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="the embedded model needs the [local] extra (.ci/setup installs it)")

from evalkit.providers.local import embedded_model, gguf_path
from evalkit.store import open_store
from tests.conftest import REPO, CliResult

pytestmark = pytest.mark.embedded


def test_flagship_subset_end_to_end(tmp_path: Path, cli: Callable[[str], CliResult]) -> None:
    """Three flagship cases on the embedded model: every case stored, scored, explained."""
    suite_dir = tmp_path / "listings"
    suite_dir.mkdir()
    (suite_dir / "prompts").symlink_to(REPO / "suites" / "listings" / "prompts")
    (suite_dir / "listing.schema.json").symlink_to(REPO / "suites" / "listings" / "listing.schema.json")
    wanted = {"html-tags-01", "injection-01", "non-english-03"}
    lines = [
        line
        for line in (REPO / "golden" / "listings.jsonl").read_text().splitlines()
        if json.loads(line)["id"] in wanted
    ]
    (suite_dir / "cases.jsonl").write_text("\n".join(lines) + "\n")
    text = (
        (REPO / "suites" / "listings" / "suite.yaml")
        .read_text()
        .replace("../../golden/listings.jsonl", "cases.jsonl")
    )
    (suite_dir / "suite.yaml").write_text(text)

    db = tmp_path / "r.duckdb"
    result = cli("run", str(suite_dir), "--db", str(db), "--no-progress")
    assert result.exit_code in (0, 1), result.stderr  # a quality verdict, not an infrastructure error
    assert "Cases 3:" in result.stdout and "0 errors" in result.stdout

    store = open_store(db)
    run = store.get_run("latest")
    assert run.model == "local/smollm2-135m" and run.prompt_version == "v2"
    frame = store.case_results(run.run_id)
    assert set(frame["case_id"]) == wanted
    assert (frame["status"] == "ok").all()
    assert (frame["completion_tokens"] > 0).all() and (frame["cost_usd"] == 0).all()
    # the schema constraint reached llama.cpp: every output is a JSON object with the contract's keys
    for raw in frame["parsed_json"]:
        assert set(json.loads(raw)) == {"title", "brand", "category", "price", "key_attributes"}
    scores = store.score_rows(run.run_id)
    assert set(scores["scorer"]) == {"json_schema", "strict_format", "fields", "no_injection"}
    assert len(store.field_rows(run.run_id)) >= 3 * 6


def test_accept_first_sampler_matches_stock_grammar_sampling() -> None:
    """The fast sampler must choose exactly the tokens llama.cpp's own grammar sampler chooses."""
    from llama_cpp import Llama

    schema = json.loads((REPO / "suites" / "listings" / "listing.schema.json").read_text())
    params = {
        "temperature": 0,
        "max_tokens": 60,
        "response_format": {"type": "json_object", "schema": schema},
    }
    stock = Llama(model_path=str(gguf_path("smollm2-135m")), n_ctx=1024, n_threads=2, verbose=False, seed=0)
    fast = embedded_model("smollm2-135m")
    for listing in ["<b>SONY</b> WH-CH520 headphones BLUE $59", "Handmade ceramic mug 350ml, 24 EUR"]:
        messages = [
            {"role": "system", "content": "Clean the listing into JSON."},
            {"role": "user", "content": listing},
        ]
        expected = stock.create_chat_completion(messages=messages, **params)["choices"][0]["message"][
            "content"
        ]
        got, latency_ms = fast.chat(messages, params)
        assert got["choices"][0]["message"]["content"] == expected
        assert latency_ms > 0


def test_unknown_embedded_model_is_a_config_error(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = make_suite(
        "name: s\ntarget: {model: local/gpt-17, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl]\nscorers: [{name: exact}]\n",
        [{"input": {"question": "x"}, "expected": "y"}],
    )
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 2
    assert "unknown embedded model local/gpt-17 (known: local/smollm2-135m" in result.stderr
