"""Files as case inputs: PDFs, images and text, content-hashed, placed by the prompt template.

A case input variable refers to a file with ``{"$file": "invoices/001.pdf"}`` (relative to the case
file, and under its directory or the suite's; ``"type": "pdf" | "image" | "text"`` when the
extension does not say). In a prompt template
the variable renders as the file's text (a PDF's text layer, read with pypdf; a text file's
content); an image renders as a marker that becomes an image content part of that message, sent
to vision models as OpenAI's ``image_url`` with a data URL (litellm passes it on to every vendor).
Templates may also use ``{{ doc.text }}``, ``{{ doc.name }}``, ``{{ doc.sha256 }}`` and, for a PDF,
``{{ doc.page_images }}``: its pages as images (rendered by pypdfium2, the ``files`` extra). ``python:``
targets receive the :class:`FileInput` itself (``.path``, ``.data``, ``.text``). A prompt that places
a PDF's text when it has none (a scan) and not its page images is not sent: evalkit does not OCR,
and the case is its error (:func:`textless_pdf_problem`; an ``http:`` target's request likewise,
unless it carries the file's bytes: :mod:`evalkit.providers.http_target`).

Each file's SHA-256 is part of the call's cache key, so editing a file makes a new call. URLs are
not fetched: ``{"$file": "https://..."}`` is refused unless ``EVALKIT_ALLOW_URL_FILES=1``, and
then only images, passed to the model as the URL. Files over ``EVALKIT_MAX_FILE_MB`` (default 20)
and unreadable files are one-line errors naming the case file and line (exit 2) before any call.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from evalkit.errors import ConfigError

FILE_KEY = "$file"
FileKind = Literal["pdf", "image", "text"]
_KINDS: dict[str, tuple[FileKind, str]] = {
    ".pdf": ("pdf", "application/pdf"),
    ".png": ("image", "image/png"),
    ".jpg": ("image", "image/jpeg"),
    ".jpeg": ("image", "image/jpeg"),
    ".webp": ("image", "image/webp"),
    ".gif": ("image", "image/gif"),
    ".txt": ("text", "text/plain"),
    ".md": ("text", "text/markdown"),
    ".csv": ("text", "text/csv"),
    ".json": ("text", "application/json"),
    ".html": ("text", "text/html"),
    ".xml": ("text", "application/xml"),
}
_IMAGE_MARK = re.compile(r"\[\[evalkit-image:([0-9a-f]{64})\]\]")


def is_file_ref(value: Any) -> bool:
    """Whether an input value refers to a file (``{"$file": ...}``)."""
    return isinstance(value, dict) and isinstance(value.get(FILE_KEY), str)


def has_file_refs(variables: dict[str, Any]) -> bool:
    """Whether any input value refers to a file (asked twice of every case before a run's first call)."""
    for value in variables.values():  # noqa: SIM110 (a loop: any() over a generator costs ~1 ms per 2000 cases)
        if is_file_ref(value):
            return True
    return False


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def rebase_file_refs(variables: dict[str, Any], case_dir: Path, root: Path) -> dict[str, Any]:
    """The input with file paths relative to ``root`` (the suite) instead of the case file's directory."""
    if _lexical(case_dir) == _lexical(root):
        return variables
    rebased = dict(variables)
    for name, value in variables.items():
        if is_file_ref(value) and not _is_url(value[FILE_KEY]):
            # as written (a symlink stays a symlink: see check_file_inputs)
            path = Path(os.path.relpath(_lexical(case_dir / str(value[FILE_KEY])), _lexical(root)))
            rebased[name] = {**value, FILE_KEY: path.as_posix()}
    return rebased


def _kind(ref: dict[str, Any]) -> tuple[FileKind, str]:
    declared = ref.get("type")
    suffix = Path(str(ref[FILE_KEY]).split("?")[0]).suffix.lower()
    known = _KINDS.get(suffix)
    if declared is None:
        if known is None:
            name = Path(str(ref[FILE_KEY])).name
            raise ValueError(f'cannot tell the type of {name!r}: add "type": pdf, image or text')
        return known
    if declared not in ("pdf", "image", "text"):
        raise ValueError(f"file type {declared!r} is not pdf, image or text")
    media = (
        known[1]
        if known is not None and known[0] == declared
        else {
            "pdf": "application/pdf",
            "image": "image/png",
            "text": "text/plain",
        }[declared]
    )
    return declared, media


def max_file_bytes() -> int:
    setting = os.environ.get("EVALKIT_MAX_FILE_MB", "20")
    try:
        return int(float(setting) * 1024 * 1024)
    except ValueError:
        raise ConfigError(
            f"EVALKIT_MAX_FILE_MB={setting!r}: give the largest input file in MB, e.g. 20"
        ) from None


@dataclass(frozen=True)
class FileInput:
    """One file of a case, read and hashed."""

    name: str  # as the case wrote it
    kind: FileKind
    media_type: str
    sha256: str
    path: Path | None = None
    url: str | None = None
    data: bytes = field(default=b"", repr=False)

    @cached_property
    def text(self) -> str:
        """The text a template places: a PDF's text layer, a text file's content; empty for images."""
        if self.kind == "text":
            return self.data.decode("utf-8", "replace")
        if self.kind == "pdf":
            return pdf_text(self.data)
        return ""

    def as_json(self) -> dict[str, Any]:
        """The file in a JSON body: name, type and digest, and its text (a PDF's text layer), or for
        an image its ``url`` when the case named one, else its bytes in ``base64``."""
        out: dict[str, Any] = {"name": self.name, "media_type": self.media_type, "sha256": self.sha256}
        if self.kind != "image":
            out["text"] = self.text
        elif self.url is not None:
            out["url"] = self.url
        else:
            out["base64"] = base64.b64encode(self.data).decode()
        return out

    @property
    def data_url(self) -> str:
        if self.url is not None:
            return self.url
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"

    @cached_property
    def page_images(self) -> str:
        """A PDF's pages as images, for vision models: ``{{ invoice.page_images }}`` in a template
        places one image part per page (rendered at 100 dpi by pypdfium2, the ``files`` extra)."""
        return "".join(str(page) for page in self.rendered_pages)

    @cached_property
    def rendered_pages(self) -> list[FileInput]:
        if self.kind != "pdf":
            return [self] if self.kind == "image" else []
        return render_pdf_pages(self.data, self.name)

    def __str__(self) -> str:
        return f"[[evalkit-image:{self.sha256}]]" if self.kind == "image" else self.text


def render_pdf_pages(data: bytes, name: str, dpi: int = 100) -> list[FileInput]:
    """Each page of a PDF as a PNG :class:`FileInput`."""
    import io

    try:
        import pypdfium2
    except ImportError:
        raise ConfigError("PDF page images need pypdfium2: pip install 'evalkit[files]'") from None
    pages = []
    document = pypdfium2.PdfDocument(data)
    try:
        for number in range(len(document)):
            buffer = io.BytesIO()
            document[number].render(scale=dpi / 72).to_pil().save(buffer, format="PNG")
            png = buffer.getvalue()
            sha = hashlib.sha256(png).hexdigest()
            pages.append(FileInput(f"{name}#page{number + 1}", "image", "image/png", sha, data=png))
    finally:
        document.close()
    return pages


def pdf_text(data: bytes) -> str:
    """The text layer of a PDF, page by page (pages separated by a form feed)."""
    import io
    import logging

    from pypdf import PdfReader

    # pypdf logs what it repairs ("EOF marker not found") straight to stderr, between evalkit's own
    # one-line errors; a file it cannot read raises, and that is what evalkit reports
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(data))
    return "\f".join((page.extract_text() or "").strip() for page in reader.pages)


def blank_text_layers(variables: dict[str, Any]) -> list[tuple[str, FileInput]]:
    """The PDFs among ``variables`` whose text was read since they were loaded (a template or a
    request body placed it) and is blank: a scan's empty text layer, placed as the document.

    Asked right after rendering: a file's text is cached on first use, so what was read is what
    the cache holds (a cache key reads it too: ask before computing one).
    """
    return [
        (name, value)
        for name, value in variables.items()
        if isinstance(value, FileInput)
        and value.kind == "pdf"
        and "text" in value.__dict__
        and not value.text.strip()
    ]


def textless_pdf_problem(variables: dict[str, Any]) -> str | None:
    """Why a rendered prompt must not be sent: it placed a PDF's text (``{{ doc }}``,
    ``{{ doc.text }}``) and the PDF has none (a scan), while its page images were not placed either;
    None when every file placed gives the model something to read.

    evalkit does not OCR (OCR is part of what a document pipeline is evaluated on: a ``python:``
    target does its own), so such a case is its error, not a call whose answer comes from nothing.
    """
    for name, value in blank_text_layers(variables):
        if "rendered_pages" not in value.__dict__:  # its pages were not placed as images either
            return (
                f"{Path(value.name).name} has no text layer (a scanned document?): input {name!r} "
                "would reach the model empty, so it was not sent; evalkit does not OCR: place "
                f"{{{{ {name}.page_images }}}} for a vision model, or give the case its text"
            )
    return None


def load_file_input(ref: dict[str, Any], root: Path) -> FileInput:
    """Read the file ``ref`` names (relative to ``root``); ValueError with a one-line reason if unusable."""
    target = str(ref[FILE_KEY])
    kind, media = _kind(ref)
    if _is_url(target):
        if os.environ.get("EVALKIT_ALLOW_URL_FILES") != "1":
            raise ValueError(
                f"{target!r} is a URL; evalkit does not fetch files (EVALKIT_ALLOW_URL_FILES=1 passes image URLs on)"
            )
        if kind != "image":
            raise ValueError(
                f"{target!r}: only image URLs are passed on; download {kind} files into the suite"
            )
        return FileInput(target, kind, media, hashlib.sha256(target.encode()).hexdigest(), url=target)
    path = root / target
    shown = os.path.normpath(path)  # the case names it relative to its own file: show where that is
    try:
        size, limit = path.stat().st_size, max_file_bytes()
        if size > limit:  # in bytes: "0.3 MB is over the 0 MB limit" (0.2, rounded) said nothing
            raise ValueError(
                f"{shown}: {size:,} bytes, over the {round(limit / 2**20, 3):g} MB limit ({limit:,} bytes) "
                "that EVALKIT_MAX_FILE_MB sets"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"file not found: {shown}") from None
    except IsADirectoryError:
        raise ValueError(f"{shown} is a directory") from None
    except PermissionError:
        raise ValueError(f"cannot read {shown}: permission denied") from None
    return FileInput(target, kind, media, hashlib.sha256(data).hexdigest(), path=path, data=data)


def _lexical(path: Path) -> Path:
    """``path`` absolute with its ``..`` steps applied as written, symlinks left as they are (a
    symlink committed in the repository is the repository's own: git-annex and DVC keep files so)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def check_file_inputs(variables: dict[str, Any], root: Path, case_dir: Path | None = None) -> None:
    """Read every file a case refers to, parsing PDFs, so a bad file stops the run before any call.

    A file's path must lead (written as it is: ``..`` and absolute paths count, symlinks kept in the
    repository are its own) under ``root`` (the suite's directory) or ``case_dir`` (the
    directory of the case file naming it), or under a directory the environment lists in
    ``EVALKIT_FILE_ROOTS`` (``os.pathsep``-separated: the person running evalkit, not a case file,
    widens it, say to a shared ``data/`` folder): a case file is not to send ``../../etc/passwd``
    or ``~/.ssh/id_rsa`` to a model, nor store it in the results and their reports.
    """
    inside = [_lexical(root)] + ([_lexical(case_dir)] if case_dir is not None else [])
    inside += [_lexical(Path(p)) for p in os.environ.get("EVALKIT_FILE_ROOTS", "").split(os.pathsep) if p]
    for name, value in variables.items():
        if not is_file_ref(value):
            continue
        if not _is_url(value[FILE_KEY]):
            where = _lexical(root / str(value[FILE_KEY]))
            if not any(where.is_relative_to(directory) for directory in inside):
                raise ConfigError(
                    f"input {name!r}: {where} is outside the suite's directory and the case file's: "
                    "input files must be under one of them (or a directory listed in EVALKIT_FILE_ROOTS)"
                )
        try:
            loaded = load_file_input(value, root)
            if loaded.kind == "pdf":
                loaded.text  # noqa: B018 - an unreadable PDF fails here, not mid-run
        except ValueError as exc:
            raise ConfigError(f"input {name!r}: {exc}") from None
        except ConfigError:  # EVALKIT_MAX_FILE_MB is not a number: not the file's fault
            raise
        except Exception as exc:  # pypdf's errors for broken files are many types
            raise ConfigError(
                f"input {name!r}: unreadable {value[FILE_KEY]}: {type(exc).__name__}: {exc}"
            ) from None


def resolve_file_inputs(variables: dict[str, Any], root: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The variables with files read (:class:`FileInput`), and ``{variable: sha256}`` for the cache key."""
    resolved = dict(variables)
    hashes = {}
    for name, value in variables.items():
        if is_file_ref(value):
            loaded = load_file_input(value, root)
            resolved[name] = loaded
            hashes[name] = loaded.sha256
    return resolved, hashes


def with_content_parts(messages: list[dict[str, Any]], files: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages whose text holds image markers, split into text and ``image_url`` content parts."""
    images: dict[str, FileInput] = {}
    for value in files.values():
        if isinstance(value, FileInput) and (value.kind == "image" or "rendered_pages" in value.__dict__):
            images.update((page.sha256, page) for page in value.rendered_pages)  # pages only if placed
    if not images:
        return messages
    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str) or not _IMAGE_MARK.search(content):
            out.append(message)
            continue
        parts: list[dict[str, Any]] = []
        position = 0
        for mark in _IMAGE_MARK.finditer(content):
            text = content[position : mark.start()]
            if text.strip():
                parts.append({"type": "text", "text": text})
            image = images.get(mark.group(1))
            if image is not None:
                parts.append({"type": "image_url", "image_url": {"url": image.data_url}})
            position = mark.end()
        if content[position:].strip():
            parts.append({"type": "text", "text": content[position:]})
        out.append({**message, "content": parts})
    return out
