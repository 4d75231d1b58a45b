"""Word-level diffs and their HTML."""

from __future__ import annotations

import random
import re

from evalkit.report.diff import diff_html, output_text, word_diff


def test_word_diff_marks_changed_words() -> None:
    assert word_diff("the quick brown fox", "the slow brown fox") == [
        ("equal", "the "),
        ("delete", "quick"),
        ("insert", "slow"),
        ("equal", " brown fox"),
    ]
    assert word_diff("same", "same") == [("equal", "same")]
    assert word_diff("", "new text") == [("insert", "new text")]


def test_word_diff_reconstructs_both_texts() -> None:
    rng = random.Random(7)
    words = ["alpha", "beta", "{", "}", '"x"', ":", "1.5", " ", "\n", "Größe", "日本"]
    for _ in range(200):
        old = "".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        new = "".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        segments = word_diff(old, new)
        assert "".join(t for op, t in segments if op != "insert") == old
        assert "".join(t for op, t in segments if op != "delete") == new


def test_diff_html_escapes_every_piece() -> None:
    html = str(diff_html('<img src=x onerror="a()">', "<script>b()</script>"))
    assert "<img" not in html and "<script" not in html
    old_side = re.sub(r"<ins>.*?</ins>", "", html).replace("<del>", "").replace("</del>", "")
    new_side = re.sub(r"<del>.*?</del>", "", html).replace("<ins>", "").replace("</ins>", "")
    assert old_side == "&lt;img src=x onerror=&#34;a()&#34;&gt;"
    assert new_side == "&lt;script&gt;b()&lt;/script&gt;"
    assert html.count("<del>") >= 1 and html.count("<ins>") >= 1


def test_output_is_diffed_in_the_expected_key_order() -> None:
    expected = {"title": "A", "price": {"amount": 1, "currency": "EUR"}}
    raw = '{"price": {"currency": "EUR", "amount": 2}, "title": "A", "extra": true}'
    assert (
        output_text(raw, expected)
        == '{"title": "A", "price": {"amount": 2, "currency": "EUR"}, "extra": true}'
    )
    assert output_text("not json", expected) == "not json"
    assert output_text(None, expected) == ""
