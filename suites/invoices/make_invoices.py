"""Write the invoice PDFs of the document flagship from its ground truth (golden/invoices.jsonl).

    python suites/invoices/make_invoices.py        # writes golden/invoices/<id>.pdf

Each case's ``expected`` (vendor, invoice number, date, currency, total) and tags decide the
document; line items are made up from the case id (seeded, so every run writes the same PDFs)
and add up, with VAT, to the expected total. Tags:

- ``digital``: a PDF with a text layer, as accounting software writes them;
- ``scanned``: the same page rasterised, rotated a little, speckled and saved as a JPEG inside
  the PDF, with no text layer (what a scanner at the front desk produces); with
  ``"provenance": {"scan": "rough"}``, a worse one (3 degrees, 90 dpi, heavy JPEG);
- ``multipage``: enough line items to need two pages; the totals are on the last one;
- ``digital`` + ``scanned``: the first page digital, the second (with the totals) scanned.

Needs fpdf2 and Pillow (the dev extra); fonts are Debian's DejaVu when present.
"""

from __future__ import annotations

import io
import json
import random
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFilter, ImageFont

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "golden" / "invoices.jsonl"
OUT = REPO / "golden" / "invoices"
DPI = 150
PAGE_PX = (int(8.27 * DPI), int(11.69 * DPI))  # A4
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
VAT = 0.20
PRODUCTS = [
    "A4 copier paper, 80 g (box of 5 reams)",
    "Pallet transport, zone 2",
    "Hex bolts M8 x 40, zinc (100)",
    "Service call, technician per hour",
    "Catering, lunch buffet per person",
    "Software licence, annual seat",
    "Cable tray 60 x 300, 3 m",
    "Cleaning, office floor per visit",
    "Toner cartridge, black",
    "LED panel 60 x 60, 36 W",
    "Stage lighting rig hire, per day",
    "Microscope slides (pack of 72)",
]


def line_items(case_id: str, total: float, count: int) -> tuple[list[tuple[str, int, float]], float, float]:
    """(description, qty, unit price) rows whose amounts and VAT add up to ``total`` exactly."""
    rng = random.Random(case_id)
    subtotal = round(total / (1 + VAT), 2)
    vat = round(total - subtotal, 2)
    items: list[tuple[str, int, float]] = []
    remaining = subtotal
    for _ in range(count - 1):
        qty = rng.randint(1, 4)
        unit = round(rng.uniform(0.2, 0.9) * remaining / (count * qty), 2)
        items.append((rng.choice(PRODUCTS), qty, unit))
        remaining = round(remaining - qty * unit, 2)
    items.append((rng.choice(PRODUCTS), 1, remaining))
    return items, subtotal, vat


def money(value: float) -> str:
    return f"{value:,.2f}"


def page_lines(case: dict[str, Any]) -> list[list[tuple[str, str]]]:
    """The invoice as pages of (style, text) lines: ``title``, ``bold``, ``text``, ``row``, ``gap``."""
    want = case["expected"]
    multipage = "multipage" in case["tags"]
    items, subtotal, vat = line_items(case["id"], want["total"], 34 if multipage else 5)
    shown_date = date.fromisoformat(want["date"]).strftime(case["provenance"]["date_format"])
    header = [
        ("title", want["vendor"]),
        ("text", "12 Commerce Street, Unit 4"),
        ("gap", ""),
        ("bold", "INVOICE"),
        ("text", f"Invoice number: {want['invoice_number']}"),
        ("text", f"Invoice date: {shown_date}"),
        ("text", "Bill to: Northwind Retail Ltd, 5 Harbour Road"),
        ("gap", ""),
        ("row", "Description|Qty|Unit price|Amount"),
    ]
    rows = [("row", f"{d}|{q}|{money(u)}|{money(q * u)}") for d, q, u in items]
    totals = [
        ("gap", ""),
        ("text", f"Subtotal: {money(subtotal)}"),
        ("text", f"VAT 20%: {money(vat)}"),
        ("bold", f"Total due: {want['currency']} {money(want['total'])}"),
        ("gap", ""),
        ("text", "Payment within 30 days. Thank you for your business."),
    ]
    if not multipage:
        return [header + rows + totals]
    split = len(rows) * 2 // 3
    second = [
        ("title", want["vendor"]),
        ("text", f"Invoice number: {want['invoice_number']} (continued, page 2 of 2)"),
        ("gap", ""),
        ("row", "Description|Qty|Unit price|Amount"),
    ]
    return [header + rows[:split], second + rows[split:] + totals]


def digital_page(pdf: FPDF, lines: list[tuple[str, str]]) -> None:
    pdf.add_page()
    for style, text in lines:
        if style == "gap":
            pdf.ln(4)
        elif style == "row":
            pdf.set_font("Helvetica", size=9)
            widths = (100, 15, 30, 35)
            for width, cell in zip(widths, text.split("|"), strict=True):
                pdf.cell(width, 6, cell, align="L" if width == 100 else "R")
            pdf.ln(6)
        else:
            size = {"title": 16, "bold": 12}.get(style, 10)
            pdf.set_font("Helvetica", style="B" if style in ("title", "bold") else "", size=size)
            pdf.cell(0, size * 0.6, text)
            pdf.ln(size * 0.6)


def scanned_image(lines: list[tuple[str, str]], seed: str, rough: bool = False) -> bytes:
    """The page drawn at 150 dpi, then made to look scanned: tilted, blurred, speckled, JPEG.

    ``rough``: a worse scanner (more tilt, 90 dpi, more specks, heavier compression).
    """
    rng = random.Random(seed)
    page = Image.new("L", PAGE_PX, 255)
    draw = ImageDraw.Draw(page)
    fonts = {
        size: ImageFont.truetype(str(FONT_BOLD if bold else FONT), size)
        if FONT.exists()
        else ImageFont.load_default()
        for size, bold in ((28, True), (22, True), (18, False), (16, False))
    }
    y = 110
    for style, text in lines:
        if style == "gap":
            y += 20
        elif style == "row":
            x_positions = (110, 720, 840, 1010)
            for x, cell in zip(x_positions, text.split("|"), strict=True):
                draw.text((x, y), cell, fill=25, font=fonts[16])
            y += 30
        else:
            font = fonts[28] if style == "title" else fonts[22] if style == "bold" else fonts[18]
            draw.text((110, y), text, fill=20, font=font)
            y += font.size + 14
    tilt = rng.choice((-1, 1)) * rng.uniform(2.5, 3.5) if rough else rng.uniform(-1.5, 1.5)
    page = page.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    if rough:
        page = page.resize((PAGE_PX[0] * 3 // 5, PAGE_PX[1] * 3 // 5), Image.Resampling.BILINEAR)
    pixels = page.load()
    assert pixels is not None
    for _ in range(15000 if rough else 6000):  # dust and toner specks
        x, y = rng.randrange(page.width), rng.randrange(page.height)
        pixels[x, y] = rng.choice((0, 60, 120, 255))
    buffer = io.BytesIO()
    page.save(buffer, format="JPEG", quality=35 if rough else 70)
    return buffer.getvalue()


def write_invoice(case: dict[str, Any], out: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    # a fixed timestamp: the same ground truth writes the same bytes
    pdf.set_creation_date(datetime(2025, 7, 1, tzinfo=timezone.utc))
    tags = set(case["tags"])
    for number, lines in enumerate(page_lines(case)):
        scanned = "scanned" in tags and ("digital" not in tags or number > 0)
        if scanned:
            pdf.add_page()
            rough = case["provenance"].get("scan") == "rough"
            image = scanned_image(lines, f"{case['id']}-{number}", rough)
            pdf.image(io.BytesIO(image), x=0, y=0, w=210, h=297)
        else:
            digital_page(pdf, lines)
    pdf.output(str(out))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    for case in cases:
        write_invoice(case, OUT / f"{case['id']}.pdf")
    print(f"wrote {len(cases)} invoices to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
