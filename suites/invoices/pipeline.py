"""The document pipeline under test: invoice PDF -> {vendor, invoice_number, date, currency, total}.

What a team shipping invoice extraction typically runs, in three steps:

1. the **text layer** (pypdf, through evalkit's ``FileInput.text``) of every page that has one;
2. **OCR** (Tesseract, Debian's ``tesseract-ocr``) of the page images of pages without a text layer
   (scans, and scanned pages appended to a digital invoice), after removing specks, upscaling and
   binarising them (Pillow);
3. fields read from each source with rules, then **reconciled**: a field both sources agree on,
   or only one source has, is taken as is; where they disagree (or neither has it) an LLM picks the
   value from the two texts (``INVOICES_LLM``, default the embedded ``local/smollm2-135m``; any
   litellm model string works; ``INVOICES_LLM_API_BASE`` points it at an OpenAI-compatible server).
   An LLM answer that is not one of the candidates is not trusted, and a call that fails has no
   answer: the text layer's candidate wins, and the output says so in ``notes`` (one line per
   field), which the suite does not score: the answer is the same, the fallback is visible.

``evalkit run suites/invoices`` scores it field by field against golden/invoices.jsonl.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import datetime
from typing import Any

from evalkit.providers import CompletionRequest, get_provider
from evalkit.providers.file_inputs import FileInput

FIELDS = ("vendor", "invoice_number", "date", "currency", "total")
# the reconciling LLM is chosen here: another one is another pipeline, not the cached answers of this one
EVALKIT_ENV = ["INVOICES_LLM", "INVOICES_LLM_API_BASE"]
DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d/%m/%Y", "%B %d, %Y", "%b %d, %Y")


def page_texts(invoice: FileInput) -> tuple[str, str]:
    """(text layer, OCR text): OCR only for the pages whose text layer is (almost) empty.

    Each scanned page is read as it is; when that leaves a field unread, it is read again cleaned
    up (:func:`clean_scan`), which rescues rough scans but loses detail on good ones, and the two
    readings are joined.
    """
    from pypdf import PdfReader

    layer_pages = invoice.text.split("\f")
    scanned = [i for i, text in enumerate(layer_pages) if len(text.strip()) < 20]
    images = []
    if scanned:
        reader = PdfReader(str(invoice.path))
        # a file of no pages has one empty text "page" and no page to take images from
        images = [
            image.data
            for index in scanned
            if index < len(reader.pages)
            for image in reader.pages[index].images
        ]
    raw = "\n".join(ocr(data) for data in images)
    found = read_fields("\n".join(layer_pages)) | read_fields(raw)
    if images and any(field not in found for field in FIELDS):
        raw += "\n" + "\n".join(ocr(clean_scan(data)) for data in images)
    return "\n".join(layer_pages), raw


def clean_scan(data: bytes) -> bytes:
    """A scan made easier to read: specks removed (median filter), upscaled 2x, binarised."""
    import io

    from PIL import Image, ImageFilter

    page = Image.open(io.BytesIO(data)).convert("L").filter(ImageFilter.MedianFilter(3))
    page = page.resize((page.width * 2, page.height * 2), Image.Resampling.LANCZOS)
    page = page.point(lambda p: 255 if p > 170 else 0)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    return buffer.getvalue()


def ocr(data: bytes) -> str:
    """Tesseract on one page image (page segmentation 6: a uniform block of text)."""
    if shutil.which("tesseract") is None:
        raise RuntimeError("tesseract is not installed (apt-get install tesseract-ocr)")
    with tempfile.NamedTemporaryFile() as handle:
        handle.write(data)
        handle.flush()
        done = subprocess.run(
            ["tesseract", handle.name, "-", "--psm", "6"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},  # one core per page: runs go in parallel
        )
    return done.stdout


def _number(text: str) -> float | None:
    cleaned = re.sub(r"[^\d.,]", "", text)
    if not cleaned:
        return None
    if "," in cleaned and "." in cleaned:  # 1,234.56 or 1.234,56: the last separator is the decimal one
        decimal = "." if cleaned.rfind(".") > cleaned.rfind(",") else ","
        cleaned = cleaned.replace("," if decimal == "." else ".", "").replace(decimal, ".")
    elif "," in cleaned:
        cleaned = cleaned.replace(",", ".") if len(cleaned.split(",")[-1]) == 2 else cleaned.replace(",", "")
    try:
        return round(float(cleaned), 2)
    except ValueError:
        return None


def _date(text: str) -> str | None:
    text = re.sub(r"\s+", " ", text.strip().strip(".:;,"))
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def read_fields(text: str) -> dict[str, Any]:
    """The fields one source's text gives, by rule (tolerant of OCR's stray punctuation)."""
    fields: dict[str, Any] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and not re.search(r"page \d+ of \d+", lines[0], re.I):
        fields["vendor"] = re.sub(r"[^\w&.,' -]", "", lines[0]).strip()
    if match := re.search(r"Invoice\W{0,3}(?:number|no)\W{0,3}([A-Z0-9][A-Z0-9/-]{2,})", text, re.I):
        fields["invoice_number"] = match.group(1)
    match = re.search(r"Invoice\W{0,3}date\W{0,3}([^\n]+)", text, re.I)
    if match and (parsed := _date(match.group(1))) is not None:
        fields["date"] = parsed
    if match := re.search(r"Total\W{0,3}due\W{0,3}([A-Z]{3})\W{0,3}([\d.,' ]+\d)", text, re.I):
        fields["currency"] = match.group(1).upper()
        if (amount := _number(match.group(2))) is not None:
            fields["total"] = amount
    return fields


async def ask_llm(field: str, candidates: list[Any], layer: str, scanned: str) -> tuple[Any, str | None]:
    """The LLM's pick for one field, from the candidates the two sources gave, and a note when the
    pick is the text layer's candidate because the LLM gave none (its call failed, its answer was
    unreadable or not a candidate)."""
    model = os.environ.get("INVOICES_LLM", "local/smollm2-135m")
    prompt = (
        f"Two readings of the same invoice disagree on its {field}. Candidates: {json.dumps(candidates)}.\n"
        f"Text layer:\n{layer[:1500]}\n\nOCR of the scanned pages:\n{scanned[:1500]}\n\n"
        f'Answer with JSON {{"{field}": <the correct candidate>}}.'
    )
    schema = {"type": "object", "properties": {field: {"enum": candidates}}, "required": [field]}
    request = CompletionRequest(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        params={"temperature": 0, "max_tokens": 40},
        response_schema=schema,
        api_base=os.environ.get("INVOICES_LLM_API_BASE") or None,
        timeout=120,
    )
    kept = f"kept the text layer's {candidates[0]!r}"
    try:
        text = (await get_provider(model).complete(request)).text
    except Exception as exc:  # no model, a server down: the text layer's candidate stands
        return candidates[0], f"{field}: the reconciling LLM ({model}) failed: {_brief(exc)}; {kept}"
    try:
        answer = json.loads(text)[field]
    except (ValueError, TypeError, KeyError, IndexError):
        return candidates[0], f"{field}: the reconciling LLM's answer {text[:80]!r} gives no {field}; {kept}"
    if answer not in candidates:
        return candidates[0], f"{field}: the reconciling LLM answered {answer!r}, not a candidate; {kept}"
    return answer, None


def _brief(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


async def extract(invoice: FileInput) -> dict[str, Any]:
    """The pipeline: text layer, OCR where there is none, fields reconciled (by an LLM where they
    disagree); ``notes`` says where the LLM gave no answer and the text layer's value was kept."""
    layer, scanned = await asyncio.to_thread(page_texts, invoice)  # OCR blocks: keep the loop free
    if not layer.strip() and not scanned.strip():
        # nothing to extract from is the pipeline's failure (the case's error), not fields the
        # extraction got wrong
        raise ValueError(
            f"{invoice.path.name if invoice.path else 'the document'}: no text layer, and OCR read nothing"
        )
    from_layer, from_ocr = read_fields(layer), read_fields(scanned)
    result: dict[str, Any] = {}
    notes: list[str] = []
    for field in FIELDS:
        candidates = [v for v in (from_layer.get(field), from_ocr.get(field)) if v is not None]
        distinct = list(dict.fromkeys(candidates))
        if len(distinct) == 1:
            result[field] = distinct[0]
        elif len(distinct) > 1:
            result[field], note = await ask_llm(field, distinct, layer, scanned)
            if note is not None:
                notes.append(note)
    if notes:  # only then: an invoice reconciled without trouble reads as it always did
        result["notes"] = notes
    return result
