"""PII scrubbing: what is replaced, and what product text must survive untouched."""

from __future__ import annotations

import pytest

from evalkit.grow.pii import PiiScrubber, luhn_ok, without_placeholders


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("write to jane.doe+shop@example.co.uk today", "write to [EMAIL] today"),
        ("card 4111 1111 1111 1111 thanks", "card [CARD] thanks"),
        ("amex 378282246310005", "amex [CARD]"),
        ("call +44 20 7946 0958 or (555) 867-5309", "call [PHONE] or [PHONE]"),
        ("mobile 07700900123.", "mobile [PHONE]."),
    ],
)
def test_personal_data_is_replaced(text: str, scrubbed: str) -> None:
    assert PiiScrubber().text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "Sony WH-1000XM4 $1,299.00 128GB",
        "crawled 2016-03-25 22:59:23 +0000",
        "prices 12.99 14.99 15.99 19.99",
        "Rs. 1.250 / 449,00 €",
        "4111 1111 1111 1112",  # 16 digits failing Luhn: not a card, too long for a phone
        "Le Creuset 24cm 4.2 L",
        "12 High Street",  # addresses only when configured
    ],
)
def test_product_text_survives(text: str) -> None:
    assert PiiScrubber().text(text) == text


def test_addresses_and_extra_patterns_when_configured() -> None:
    scrubber = PiiScrubber(addresses=True, patterns=[r"ORDER-\d{6}"])
    assert scrubber.text("ship to 221B Baker Street, London; ref ORDER-123456") == (
        "ship to [ADDRESS], London; ref [REDACTED]"
    )
    assert scrubber.counts == {"address": 1, "pattern": 1}


def test_values_are_scrubbed_recursively_and_placeholders_can_be_dropped() -> None:
    scrubber = PiiScrubber()
    value = {"who": ["a@b.io", {"tel": 447700900123}], "n": 3, "ok": True}
    assert scrubber.value(value) == {"who": ["[EMAIL]", {"tel": "[PHONE]"}], "n": 3, "ok": True}
    assert without_placeholders({"t": "mail [EMAIL] now"}) == {"t": "mail   now"}


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("5500000000000004")
    assert not luhn_ok("4111111111111112")


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        # a price, a date or a CVV right after the number is not part of it, and stays
        ("call me at 555 123 4567 12.99 EUR charged", "call me at [PHONE] 12.99 EUR charged"),
        ("call 0612345679 2024-03-05", "call [PHONE] 2024-03-05"),
        ("call 0612345678 2024-03-05 please", "call [PHONE] 2024-03-05 please"),
        ("call +1 415 555 0134 2024-03-05", "call [PHONE] 2024-03-05"),
        ("card 4111 1111 1111 1111 123 cvv", "card [CARD] 123 cvv"),
        ("card 4111111111111111 12 27", "card [CARD] 12 27"),
        ("paid 4111-1111-1111-1111 on 05/03/2024 for 19.99", "paid [CARD] on 05/03/2024 for 19.99"),
        ("appelez le 06.12.34.56.79", "appelez le [PHONE]"),
        # a phone and a number after it make more digits than any phone: the phone is still found
        ("call +44 20 7946 0958 12345 today", "call [PHONE] 12345 today"),
        ("(555) 123-4567 1234567", "[PHONE] 1234567"),
        ("tel 07700 900123 12345678", "tel [PHONE] 12345678"),
    ],
)
def test_personal_data_followed_by_other_numbers_is_replaced(text: str, scrubbed: str) -> None:
    assert PiiScrubber().text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "order 12345678 3 units",  # 8 digits and a quantity are not a 9-digit phone
        "SKU 4711 2345 3 units please",
        "item 1234 5678 2 pcs",
        "model 1234567 12 units",
    ],
)
def test_a_quantity_after_a_number_does_not_make_it_a_phone(text: str) -> None:
    assert PiiScrubber().text(text) == text


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        # a count after a real phone stays outside it
        ("tel 555 123 4567 3 units", "tel [PHONE] 3 units"),
        ("call 555-123-4567 12 units", "call [PHONE] 12 units"),
        ("(555) 123-4567 2 pcs", "[PHONE] 2 pcs"),
        ("+44 20 7946 0958 12345 3 units", "[PHONE] 12345 3 units"),
        # phones written in spaced groups, with dashes or a country code are still phones
        ("call 555 123 4567", "call [PHONE]"),
        ("call 555-123-4567 now", "call [PHONE] now"),
        ("appelez le 06 12 34 56 78", "appelez le [PHONE]"),
        ("+33 6 12 34 56 78", "[PHONE]"),
        ("+41 44 668 18 00", "[PHONE]"),
        ("08-123 456 78", "[PHONE]"),
        ("+39 02 1234 5678", "[PHONE]"),
        ("+1-415-555-0134", "[PHONE]"),
        # a last group that ends the text counts nothing: it is the phone's
        ("+49 30 123456 78", "[PHONE]"),
        ("call 0123 456789 01", "call [PHONE]"),
    ],
)
def test_a_count_after_a_phone_is_not_part_of_it(text: str, scrubbed: str) -> None:
    assert PiiScrubber().text(text) == scrubbed


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("Musterstraße 12, 10115 Berlin", "[ADDRESS], 10115 Berlin"),
        ("ship to Hauptstrasse 5", "ship to [ADDRESS]"),
        ("Berliner Straße 12a", "[ADDRESS]"),
        ("Bahnhofstr. 3", "[ADDRESS]"),
        ("Via Roma 10, Milano", "[ADDRESS], Milano"),
        ("via Roma 10, Milano", "[ADDRESS], Milano"),
        ("ship to via Roma 10", "ship to [ADDRESS]"),
        ("abito in via Roma 10 a Milano", "abito in [ADDRESS] a Milano"),
        ("via XX Settembre 3, 20121 Milano", "[ADDRESS], 20121 Milano"),
        ("via dei Mille 12 int. 3", "[ADDRESS] int. 3"),
        ("viale Monza 12", "[ADDRESS]"),
        ("Calle Mayor 5", "[ADDRESS]"),
        ("Calle de Alcalá 42, Madrid", "[ADDRESS], Madrid"),
        ("12 rue de Rivoli, Paris", "[ADDRESS], Paris"),
        ("1600 Pennsylvania Avenue", "[ADDRESS]"),
    ],
)
def test_street_addresses_in_either_order(text: str, scrubbed: str) -> None:
    assert PiiScrubber(addresses=True).text(text) == scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "pairs via Bluetooth 5.0",
        "ships via DHL 2 days",
        "Sony WH-1000XM4 $1,299.00 128GB",
        # lower-case "via" is the English word unless an address follows it
        "sent via email 3 times",
        "connect via USB 3.",
        "connect via Thunderbolt 3 to the dock",
        "shipped via FedEx 2 Day",
        "order via Amazon 3 days ago",
        # nor in capitals
        "SHIPPED VIA DHL 2 DAYS",
        "Order VIA UPS 3 boxes",
    ],
)
def test_product_text_survives_address_scrubbing(text: str) -> None:
    assert PiiScrubber(addresses=True).text(text) == text


def test_checking_for_personal_data_counts_nothing() -> None:
    scrubber = PiiScrubber()
    assert scrubber.finds("555123456") and not scrubber.finds("req-42")
    assert scrubber.counts == {}
    scrubber.text("call 555 123 4567")
    assert scrubber.take_counts() == {"phone": 1} and scrubber.counts == {}
