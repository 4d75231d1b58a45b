"""`evalkit mine`: a planted 520-record production log, every log format, and real third-party logs."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rapidfuzz import fuzz

from evalkit.grow.log_records import parse_since, parse_timestamp
from evalkit.store import open_store
from evalkit.store.growth import GrowthStore
from tests.conftest import EXTERNAL_DATA, REPO, CliResult, write_cases

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "price": {"type": ["number", "null"]}},
    "required": ["title", "price"],
}
GOOD_OUTPUT = json.dumps({"title": "Fine", "price": 1.0})

# PII planted in the log: none of it may reach the store or a case file.
EMAILS = ["jane.doe@example.com", "r.kumar+orders@mail.example.in", "bob_smith@shop.example.co.uk"]
PHONES = ["+44 20 7946 0958", "(555) 867-5309", "+91 98765 43210", "020-7946-0123"]
CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
ADDRESSES = ["221B Baker Street", "1600 Pennsylvania Avenue", "42 Wallaby Way"]
ID_EMAIL = "customer.42@example.org"
SCRUBBED_LISTING = "Listing text. contact [EMAIL] or call [PHONE]; paid with [CARD]; ship to [ADDRESS], London"  # a log whose request id is itself personal data
PLANTED = EMAILS + PHONES + CARDS + ADDRESSES + [ID_EMAIL]

# Incidents: one listing failing again and again, each time with different noise.
INCIDENTS = [
    "Samsung Galaxy A15 128GB Black dual SIM smartphone",
    "Le Creuset Signature Cast Iron Casserole 24cm Cerise",
    "JBL Flip 6 Portable Bluetooth Speaker Red waterproof",
    "Hamilton Beach 2-Slice Toaster extra wide slots",
    "Levi's 501 Original Fit Jeans Stonewash 32x32",
    "Dyson V8 Absolute cordless vacuum cleaner nickel",
    "Nike Air Zoom Pegasus 40 running shoes womens",
    "Kindle Paperwhite 16GB waterproof e-reader agave green",
]
COVERED = {0, 3}  # incidents the suite already has a case for
ONE_OFF_ITEMS = [
    "kettle",
    "lamp",
    "drill",
    "tent",
    "mixer",
    "camera",
    "scooter",
    "blender",
    "router",
    "easel",
    "guitar",
    "monitor",
    "backpack",
    "helmet",
    "jacket",
    "watch",
    "printer",
    "stroller",
    "pillow",
    "skillet",
    "tripod",
    "keyboard",
    "headset",
    "projector",
    "treadmill",
    "kayak",
    "saddle",
    "telescope",
    "aquarium",
    "wok",
    "mattress",
    "heater",
    "fan",
    "charger",
    "drone",
    "speaker",
    "sofa",
    "rug",
    "mirror",
    "clock",
]
ONE_OFF_BRANDS = [
    "Acme",
    "Zenith",
    "Orion",
    "Vega",
    "Nimbus",
    "Quartz",
    "Falcon",
    "Borealis",
    "Cobalt",
    "Sierra",
]


def noisy(text: str, rng: random.Random) -> str:
    """The same listing, re-typed by a merchant: case, spacing, punctuation, markup."""
    variants = [
        lambda t: t.upper(),
        lambda t: f"<b>{t}</b>",
        lambda t: t + " !!!",
        lambda t: t.replace(" ", "  "),
        lambda t: t.lower(),
        lambda t: f"{t} - BEST DEAL",
        lambda t: t.replace(" ", " &nbsp;"),
    ]
    return rng.choice(variants)(text)


def pii_text(rng: random.Random) -> str:
    return (
        f"contact {rng.choice(EMAILS)} or call {rng.choice(PHONES)}; paid with {rng.choice(CARDS)}; "
        f"ship to {rng.choice(ADDRESSES)}, London"
    )


def planted_log(n_ok: int = 320, start: int = 0) -> list[dict[str, Any]]:
    """>= 500 records: incidents (near-duplicate failures), one-off failures of every kind, good records."""
    rng = random.Random(7 + start)
    records: list[dict[str, Any]] = []

    def add(title: str, description: str, *, age_h: float, **fields: Any) -> None:
        i = start + len(records)
        record = {
            "request_id": f"req-{i:05d}",
            "ts": (NOW - timedelta(hours=age_h)).isoformat() + "Z",
            "request": {"title": title, "description": description, "price": f"${10 + i % 90}.99"},
            "response": GOOD_OUTPUT,
            "rating": "up",
            "comment": "",
            "fixed": None,
            "error": "",
            "judge": 0.9,
        }
        record.update(fields)
        records.append(record)

    for base in INCIDENTS:  # 8 incidents x 20 failures
        for j in range(20):
            kind = j % 3
            extra: dict[str, Any] = {"comment": f"wrong again, {pii_text(rng)}"}
            if kind == 0:
                extra["response"] = "Sorry, as an AI I cannot"  # schema violation
            else:
                extra["rating"] = "thumbs_down"
            add(noisy(base, rng), f"Listing text. {pii_text(rng)}", age_h=rng.uniform(1, 160), **extra)
    for j, item in enumerate(ONE_OFF_ITEMS):  # 40 distinct one-off failures, one of each reason in turn
        brand = ONE_OFF_BRANDS[j % len(ONE_OFF_BRANDS)]
        title = f"{brand} {item} model {chr(65 + j % 26)}{j}"
        reason = j % 4
        extra = {}
        if reason == 0:
            extra = {"error": "503 upstream timeout", "response": ""}
        elif reason == 1:
            extra = {"judge": 0.2}
        elif reason == 2:
            extra = {
                "fixed": json.dumps(
                    {"title": f"{brand} {item.title()} (call {rng.choice(PHONES)})", "price": 5.0}
                )
            }
        else:
            extra = {"response": json.dumps({"title": title}), "rating": "Bad"}  # misses `price`
        extra["comment"] = pii_text(rng)
        add(title, rng.choice(PLANTED[:-1]), age_h=rng.uniform(1, 160), **extra)
    add("Orphan gadget with secret id", pii_text(rng), age_h=3, request_id=ID_EMAIL, rating="thumbs_down")
    for j in range(n_ok):  # good records, some outside a 7-day window
        add(f"Fine product {j} {rng.choice(ONE_OFF_ITEMS)}", pii_text(rng), age_h=rng.uniform(1, 400))
    for j in range(30):  # failures older than the window
        add(
            f"Old failure {j} {ONE_OFF_ITEMS[j]}",
            pii_text(rng),
            age_h=rng.uniform(200, 400),
            rating="thumbs_down",
        )
    return records


MINING = """\
mining:
  fields: {id: request_id, timestamp: ts, input: request, output: response, feedback: rating,
           feedback_text: comment, correction: fixed, error: error, judge_score: judge}
  pii: {addresses: true}
"""


def shop_suite(make_suite: Callable[..., Path], mining: str = MINING, name: str = "s") -> Path:
    existing = [
        {
            "id": "covered-0",
            "input": {"title": INCIDENTS[0], "description": SCRUBBED_LISTING, "price": "$199.99"},
            "expected": {"title": "Samsung Galaxy A15", "price": 199.99},
        },
        {
            "id": "covered-3",
            "input": {"title": INCIDENTS[3].upper(), "description": SCRUBBED_LISTING, "price": "$29.99"},
            "expected": {"title": "Hamilton Beach Toaster", "price": 29.99},
        },
    ]
    text = (
        "name: shop\n"
        "target: {model: openai/x, prompts: {v1: prompts/v1.j2}, output_schema: out.schema.json}\n"
        "cases: [cases.jsonl, mined.jsonl]\n"
        "scorers: [{name: json_schema}]\n" + mining
    )
    path = make_suite(
        text, existing, prompt="[user]\n{{ title }}\n{{ description }}\n{{ price }}\n", name=name
    )
    (path.parent / "out.schema.json").write_text(json.dumps(SCHEMA))
    return path


def norm(value: Any) -> str:
    text = " ".join(str(v) for _, v in sorted(value.items())) if isinstance(value, dict) else str(value)
    text = re.sub(r"<[^>]+>|&nbsp;|&amp;", " ", text.lower())
    return " ".join(re.findall(r"\w+", text))


def scan_for_pii(db: Path, files: list[Path]) -> list[str]:
    """Every planted PII string (as written, or its bare digits) found in any table or file."""
    texts = [p.read_text(encoding="utf-8") for p in files if p.exists()]
    con = duckdb.connect(str(db), read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                texts.append(" ".join(str(v) for v in row))
    finally:
        con.close()
    blob = "\n".join(texts)
    digits_only = re.sub(r"\D", "", blob)
    found = [p for p in PLANTED if p.lower() in blob.lower()]
    found += [p for p in PHONES + CARDS if re.sub(r"\D", "", p) in digits_only]
    return found


def test_mining_a_planted_log(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = shop_suite(make_suite)
    log = tmp_path / "logs" / "prod-2026-11.jsonl"
    records = planted_log()
    assert len(records) >= 500
    write_cases(log, records)
    db = tmp_path / "r.duckdb"

    result = cli(
        "mine",
        str(suite),
        "--logs",
        str(tmp_path / "logs" / "*.jsonl"),
        "--since",
        "7d",
        "--n",
        "30",
        "--db",
        str(db),
    )
    assert result.exit_code == 0, result.stderr
    mined_file = suite.parent / "mined.jsonl"
    cases = [json.loads(line) for line in mined_file.read_text().splitlines()]
    assert len(cases) == 30  # 8 incidents + 40 one-offs + 1 orphan - 2 covered = 47 clusters, capped at N

    # no two mined cases are near-duplicates, nor duplicates of the suite's cases
    existing = [json.loads(line)["input"] for line in (suite.parent / "cases.jsonl").read_text().splitlines()]
    texts = [norm(c["input"]) for c in cases]
    for i, a in enumerate(texts):
        assert all(fuzz.token_sort_ratio(a, norm(e)) < 90 for e in existing), cases[i]["id"]
        assert all(fuzz.token_sort_ratio(a, b) < 90 for b in texts[i + 1 :]), cases[i]["id"]
    # each uncovered incident is one case, made from the biggest clusters first; covered ones none
    for k, base in enumerate(INCIDENTS):
        hits = [c for c in cases if fuzz.token_sort_ratio(norm(c["input"]["title"]), norm(base)) >= 90]
        assert len(hits) == (0 if k in COVERED else 1), base
        for c in hits:
            assert c["provenance"]["cluster_size"] == 20
    for c in cases:
        p = c["provenance"]
        assert (
            c["source"] == "mined"
            and c["id"].startswith("mined-")
            and set(c["input"]) == {"title", "description", "price"}
        )
        assert (
            p["log_id"] and p["cluster"] and p["failure"] and p["log_source"].endswith("prod-2026-11.jsonl")
        )
        assert NOW - timedelta(days=7) <= datetime.fromisoformat(p["logged_at"].rstrip("Z")) <= NOW
        assert c["verified"] is (c["expected"] is not None)
    corrected = [c for c in cases if "correction" in c["provenance"]["failure"]]
    assert corrected and all(
        isinstance(c["expected"], dict) and c["expected"]["price"] == 5.0 for c in corrected
    )

    assert "Added 30 cases" in result.stdout and "PII scrubbed:" in result.stdout
    assert "[EMAIL]" in mined_file.read_text() and "[CARD]" in mined_file.read_text()
    assert scan_for_pii(db, [mined_file, suite.parent / "cases.jsonl"]) == []

    growth = GrowthStore(open_store(db))
    mined = growth.candidates("shop", source="mined")
    assert sorted(c.candidate_id for c in mined) == sorted(c["id"] for c in cases)
    assert {c.status for c in mined} == {"accepted"}

    # the 17 clusters past --n 30 were not recorded as mined: the same window again offers them
    assert "17 clusters over the --n 30 limit: left for the next run" in result.stdout
    rest = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--n", "30", "--db", str(db))
    assert rest.exit_code == 0, rest.stderr
    assert "Added 17 cases" in rest.stdout and "over the --n" not in rest.stdout
    cases = [json.loads(line) for line in mined_file.read_text().splitlines()]
    assert len(cases) == 47
    # idempotent: once nothing is left over, the same window again adds nothing and stores nothing new
    before = mined_file.read_bytes()
    again = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--n", "30", "--db", str(db))
    assert again.exit_code == 0, again.stderr
    assert "Added 0 cases" in again.stdout and "Failures 0" in again.stdout
    assert mined_file.read_bytes() == before

    # next week's log: the same incidents recur under new ids and are recognised as covered
    write_cases(tmp_path / "logs" / "prod-next.jsonl", planted_log(n_ok=0, start=10_000))
    later = cli(
        "mine",
        str(suite),
        "--logs",
        str(tmp_path / "logs" / "prod-next.jsonl"),
        "--n",
        "100",
        "--db",
        str(db),
    )
    assert later.exit_code == 0, later.stderr
    new_cases = [json.loads(line) for line in mined_file.read_text().splitlines()][47:]
    assert all(
        fuzz.token_sort_ratio(norm(n["input"]), norm(c["input"])) < 90 for n in new_cases for c in cases
    )
    assert not any(
        fuzz.token_sort_ratio(norm(n["input"]["title"]), norm(b)) >= 90 for n in new_cases for b in INCIDENTS
    )
    assert scan_for_pii(db, [mined_file]) == []


def small_log() -> list[dict[str, Any]]:
    rows = []
    for i in range(12):
        rows.append(
            {
                "request_id": f"r{i}",
                "ts": (NOW - timedelta(days=i)).isoformat(),
                "title": f"{ONE_OFF_BRANDS[i % 10]} {ONE_OFF_ITEMS[i]} {i}",
                "description": f"mail {EMAILS[i % 3]}",
                "price": f"{i}.50",
                "response": GOOD_OUTPUT if i % 2 else "not json",
                "rating": "Bad" if i % 3 == 0 else "Good",
            }
        )
    return rows


FLAT = """\
mining:
  table: requests
  fields: {id: request_id, timestamp: ts, output: response, feedback: rating,
           input: {title: title, description: description, price: price}}
"""


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet", "duckdb"])
def test_every_log_format_mines_the_same_failures(
    fmt: str, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    rows = small_log()
    path = tmp_path / f"log.{fmt}"
    if fmt == "jsonl":
        write_cases(path, rows)
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "csv":
        import pandas as pd

        pd.DataFrame(rows).to_csv(path, index=False)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        con = duckdb.connect(str(path))
        con.execute(
            "CREATE TABLE requests (request_id TEXT, ts TIMESTAMP, title TEXT, description TEXT, "
            "price TEXT, response TEXT, rating TEXT)"
        )
        con.executemany(
            "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    r["request_id"],
                    datetime.fromisoformat(r["ts"]),
                    r["title"],
                    r["description"],
                    r["price"],
                    r["response"],
                    r["rating"],
                ]
                for r in rows
            ],
        )
        con.close()
    suite = shop_suite(make_suite, FLAT)
    result = cli("mine", str(suite), "--logs", str(path), "--since", "7d", "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 0, result.stderr
    # days 0..6 are in the window; failures: odd days answer JSON, day 0/3/6 are rated Bad
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert sorted(c["provenance"]["log_id"] for c in cases) == ["r0", "r2", "r3", "r4", "r6"]
    by_id = {c["provenance"]["log_id"]: c for c in cases}
    assert by_id["r3"]["provenance"]["failure"] == ["negative_feedback"]
    assert by_id["r2"]["provenance"]["failure"] == ["schema_violation"]
    assert by_id["r0"]["provenance"]["failure"] == ["schema_violation", "negative_feedback"]
    assert all("@" not in c["input"]["description"] for c in cases)
    assert "read 12 records (5 outside the window" in result.stdout


def test_bad_inputs_give_one_line_errors(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = shop_suite(make_suite)
    db = str(tmp_path / "r.duckdb")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"request_id": "a"}\n{not json\n')
    result = cli("mine", str(suite), "--logs", str(broken), "--db", db)
    assert result.exit_code == 2 and f"{broken}:2: invalid JSON" in result.stderr
    result = cli("mine", str(suite), "--logs", str(tmp_path / "none-*.jsonl"), "--db", db)
    assert result.exit_code == 2 and "no log file matches" in result.stderr
    (tmp_path / "x.txt").write_text("hi")
    result = cli("mine", str(suite), "--logs", str(tmp_path / "x.txt"), "--db", db)
    assert result.exit_code == 2 and "unsupported log format '.txt'" in result.stderr
    # a directory is not read as its files (nor as no records and success): its files are named
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.jsonl").write_text('{"request_id": "a"}\n')
    result = cli("mine", str(suite), "--logs", str(tmp_path / "logs"), "--db", db)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.strip() == (
        f"evalkit: error: {tmp_path / 'logs'}: --logs names a directory: name its files, "
        f"e.g. --logs '{tmp_path / 'logs'}/*.jsonl'"
    )
    result = cli("mine", str(suite), "--logs", str(tmp_path / "log*"), "--db", db)
    assert result.exit_code == 2 and "no log file matches" in result.stderr
    result = cli("mine", str(suite), "--logs", str(broken), "--since", "soon", "--db", db)
    assert result.exit_code == 2 and "--since 'soon'" in result.stderr
    plain = make_suite(
        "name: p\ntarget: {model: openai/x, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl]\n"
        "scorers: [{name: exact}]\n",
        [{"input": {"question": "q"}}],
        name="plain",
    )
    result = cli("mine", str(plain), "--logs", str(broken), "--db", db)
    assert result.exit_code == 2 and "suite has no `mining:` section" in result.stderr
    assert "Traceback" not in result.stderr


def test_since_and_timestamps() -> None:
    now = datetime(2026, 11, 27, 12, 0)
    assert parse_since("7d", now) == datetime(2026, 11, 20, 12, 0)
    assert parse_since("2w", now) == datetime(2026, 11, 13, 12, 0)
    assert parse_since("12h", now) == datetime(2026, 11, 27, 0, 0)
    assert parse_since("2026-11-01", now) == datetime(2026, 11, 1)
    assert parse_timestamp("2016-03-25 22:59:23 +0000") == datetime(2016, 3, 25, 22, 59, 23)
    assert parse_timestamp("2026-11-27T10:00:00+02:00") == datetime(2026, 11, 27, 8, 0)
    assert (
        parse_timestamp(1_700_000_000)
        == parse_timestamp(1_700_000_000_000)
        == datetime(2023, 11, 14, 22, 13, 20)
    )
    assert parse_timestamp("yesterday-ish") is None and parse_timestamp("") is None
    assert parse_timestamp("20241105") == datetime(2024, 11, 5)  # eight digits: a date, not an epoch


@pytest.mark.external_data
def test_feedbackqa_as_production_logs(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Real deployed-QA answers rated by people: 'Bad' / 'Could be Improved' ratings become cases."""
    log = EXTERNAL_DATA / "feedbackqa" / "feedback_test_UK.json"
    if not log.exists():
        pytest.skip("../shared/data/external/feedbackqa is absent")
    suite = make_suite(
        "name: qa\ntarget: {model: openai/x, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl, mined.jsonl]\n"
        "scorers: [{name: contains, args: {value: ['covid']}}]\n"
        "mining:\n  fields: {input: {question: question}, output: passage.reference.section_content,\n"
        "           feedback: rating, feedback_text: feedback}\n",
        [{"id": "q1", "input": {"question": "Am I eligible to apply for the coronavirus future fund?"}}],
        prompt="[user]\n{{ question }}\n",
    )
    db = tmp_path / "r.duckdb"
    result = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    rows = json.loads(log.read_text())
    negative = [r for r in rows if {"Bad", "Could be Improved"} & set(r["rating"])]
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert 0 < len(cases) <= 100
    assert f"Failures {len(negative)} (negative_feedback {len(negative)})" in result.stdout
    questions = {r["question"] for r in negative}
    texts = [norm(c["input"]) for c in cases]
    for i, c in enumerate(cases):
        assert c["input"]["question"] in questions and c["provenance"]["failure"] == ["negative_feedback"]
        assert any(isinstance(f, list) and f for f in c["provenance"]["feedback"])  # the raters' explanations
        assert all(fuzz.token_sort_ratio(texts[i], t) < 90 for t in texts[i + 1 :])
        assert (
            fuzz.token_sort_ratio(
                texts[i], norm({"question": "Am I eligible to apply for the coronavirus future fund?"})
            )
            < 90
        )
    runs = [result.stdout]
    while "over the mining.max_cases 100 limit: left for the next run" in runs[-1] and len(runs) < 10:
        runs.append(cli("mine", str(suite), "--logs", str(log), "--db", str(db)).stdout)
    again = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert "Added 0 cases" in again.stdout and "Failures 0 " in again.stdout


@pytest.mark.external_data
def test_flipkart_listings_with_unparseable_outputs(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The Flipkart sample's listing-shaped rows, its Ruby-hash spec strings standing in for broken outputs."""
    log = EXTERNAL_DATA / "flipkart-ecommerce-sample" / "flipkart_com-ecommerce_sample_first999.csv"
    if not log.exists():
        pytest.skip("../shared/data/external/flipkart-ecommerce-sample is absent")
    root = make_suite(
        "name: listings\ntarget: {model: openai/x, prompts: {v2: prompts/v1.j2}, output_schema: listing.schema.json}\n"
        "cases: [cases.jsonl, mined.jsonl]\nscorers: [{name: json_schema}]\n"
        "mining:\n  fields: {id: uniq_id, timestamp: crawl_timestamp, output: product_specifications,\n"
        "           input: {title: product_name, description: description, price: retail_price}}\n",
        [json.loads(line) for line in (REPO / "golden" / "listings.jsonl").read_text().splitlines()],
        prompt=(REPO / "suites" / "listings" / "prompts" / "v2.j2").read_text(),
    )
    (root.parent / "listing.schema.json").write_text(
        (REPO / "suites" / "listings" / "listing.schema.json").read_text()
    )
    result = cli("mine", str(root), "--logs", str(log), "--n", "50", "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 0, result.stderr
    import pandas as pd

    specs = pd.read_csv(log, dtype=str, keep_default_na=False)
    broken = int((specs[specs["uniq_id"] != ""]["product_specifications"].str.strip() != "").sum())
    assert broken > 900  # every non-empty spec string is a Ruby hash, not JSON
    assert (
        "read 999 records" in result.stdout
        and f"Failures {broken} (schema_violation {broken})" in result.stdout
    )
    clusters = int(re.search(r"in (\d+) clusters", result.stdout).group(1))  # type: ignore[union-attr]
    assert clusters < 999  # the sample repeats products in many sizes and colours
    cases = [json.loads(line) for line in (root.parent / "mined.jsonl").read_text().splitlines()]
    assert len(cases) == 50
    crawled = dict(zip(specs["uniq_id"], specs["crawl_timestamp"], strict=True))
    for c in cases:  # provenance points back at the row: its uniq_id and crawl time
        stamp = parse_timestamp(crawled[c["provenance"]["log_id"]])
        assert stamp is not None and c["provenance"]["logged_at"] == stamp.isoformat() + "Z"
    texts = [norm(c["input"]) for c in cases]
    assert all(fuzz.token_sort_ratio(a, b) < 90 for i, a in enumerate(texts) for b in texts[i + 1 :])


CORRECTED = """\
mining:
  fields: {id: request_id, timestamp: ts, output: response, correction: fixed,
           input: {title: title, description: description, price: price}}
"""


def test_clusters_over_the_limit_are_offered_again(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """--n stops adding cases, not mining: the clusters past it are not recorded, so the next run adds them."""
    rows = [
        {
            "request_id": f"r{i}",
            "ts": (NOW - timedelta(hours=10 - i)).isoformat(),
            "title": f"{ONE_OFF_BRANDS[i]} {ONE_OFF_ITEMS[i]} {i}",
            "description": "d",
            "price": "1.50",
            "response": "not json",
            "fixed": json.dumps({"title": "Fixed", "price": 1.5}) if i == 7 else None,
        }
        for i in range(8)
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    suite = shop_suite(make_suite, CORRECTED)
    db = tmp_path / "r.duckdb"
    first = cli("mine", str(suite), "--logs", str(log), "--n", "2", "--db", str(db))
    assert first.exit_code == 0, first.stderr
    assert "Added 2 cases" in first.stdout
    assert "6 clusters over the --n 2 limit: left for the next run" in first.stdout
    con = duckdb.connect(str(db), read_only=True)
    try:
        recorded = sorted(r[0] for r in con.execute("SELECT log_id FROM mined_records").fetchall())
    finally:
        con.close()
    assert recorded == ["r0", "r1"]

    second = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert second.exit_code == 0, second.stderr
    assert "Added 6 cases" in second.stdout and "over the" not in second.stdout
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert sorted(c["provenance"]["log_id"] for c in cases) == [f"r{i}" for i in range(8)]
    (corrected,) = [c for c in cases if c["provenance"]["log_id"] == "r7"]
    assert corrected["verified"] is True and corrected["expected"] == {"title": "Fixed", "price": 1.5}
    third = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert "Added 0 cases" in third.stdout and "Failures 0 " in third.stdout


def test_the_counts_of_records_read_add_up(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Every record read is in one count: outside the window, ok, duplicate, already mined, failure, skipped."""
    row = {
        "ts": NOW.isoformat(),
        "description": "d",
        "price": "9.99",
        "response": "not json",
        "rating": "Good",
    }
    rows = [
        {**row, "request_id": "r0", "title": "Acme kettle"},
        {**row, "request_id": "r0", "title": "Acme kettle"},  # the same record twice
        {**row, "request_id": "r1", "title": "Zenith lamp", "response": GOOD_OUTPUT},  # ok
        {**row, "request_id": "r2", "title": "Orion drill", "ts": (NOW - timedelta(days=30)).isoformat()},
        {**row, "request_id": "r3", "title": "Vega tent", "ts": "soon"},
        {**row, "request_id": "r4", "title": "Nimbus mixer"},
        {**row, "request_id": "r5", "title": "", "description": "", "price": "", "rating": "Bad"},
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    suite = shop_suite(make_suite, FLAT)
    db = str(tmp_path / "r.duckdb")

    def counts(stdout: str) -> str:
        line = stdout.splitlines()[0]
        total, parts = re.fullmatch(r"shop: read (\d+) records \((.*)\)", line).groups()  # type: ignore[union-attr]
        assert sum(int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", parts)) == int(total), line
        return parts

    first = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--db", db)
    assert first.exit_code == 0, first.stderr
    assert counts(first.stdout) == (
        "1 outside the window, 1 ok, 1 duplicate ids, 0 already mined, 2 new failures; "
        "skipped unreadable timestamp 1, empty input 1"
    )
    again = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--db", db)
    assert counts(again.stdout).startswith(
        "1 outside the window, 1 ok, 1 duplicate ids, 2 already mined, 0 new"
    )


def test_pii_counts_cover_only_the_failures_kept(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Duplicates, already-mined records and the check of ids for personal data add nothing to the counts."""
    row = {"ts": NOW.isoformat(), "price": "9.99", "response": "not json"}
    rows = [
        {**row, "request_id": "r1", "title": "Acme kettle", "description": "mail jane@example.com"},
        {**row, "request_id": "r1", "title": "Acme kettle", "description": "mail jane@example.com"},
        {**row, "request_id": "123456789", "title": "Zenith lamp", "description": "no personal data"},
        {**row, "request_id": "r2", "title": "Orion drill", "description": "ok", "response": GOOD_OUTPUT},
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    suite = shop_suite(make_suite, FLAT)
    db = str(tmp_path / "r.duckdb")
    first = cli("mine", str(suite), "--logs", str(log), "--db", db)
    assert first.exit_code == 0, first.stderr
    assert "Failures 2 " in first.stdout and "PII scrubbed: email 1\n" in first.stdout
    again = cli("mine", str(suite), "--logs", str(log), "--db", db)
    assert "Failures 0 " in again.stdout and "PII scrubbed: none found" in again.stdout


def test_epoch_timestamps_as_text_and_unreadable_ones(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A CSV log holds every value as text: epoch seconds and milliseconds must still be times."""
    import pandas as pd

    epoch = (NOW - timedelta(days=1)).replace(tzinfo=timezone.utc).timestamp()
    stamps = [
        str(int(epoch)),
        str(int(epoch * 1000)),
        f"{epoch:.3f}",
        str(int(epoch - 30 * 86400)),
        "soon",
        "",
    ]
    rows = [
        {
            "request_id": f"r{i}",
            "ts": ts,
            "title": f"{ONE_OFF_BRANDS[i]} {ONE_OFF_ITEMS[i]}",
            "description": "d",
            "price": "1.50",
            "response": "not json",
            "rating": "Good",
        }
        for i, ts in enumerate(stamps)
    ]
    log = tmp_path / "log.csv"
    pd.DataFrame(rows).to_csv(log, index=False)
    suite = shop_suite(make_suite, FLAT)
    result = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 0, result.stderr
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert sorted(c["provenance"]["log_id"] for c in cases) == ["r0", "r1", "r2"]
    assert "read 6 records (1 outside the window" in result.stdout
    assert "unreadable timestamp 1" in result.stdout and "no timestamp 1" in result.stdout


def test_epoch_text_parses_like_epoch_numbers() -> None:
    stamp = datetime(2023, 11, 14, 22, 13, 20)
    assert parse_timestamp("1700000000") == parse_timestamp(" 1700000000000 ") == stamp
    assert (
        parse_timestamp("1700000000.5") == parse_timestamp(1_700_000_000.5) == stamp + timedelta(seconds=0.5)
    )
    assert parse_timestamp(10**30) is None and parse_timestamp("1" * 30) is None


NUMERIC_FEEDBACK = """\
mining:
  fields: {id: request_id, timestamp: ts, output: response, feedback: rating,
           input: {title: title, description: description, price: price}}
  negative_feedback: [bad, -1, 0]
"""


def test_numeric_negative_feedback_values(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """``negative_feedback: [bad, -1]`` as docs/weekly.md shows it: numbers match JSON number ratings."""
    rows = [
        {
            "request_id": f"r{i}",
            "ts": NOW.isoformat(),
            "title": f"{ONE_OFF_BRANDS[i]} {ONE_OFF_ITEMS[i]}",
            "description": "d",
            "price": "1.50",
            "response": GOOD_OUTPUT,
            "rating": rating,
        }
        for i, rating in enumerate([-1, 0, 1, "-1", "Bad"])
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    suite = shop_suite(make_suite, NUMERIC_FEEDBACK)
    result = cli("mine", str(suite), "--logs", str(log), "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 0, result.stderr
    assert "Failures 4 (negative_feedback 4)" in result.stdout


def test_docs_mining_config_loads_and_stays_strict() -> None:
    import yaml
    from pydantic import ValidationError

    from evalkit.suite.growth import MiningSpec

    doc = (REPO / "docs" / "weekly.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    spec = MiningSpec.model_validate(yaml.safe_load(block.group(1))["mining"])
    assert spec.negative_feedback == ["bad", "thumbs_down", "-1", "could be improved"]
    for wrong in (True, None, {"a": 1}, ["-1"]):
        with pytest.raises(ValidationError, match=r"negative_feedback\.0"):
            MiningSpec.model_validate({"fields": {"input": "q"}, "negative_feedback": [wrong]})


def test_a_correction_that_breaks_the_output_schema_is_listed_not_made_a_case(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A correction the output schema refuses used to become a case's expected output that no right
    answer could pass; now its record is listed (log file and line, the schema error) for a person
    to fix, and mined once the correction is fixed."""
    row = {"ts": NOW.isoformat(), "description": "d", "price": "2.50", "response": "not json"}
    rows = [
        {
            **row,
            "request_id": "r0",
            "title": "Acme kettle",
            "fixed": json.dumps({"title": "Kettle", "price": 2.5}),
        },
        {**row, "request_id": "r1", "title": "Zenith lamp", "fixed": json.dumps({"title": "Lamp"})},
        {
            **row,
            "request_id": "r2",
            "title": "Orion drill",
            "fixed": json.dumps({"title": "Drill", "price": "2,50"}),
        },
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    suite = shop_suite(make_suite, CORRECTED)
    db = str(tmp_path / "r.duckdb")
    result = cli("mine", str(suite), "--logs", str(log), "--db", db)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "shop: read 3 records (0 outside the window, 0 ok, 0 duplicate ids, 0 already mined, "
        "1 new failures, 2 with a correction that breaks the output schema)"
    )
    assert "Added 1 cases" in result.stdout
    at = lines.index(
        "2 records with a correction that breaks the output schema: no case was made of them (a case "
        "expecting it could never pass); fix the correction in the log and the next run mines the record again:"
    )
    assert lines[at + 1 : at + 3] == [
        f"  ! {log}:2 (id r1): 'price' is a required property",
        f"  ! {log}:3 (id r2): price: '2,50' is not of type 'number', 'null'",
    ]
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert [(c["provenance"]["log_id"], c["expected"]) for c in cases] == [
        ("r0", {"title": "Kettle", "price": 2.5})
    ]
    # not recorded as mined: fixed in the log, the record becomes a case on the next run
    rows[1]["fixed"] = json.dumps({"title": "Lamp", "price": None})
    write_cases(log, rows)
    again = cli("mine", str(suite), "--logs", str(log), "--db", db)
    assert "1 already mined, 1 new failures, 1 with a correction that breaks" in again.stdout
    assert "Added 1 cases" in again.stdout and f"  ! {log}:3 (id r2)" in again.stdout
    cases = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert cases[-1]["provenance"]["log_id"] == "r1" and cases[-1]["expected"] == {
        "title": "Lamp",
        "price": None,
    }
