"""Build the `attributes` suite's cases and output schema from the WDC-PAVE data (not shipped here).

WDC-PAVE (Baumann, Brinkmann, Bizer; ADBIS 2024) has no licence file, so evalkit ships only this
script: it reads ``train_large_normalized.jsonl`` and ``attribute_guidelines.csv`` from
``--data`` (default ``$EVALKIT_WDC_PAVE``, else ``shared/data/external/wdc-pave`` next to the
checkout) and writes, next to this file (git-ignored):

- ``attributes.schema.json``: one string property per attribute (51), described by its guidelines;
- ``cases/dev.jsonl``: the dev split, ``--dev-per-category`` offers of each of the 5 categories,
  drawn with ``--seed`` (default 10 x 5 = 50 offers; small enough for the embedded model);
- ``cases/smoke.jsonl``: the first 2 dev offers (by id) of each category, 10 in all, for
  ``smoke.yaml`` (the embedded model);
- ``cases/rest.jsonl``: every other train_large offer (1,016), for vendors and larger runs.

Each case's input holds the offer's title and description, its category, and the category's
attributes with their guideline text; its expected output maps every attribute to its normalised
value, ``{"$any": [...]}`` when several values are acceptable, or ``"n/a"`` when the offer does not
state it.

    python suites/attributes/build.py [--data DIR] [--dev-per-category 10] [--seed 15]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[2] / "shared" / "data" / "external" / "wdc-pave"


def guidelines(path: Path) -> dict[str, dict[str, str]]:
    """category -> attribute -> guideline text (description, then the normalisation instruction)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            text = " ".join(
                part.strip()
                for part in (row["Human_Description"], row["Normalization_instruction"])
                if part.strip() not in ("", "None")
            )
            out[row["Category"]][row["Attribute"]] = text
    return out


def expected_value(target: dict[str, Any]) -> Any:
    values = [v for v in target if v != "n/a"]
    if not values:
        return "n/a"
    return values[0] if len(values) == 1 else {"$any": values}


def case(offer: dict[str, Any], rules: dict[str, dict[str, str]], split: str) -> dict[str, Any]:
    category = offer["category"]
    targets = offer["target_scores"]
    return {
        "id": f"pave-{offer['id']}",
        "input": {
            "category": category,
            "title": offer["input_title"],
            "description": offer["input_description"] or "",
            "attributes": [{"name": a, "guideline": rules[category].get(a, "")} for a in targets],
        },
        "expected": {a: expected_value(t) for a, t in targets.items()},
        "tags": [category.lower().replace(" ", "-"), split],
        "provenance": {
            "dataset": "WDC-PAVE train_large_normalized",
            "offer_id": offer["id"],
            "shop": offer["url"],
        },
    }


def schema(rules: dict[str, dict[str, str]]) -> dict[str, Any]:
    names = sorted({a for per_category in rules.values() for a in per_category})
    properties = {}
    for name in names:
        described = [
            f"{category}: {text}" for category, per in sorted(rules.items()) if (text := per.get(name))
        ]
        properties[name] = {
            "type": "string",
            "description": (
                'The normalised value, or "n/a" when the offer does not state it. ' + " | ".join(described)
            ),
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Product attributes (WDC-PAVE)",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("EVALKIT_WDC_PAVE", DEFAULT_DATA)))
    parser.add_argument("--dev-per-category", type=int, default=10)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", type=Path, default=HERE, help="where to write (default: next to this file)")
    args = parser.parse_args(argv)
    offers_file = args.data / "train_large_normalized.jsonl"
    if not offers_file.is_file():
        raise SystemExit(f"{offers_file} not found: pass --data DIR holding the WDC-PAVE files")
    rules = guidelines(args.data / "attribute_guidelines.csv")
    offers = [json.loads(line) for line in offers_file.read_text(encoding="utf-8").splitlines() if line]
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for offer in sorted(offers, key=lambda o: o["id"]):
        by_category[offer["category"]].append(offer)
    rng = random.Random(args.seed)
    dev_ids = {
        o["id"]
        for category in sorted(by_category)
        for o in rng.sample(by_category[category], args.dev_per_category)
    }
    (args.out / "cases").mkdir(parents=True, exist_ok=True)
    smoke_ids = {
        o["id"]
        for category in sorted(by_category)
        for o in [o for o in by_category[category] if o["id"] in dev_ids][:2]
    }
    for split, ids, chosen in (("dev", dev_ids, True), ("smoke", smoke_ids, True), ("rest", dev_ids, False)):
        rows = [
            case(o, rules, split) for o in sorted(offers, key=lambda o: o["id"]) if (o["id"] in ids) == chosen
        ]
        path = args.out / "cases" / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path}: {len(rows)} cases")
    schema_path = args.out / "attributes.schema.json"
    schema_path.write_text(json.dumps(schema(rules), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{schema_path}: {len(schema(rules)['properties'])} attributes")


if __name__ == "__main__":
    main()
