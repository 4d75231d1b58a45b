"""`evalkit generate` and `evalkit review`: a scripted generator on the loopback server, then review into the suite."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.grow.generate import CandidateRejected, check_candidate, generator_prompt
from evalkit.grow.neardup import input_text, similarity
from evalkit.store import open_store
from evalkit.store.growth import GrowthStore
from evalkit.suite.prompts import load_prompt
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, interrupted

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "Clean product title."},
        "price": {"type": ["number", "null"], "description": "Price charged now, a number."},
    },
    "required": ["title", "price"],
    "additionalProperties": False,
}
GOLDEN = [
    {
        "id": "sony",
        "input": {"title": "<b>SONY</b> WH-1000XM4 headphones", "price": "$248"},
        "expected": {"title": "Sony WH-1000XM4 Headphones", "price": 248.0},
    },
    {
        "id": "beanie",
        "input": {"title": "handmade wool beanie grey", "price": "Rs. 1.250"},
        "expected": {"title": "Handmade Wool Beanie Grey", "price": 1250.0},
    },
]
PROMPT = "[system]\nClean the listing. Fields: {{ output_schema_json }}\n[user]\n{{ title }} / {{ price }}\n"
WORDS = ["kettle", "lamp", "drill", "tent", "mixer", "camera", "scooter", "blender", "router", "easel"]


def suite_yaml(base_url: str, extra: str = "") -> str:
    return (
        "name: shop\n"
        "description: Merchant listings to clean JSON.\n"
        "target:\n"
        "  model: openai/loopback\n"
        f"  api_base: {base_url}\n"
        "  prompts: {v1: prompts/v1.j2}\n"
        "  output_schema: out.schema.json\n"
        "cases: [cases.jsonl, generated.jsonl]\n"
        "scorers:\n"
        "  - name: json_schema\n"
        "  - name: json_fields\n"
        "    id: fields\n"
        "    verified_only: true\n"
        "generate:\n"
        "  model: openai/generator\n"
        f"  api_base: {base_url}\n"
        "  guidelines: Prices are numbers; titles are in Title Case.\n"
        f"{extra}"
    )


def scripted(body: dict[str, Any]) -> str:
    """A generator whose answer depends on the edge-case family it is asked for (and the seed)."""
    user = body["messages"][-1]["content"]
    word = WORDS[int(body.get("seed", 0)) % len(WORDS)]
    if "HTML tags" in user:  # markup_noise: a good, new case
        return json.dumps(
            {
                "input": {"title": f"<p>Deluxe {word} &amp; stand</p>", "price": "$19"},
                "expected": {"title": f"Deluxe {word.title()} & Stand", "price": 19.0},
            }
        )
    if "empty or lack" in user:  # missing_fields: the answer forgets a template variable
        return json.dumps(
            {"input": {"title": f"{word} without price"}, "expected": {"title": word, "price": None}}
        )
    if "contradicts itself" in user:  # conflicting_values: a copy of a golden case behind markup noise
        return (
            "```json\n"
            + json.dumps(
                {
                    "input": {"title": "<i>Sony</i> WH-1000XM4   HEADPHONES!!", "price": "$248"},
                    "expected": {"title": "Sony WH-1000XM4 Headphones", "price": 248.0},
                }
            )
            + "\n```"
        )
    if "unusual units" in user:  # odd_units: expected output breaks the schema
        return json.dumps(
            {
                "input": {"title": f"{word} 12 oz", "price": "CHF 12.50"},
                "expected": {"title": word, "price": "12.50 CHF"},
            }
        )
    return "Sorry, I cannot help with that."  # very_long etc.: not JSON at all


@pytest.fixture
def shop(make_suite: Callable[..., Path]) -> Callable[[str], Path]:
    def build(base_url: str, extra: str = "") -> Path:
        path = make_suite(suite_yaml(base_url, extra), GOLDEN, prompt=PROMPT)
        (path.parent / "out.schema.json").write_text(json.dumps(SCHEMA))
        return path

    return build


FAMILIES = ["markup_noise", "missing_fields", "conflicting_values", "odd_units", "very_long"]


def generate_cli(cli: Callable[..., CliResult], suite: Path, db: Path, *extra: str) -> CliResult:
    args = [a for f in FAMILIES for a in ("--family", f)]
    return cli("generate", str(suite), "--db", str(db), "--seed", "1", *args, *extra)


def test_generate_validates_dedups_and_stores_candidates_with_provenance(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "g.duckdb"
    with LoopbackOpenAI(responder=scripted) as server:
        suite = shop(server.base_url)
        result = generate_cli(cli, suite, db, "--n", "3")
        bodies = list(server.stats.bodies)
    assert result.exit_code == 0, result.stderr
    # 3 wanted, 2 found: it stops at 3 calls per wanted candidate
    assert len(bodies) == 9
    assert (
        "shop: 2 new candidates from 9 calls to openai/generator (5 invalid, 2 near-duplicates, 0 failed calls)"
        in result.stdout
    )
    assert "input lacks variable 'price'" in result.stdout
    assert "breaks the output schema at price" in result.stdout
    assert "not a JSON object with an `input` object" in result.stdout
    assert "near-duplicate of sony" in result.stdout

    first = bodies[0]
    assert first["model"] == "generator" and first["seed"] == 1 and bodies[1]["seed"] == 2
    system, user = first["messages"][0]["content"], first["messages"][-1]["content"]
    assert "Prices are numbers" in system and "- price: Price charged now, a number." in system
    assert '"id"' not in user and "WH-1000XM4" in user  # the parent case's input and expected, not its id
    assert first["response_format"]["json_schema"]["schema"]["properties"]["input"]["required"] == [
        "price",
        "title",
    ]

    growth = GrowthStore(open_store(db))
    stored = growth.candidates("shop")
    assert len(stored) == 2 and {c.status for c in stored} == {"pending"}
    for c in stored:
        assert (
            c.source == "generated" and c.family == "markup_noise" and c.tags == ["generated", "markup_noise"]
        )
        assert c.provenance["generator"] == "openai/generator"
        assert c.provenance["generator_prompt_hash"] == generator_prompt().hash
        assert c.provenance["prompt_hash"] == load_prompt("v1", suite.parent / "prompts" / "v1.j2").hash
        assert c.provenance["parent_case"] in {"sony", "beanie"}
        assert set(c.input) == {"title", "price"} and isinstance(c.expected, dict)
    a, b = (input_text(c.input) for c in stored)
    assert similarity(a, b) < 90


def test_generation_prints_and_stores_its_calls_tokens_and_cost(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from evalkit.providers.prices import token_prices
    from evalkit.testing.faults import Faults

    db = tmp_path / "g.duckdb"
    prices = token_prices("openai/gpt-4o-mini")
    assert prices is not None
    with LoopbackOpenAI(responder=scripted, cache_min_tokens=None) as server:
        suite = shop(server.base_url)
        priced = generate_cli(cli, suite, db, "--n", "3", "--model", "openai/gpt-4o-mini")
        bodies = list(server.stats.bodies)
        unpriced = generate_cli(cli, suite, db, "--n", "1")  # openai/generator: litellm has no price
    with LoopbackOpenAI(fault_plan=lambda body, seen: "429", faults=Faults(retry_after=0)) as down:
        failed = generate_cli(cli, shop(down.base_url), db, "--n", "1")
    # the loopback server counts a quarter token per character; every answer is paid, invalid or not
    prompt = sum(max(1, sum(len(m["content"]) for m in b["messages"]) // 4) for b in bodies)
    completion = sum(max(1, len(scripted(b)) // 4) for b in bodies)
    cost = prompt * prices[0] + completion * prices[1]
    assert priced.exit_code == 0, priced.stderr
    assert (
        f"Calls 9 requests (0 retries, 0 failed) · Tokens {prompt:,} in / {completion:,} out · cost ${cost:.4f}"
        in priced.stdout
    )
    assert unpriced.exit_code == 0, unpriced.stderr
    assert "· cost unknown (no price for openai/generator)" in unpriced.stdout
    assert failed.exit_code == 3 and "every call to the generator openai/generator failed" in failed.stderr

    growth = GrowthStore(open_store(db))
    first, second, third = growth.generations("shop")
    assert (first.model, first.wanted, first.calls, first.candidates, first.invalid, first.duplicates) == (
        "openai/gpt-4o-mini",
        3,
        9,
        2,
        5,
        2,
    )
    assert (first.prompt_tokens, first.completion_tokens, first.unpriced) == (prompt, completion, False)
    assert first.cost_usd == pytest.approx(cost) and first.call_counts.requests == 9
    assert {c.provenance["generation_id"] for c in growth.candidates("shop")} == {first.generation_id}
    assert second.unpriced and second.cost_usd == 0 and second.calls == 3
    # every call failed: no tokens, but the requests it made are on record
    assert (third.calls, third.call_counts.failed_calls, third.prompt_tokens) == (1, 1, 0)
    assert third.call_counts.requests == 3 and third.call_counts.rate_limited == 3  # 3 attempts


def test_second_generation_dedups_against_stored_candidates(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "g.duckdb"
    with LoopbackOpenAI(
        responder=lambda body: scripted({**body, "seed": 0})
    ) as server:  # always the same case
        suite = shop(server.base_url)
        assert (
            cli(
                "generate", str(suite), "--db", str(db), "--seed", "3", "-f", "markup_noise", "--n", "1"
            ).exit_code
            == 0
        )
        again = cli("generate", str(suite), "--db", str(db), "--seed", "3", "-f", "markup_noise", "--n", "1")
    assert again.exit_code == 0, again.stderr
    assert "0 new candidates from 3 calls" in again.stdout and "3 near-duplicates" in again.stdout
    assert len(GrowthStore(open_store(db)).candidates("shop")) == 1


def test_summary_groups_failed_calls_by_reason_and_counts_rejections_it_does_not_list(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from evalkit.testing.faults import Faults

    def storm(body: dict[str, Any], seen: int) -> str | None:  # a partial 429 storm: every attempt of 4 calls
        return "429" if body["seed"] in (2, 5, 8, 11) else None

    with LoopbackOpenAI(responder=scripted, fault_plan=storm, faults=Faults(retry_after=0)) as server:
        result = generate_cli(cli, shop(server.base_url), tmp_path / "g.duckdb", "--n", "8")
    assert result.exit_code == 0, result.stderr
    head = "shop: 2 new candidates from 24 calls to openai/generator (12 invalid, 6 near-duplicates, 4 failed calls)"
    assert head in result.stdout
    assert result.stdout.count("  - invalid [") == 10 and "  - +2 more invalid" in result.stdout
    assert "more duplicate" not in result.stdout
    assert "  - 4 failed calls: 429: rate limited (after 3 attempts) x4" in result.stdout


def test_a_generation_whose_every_answer_is_invalid_exits_1(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from evalkit.testing.faults import Faults

    db = tmp_path / "g.duckdb"
    garbage = "Sorry, I cannot help with that."
    # the calls answered (or some failed), so this is no infrastructure error (3); not a success either
    with LoopbackOpenAI(
        responder=lambda body: garbage,
        fault_plan=lambda body, seen: "429" if body["seed"] == 2 else None,
        faults=Faults(retry_after=0),
    ) as server:
        suite = shop(server.base_url)
        result = generate_cli(cli, suite, db, "--n", "2")
    assert result.exit_code == 1, result.stderr
    assert (
        "0 new candidates from 6 calls to openai/generator (5 invalid, 0 near-duplicates, 1 failed calls)"
        in (result.stdout)
    )
    assert (
        "every answer of openai/generator was invalid, so there are no candidates (exit 1)" in result.stderr
    )
    assert GrowthStore(open_store(db)).candidates("shop") == []


def test_review_accepts_into_generated_file_once_and_runs_them_unverified(
    shop: Callable[[str], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "g.duckdb"
    with LoopbackOpenAI(responder=scripted) as server:
        suite = shop(server.base_url)
        assert generate_cli(cli, suite, db, "--n", "3").exit_code == 0
        ids = [c.candidate_id for c in GrowthStore(open_store(db)).candidates("shop")]
        listed = cli("review", str(suite), "--db", str(db))
        assert (
            listed.exit_code == 0 and all(i in listed.stdout for i in ids) and "2 candidates" in listed.stdout
        )

        decided = cli("review", str(suite), "--db", str(db), "--accept", ids[0], "--reject", ids[1])
        assert decided.exit_code == 0, decided.stderr
        again = cli("review", str(suite), "--db", str(db), "--accept", ids[0])
        assert f"already in the suite (not written again): {ids[0]}" in again.stdout

        lines = (suite.parent / "generated.jsonl").read_text().splitlines()
        assert len(lines) == 1
        case = json.loads(lines[0])
        assert case["id"] == ids[0] and case["source"] == "generated" and case["verified"] is False
        assert case["provenance"]["generator"] == "openai/generator" and "accepted_at" in case["provenance"]

        undo = cli("review", str(suite), "--db", str(db), "--reject", ids[0])
        assert undo.exit_code == 2 and "was accepted already" in undo.stderr
        unknown = cli("review", str(suite), "--db", str(db), "--accept", "gen-nope")
        assert unknown.exit_code == 2 and "no candidate 'gen-nope'" in unknown.stderr
        assert cli("review", str(suite), "--db", str(db)).stdout.strip() == "no candidates"

        # the accepted case runs with the suite; the ground-truth scorer skips it (unverified)
        run = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert run.exit_code in (0, 1), run.stderr
    store = open_store(db)
    run_id = store.get_run("latest").run_id
    scores = store.score_rows(run_id)
    generated = scores[scores["case_id"] == ids[0]]
    assert list(generated["scorer"]) == ["json_schema"]
    assert set(scores[scores["case_id"] == "sony"]["scorer"]) == {"json_schema", "fields"}
    assert {c.status for c in GrowthStore(store).candidates("shop")} == {"accepted", "rejected"}


def test_interactive_review_asks_for_each_candidate(
    shop: Callable[[str], Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "g.duckdb"
    with LoopbackOpenAI(responder=scripted) as server:
        suite = shop(server.base_url)
        assert generate_cli(cli, suite, db, "--n", "3").exit_code == 0
    first, second = GrowthStore(open_store(db)).candidates("shop")
    monkeypatch.setattr("sys.stdin", io.StringIO("x\nr\na\n"))  # an invalid answer is asked again
    result = cli("review", str(suite), "--db", str(db), "-i", "--reviewer", "ana")
    assert result.exit_code == 0, result.stderr
    assert "[1/2]" in result.stdout and "[2/2]" in result.stdout
    assert f"rejected 1: {first.candidate_id}" in result.stdout
    case = json.loads((suite.parent / "generated.jsonl").read_text())
    assert case["id"] == second.candidate_id and case["provenance"]["reviewer"] == "ana"


def test_check_candidate_rules(tmp_path: Path) -> None:
    (tmp_path / "p.j2").write_text("[user]\n{{ title }} costs {{ price.amount }}\n")
    prompt = load_prompt("v", tmp_path / "p.j2")
    ok = json.dumps(
        {
            "input": {"title": "Lamp", "price": {"amount": 3}, "extra": 1},
            "expected": {"title": "Lamp", "price": 3},
        }
    )
    case_input, expected = check_candidate(
        ok, variables=["price", "title"], prompt=prompt, output_schema=SCHEMA
    )
    assert case_input == {"title": "Lamp", "price": {"amount": 3}} and expected == {
        "title": "Lamp",
        "price": 3,
    }
    cases = {
        "does not render": {
            "input": {"title": "Lamp", "price": "$3"},
            "expected": {"title": "Lamp", "price": 3},
        },
        "input is empty": {"input": {"title": " ", "price": ""}, "expected": {"title": "", "price": None}},
        "no `expected`": {"input": {"title": "Lamp", "price": {"amount": 3}}},
        "breaks the output schema at (root)": {
            "input": {"title": "Lamp", "price": {"amount": 3}},
            "expected": {"title": "x"},
        },
    }
    for reason, answer in cases.items():
        with pytest.raises(CandidateRejected, match=reason.replace("(", r"\(").replace(")", r"\)")):
            check_candidate(
                json.dumps(answer), variables=["price", "title"], prompt=prompt, output_schema=SCHEMA
            )


@pytest.mark.embedded
def test_generation_on_the_embedded_model(tmp_path: Path) -> None:
    """SmolLM2-135M writes a listings candidate that passes validation and dedup (grammar-constrained)."""
    pytest.importorskip(
        "llama_cpp", reason="the embedded model needs the [local] extra (.ci/setup installs it)"
    )
    from evalkit.grow.generate import generate_sync
    from evalkit.suite.loading import load_suite
    from tests.conftest import REPO

    root = tmp_path / "listings"
    root.mkdir()
    (root / "prompts").symlink_to(REPO / "suites" / "listings" / "prompts")
    (root / "listing.schema.json").symlink_to(REPO / "suites" / "listings" / "listing.schema.json")
    (root / "cases.jsonl").write_text("".join((REPO / "golden" / "listings.jsonl").open().readlines()[:3]))
    text = (
        (REPO / "suites" / "listings" / "suite.yaml")
        .read_text()
        .replace("../../golden/listings.jsonl", "cases.jsonl")
    )
    (root / "suite.yaml").write_text(text)
    suite = load_suite(root)
    store = open_store(tmp_path / "g.duckdb")

    report = generate_sync(suite, store, n=1, families=["missing_fields"], seed=1)
    assert report.calls <= 3 and not report.errors
    assert len(report.stored) == 1, [r.reason for r in report.invalid + report.duplicates]
    (candidate,) = GrowthStore(store).candidates("listings")
    assert candidate.provenance["generator"] == "local/smollm2-135m" and candidate.family == "missing_fields"
    answer = json.dumps({"input": candidate.input, "expected": candidate.expected})
    check_candidate(
        answer,
        variables=sorted(suite.prompt().variables),
        prompt=suite.prompt(),
        output_schema=suite.output_schema,
    )
    for case in suite.iter_cases():
        assert similarity(input_text(case.input), input_text(candidate.input)) < 90


def test_a_family_name_that_cannot_be_part_of_a_case_id_is_refused_at_load(tmp_path: Path) -> None:
    # candidates are ids gen-<family>-<hash>: a space would fail later, when a reviewer accepts one
    from evalkit.errors import ConfigError
    from evalkit.suite.loading import load_suite

    root = tmp_path / "s"
    root.mkdir()
    (root / "cases.jsonl").write_text('{"id": "a", "input": {"q": "x"}}\n')
    (root / "suite.yaml").write_text(
        "name: g\ntarget:\n  model: python:x:y\ncases: [cases.jsonl]\nscorers:\n  - name: exact\n"
        "generate:\n  families:\n    odd units: units are odd\n"
    )
    with pytest.raises(ConfigError, match=r"suite\.yaml:9: .*odd units.*should match pattern"):
        load_suite(root / "suite.yaml")


def test_ctrl_c_says_what_the_generation_kept(shop: Callable[[str], Path], tmp_path: Path) -> None:
    """typer ends a command interrupted by Ctrl-C with 130 and not a word: the generation paid for
    and stored (candidates, calls, tokens) was on record, but nothing said so."""
    import threading

    answered = threading.Event()

    def first_then_slow(body: dict[str, Any]) -> str:
        answered.set()
        return scripted(body)

    db = tmp_path / "g.duckdb"
    with LoopbackOpenAI(responder=first_then_slow, latency=0.5) as server:
        suite = shop(server.base_url)
        args = ["generate", str(suite), "--db", str(db), "--seed", "1"]
        proc = interrupted(
            [*args, "--family", "markup_noise", "--n", "20", "-c", "1"], answered, "the generator"
        )
    assert proc.returncode == 130
    (generation,) = GrowthStore(open_store(db)).generations("shop")
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(
        f"evalkit: error: generate stopped by SIGINT: {generation.candidates} candidates stored for review; "
        f"generation {generation.generation_id} recorded: Calls {generation.call_counts.requests} requests"
    )
