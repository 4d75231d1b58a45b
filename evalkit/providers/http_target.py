"""``http:service.yaml`` targets: evaluate the deployed service, not a prompt.

The model string names a YAML file (relative to the suite) that says how to call the service::

    url: http://localhost:8000/v1/clean          # a jinja2 template of the case's input variables
    method: POST                                  # or GET
    headers:
      Authorization: "Bearer ${CLEANER_TOKEN}"    # ${VAR} is read from the environment
    body: |                                       # jinja2 template rendering the JSON body (POST)
      {"title": {{ title | tojson }}, "description": {{ description | tojson }}}
    query: {lang: "{{ lang }}"}                   # query-string parameters, templated (GET or POST)
    output: $.result.listing                      # JSON path of the output in the response

Without ``body`` a POST sends the case's input variables as the JSON object (a ``$file`` input as
``{"name", "media_type", "sha256", "text"}``, an image with its ``"url"`` or ``"base64"`` instead). A
request that would carry a PDF's text when it has none (a scan) is not sent, unless it carries the
file's bytes too (``{{ doc.data_url }}`` in ``body``): the case is its error
(:meth:`HttpRequestTemplate.unsent_problem`). The output is the
value at ``output`` (text as is, anything else as JSON). Calls go through the same path as model
calls (:class:`~evalkit.providers.calls.ModelCaller`): response cache (keyed on the case's
variables and this file's content), concurrency limit, retries of 408/429/5xx, timeouts and
connection errors; latency is recorded. A response without the JSON path is the case's error, with
the reason, and is not retried.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalkit.errors import ConfigError, ProviderError
from evalkit.providers.base import Completion, CompletionRequest, Provider, provider, target_hashers
from evalkit.providers.file_inputs import FileInput, blank_text_layers
from evalkit.providers.lean_client import sent_trace
from evalkit.providers.openai_compat import _TRANSIENT_STATUS
from evalkit.suite.yamlfile import LocatedYaml, load_yaml

if TYPE_CHECKING:
    import aiohttp

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # RFC 9110: no control character but tab
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
# the whole of a path json_path reads: `$`, a first name or neither, then `.name` and `[index]` steps
_JSON_PATH = re.compile(r"(?:\$|[^.\[\]$][^.\[\]]*|(?=[.\[]))(?:\.[^.\[\]]+|\[\d+\])*")


class HttpTargetSpec(BaseModel):
    """The file an ``http:`` model string names."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="URL, a jinja2 template of the case's input variables.")
    method: Literal["POST", "GET"] = "POST"
    headers: dict[str, str] = Field(
        default_factory=dict, description="Request headers; `${VAR}` is replaced by the environment variable."
    )
    body: str | None = Field(
        default=None,
        description="jinja2 template rendering the JSON body (default for POST: the input variables as JSON).",
    )
    query: dict[str, str] = Field(default_factory=dict, description="Query parameters, jinja2 templates.")
    output: str = Field(
        default="$", description="JSON path of the output in the response: `$.result.items[0].text`."
    )

    @field_validator("output")
    @classmethod
    def _json_path(cls, path: str) -> str:
        # json_path skips what it cannot read, so a malformed path would pick the wrong value or
        # fail every case at run time
        if not _JSON_PATH.fullmatch(path):
            raise ValueError(
                f"{path!r} is not a JSON path evalkit reads: `$`, then `.name` and `[0]` steps "
                "(no wildcards, quotes or slices), as in `$.result.items[0].text`"
            )
        return path


def json_path(data: Any, path: str) -> Any:
    """The value at a dotted JSON path (``$.a.b[0].c``, ``a.b.0.c``); KeyError says where it stops."""
    current = data
    walked = "$"
    for name, index in _PATH_PART.findall(path.removeprefix("$")):
        step: str | int = int(index) if index else (int(name) if name.isdigit() else name)
        if isinstance(step, int) and isinstance(current, list):
            if step >= len(current):
                raise KeyError(f"{walked} has {len(current)} items, no [{step}]")
            current = current[step]
            walked += f"[{step}]"
        elif isinstance(current, dict) and str(step) in current:
            current = current[str(step)]
            walked += f".{step}"
        else:
            kind = type(current).__name__ if not isinstance(current, dict) else "object"
            raise KeyError(f"{walked} ({kind}) has no {str(step)!r}")
    return current


def _config_path(model: str, base_dir: Path | None) -> Path:
    return (base_dir or Path.cwd()) / model.removeprefix("http:")


def load_http_spec(model: str, base_dir: Path | None = None) -> HttpTargetSpec:
    """Read and validate the file an ``http:`` model string names (one-line ConfigError otherwise)."""
    return _load_located(model, base_dir)[0]


def _load_located(model: str, base_dir: Path | None) -> tuple[HttpTargetSpec, LocatedYaml]:
    """The file's spec and the line of each of its values, for errors found after loading."""
    path = _config_path(model, base_dir)
    if not path.is_file():
        raise ConfigError(f"target {model!r}: file not found", path=path)
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise ConfigError("an http target file must be a YAML mapping", path=path, line=1)
    try:
        spec = HttpTargetSpec.model_validate(located.data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = (
            "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        )
        raise ConfigError(f"{loc}: {msg}", path=path, line=located.line_of(tuple(err["loc"]))) from None
    _templates(spec, located)  # a syntax error is the file's, found when it loads
    return spec, located


def _templates(spec: HttpTargetSpec, located: LocatedYaml) -> dict[tuple[str, ...], jinja2.Template]:
    """The url, query and body templates, in the order they render, keyed by their place in the
    file; a syntax error names its line."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
    # `{{ doc | tojson }}` writes a file as the default body does, not a TypeError
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _file_json}
    sources: dict[tuple[str, ...], str] = {("url",): spec.url}
    sources.update((("query", k), v) for k, v in spec.query.items())
    if spec.body is not None:
        sources[("body",)] = spec.body
    templates = {}
    for where, source in sources.items():
        try:
            templates[where] = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"{'.'.join(where)}: template syntax error: {exc.message}",
                path=located.path,
                line=located.line_of(where),
            ) from None
    return templates


def http_spec_problem(model: str, base_dir: Path | None = None) -> ConfigError | None:
    """What :func:`load_http_spec` would refuse in the file an ``http:`` model string names; None
    when nothing, when ``model`` is not an ``http:`` target, or when the file is absent (a service
    config kept out of the repository: reported when a run uses it)."""
    if not model.startswith("http:") or not _config_path(model, base_dir).is_file():
        return None
    try:
        load_http_spec(model, base_dir)
    except ConfigError as exc:
        return exc
    return None


def _headers(spec: HttpTargetSpec, located: LocatedYaml) -> dict[str, str]:
    headers = {}
    for name, text in spec.headers.items():
        variables = _ENV_VAR.findall(text)
        line = located.line_of(("headers", name))
        for variable in variables:
            if variable not in os.environ:
                raise ConfigError(
                    f"headers.{name}: needs environment variable {variable}, which is not set",
                    path=located.path,
                    line=line,
                )
        value = _ENV_VAR.sub(lambda match: os.environ[match.group(1)], text)
        if _HEADER_CONTROL.search(name + value):  # the request would fail, every case of it
            tainted = [v for v in variables if _HEADER_CONTROL.search(os.environ[v])]
            origin = f" (from environment variable {tainted[0]})" if tainted else ""
            raise ConfigError(
                f"headers.{name}: holds a control character such as a line break{origin}, "
                "which an HTTP header cannot carry",
                path=located.path,
                line=line,
            )
        headers[name] = value
    if spec.method == "POST":
        headers.setdefault("Content-Type", "application/json")
    return headers


class RequestTemplateError(ProviderError):
    """A request template failed on a case's values; ``where`` is its place in the file (None for
    the default body)."""

    def __init__(self, message: str, where: tuple[str, ...] | None) -> None:
        super().__init__(message, transient=False)
        self.where = where


class HttpRequestTemplate:
    """The request an ``http:`` target file describes, rendered from a case's input variables."""

    def __init__(self, spec: HttpTargetSpec, located: LocatedYaml) -> None:
        self.spec = spec
        self.path = located.path
        self.located = located
        self._templates = _templates(spec, located)

    @classmethod
    def load(cls, model: str, base_dir: Path | None = None) -> HttpRequestTemplate:
        """The request template of the file an ``http:`` model string names."""
        return cls(*_load_located(model, base_dir))

    def render(self, variables: dict[str, Any]) -> tuple[str, dict[str, str], bytes | None]:
        """URL, query parameters and body (None for GET); :class:`RequestTemplateError` for a
        variable the case lacks or a template that fails on the case's values."""
        rendered = {
            where: _render(where, template, variables)
            for where, template in self._templates.items()
            if where != ("body",) or self.spec.method == "POST"
        }
        if self.spec.method == "GET":
            body = None
        elif ("body",) in rendered:
            body = rendered[("body",)].encode()
        else:
            try:
                body = json.dumps(variables, ensure_ascii=False, default=_file_json).encode()
            except Exception as exc:  # a value the default body cannot write
                raise RequestTemplateError(
                    f"request body failed: {type(exc).__name__}: {exc}", None
                ) from None
        query = {where[1]: value for where, value in rendered.items() if where[0] == "query"}
        return rendered[("url",)], query, body

    def unsent_problem(self, variables: dict[str, Any]) -> str | None:
        """Why a case's request must not be sent: it carries a PDF's text (the default body's
        ``"text"``, ``{{ doc }}``, ``{{ doc.text }}``), the PDF has none (a scan), and it does not
        carry the file's bytes (``{{ doc.data_url }}``) that a service could read the scan from;
        None otherwise. Ask it of freshly loaded files, before anything else reads their text.
        """
        try:
            url, query, body = self.render(variables)
        except ProviderError:
            return None  # sending it reports that, as the case's error
        sent = [url.encode(), *(v.encode() for v in query.values()), body or b""]
        for name, value in blank_text_layers(variables):
            encoded = base64.b64encode(value.data)
            if not any(encoded in part for part in sent):
                return (
                    f"{Path(value.name).name} has no text layer (a scanned document?): input {name!r} "
                    "would reach the service as empty text, so it was not sent; evalkit does not OCR: "
                    f"send the file itself ({{{{ {name}.data_url }}}} in {self.path.name}'s body) to a "
                    "service that reads scans, or give the case its text"
                )
        return None


class HttpTarget:
    """Sends each case to the service and reads the output from its JSON answer."""

    reports_sent = True  # its session's trace calls request_sent() once the request is written

    def __init__(self, model: str, base_dir: Path | None = None) -> None:
        self.model = model
        self.path = _config_path(model, base_dir)
        self.spec, located = _load_located(model, base_dir)
        self.headers = _headers(self.spec, located)  # read once: a missing variable fails before any call
        self.template = HttpRequestTemplate(self.spec, located)
        self._session: aiohttp.ClientSession | None = None

    def enforces_timeout(self, request: CompletionRequest) -> bool:
        return request.timeout is not None  # aiohttp's total timeout bounds the whole request

    def check_request(self, request: CompletionRequest) -> None:
        """Render the request for a case without sending it: a template naming a variable the
        cases lack fails here, before any call, not as every case's error."""
        try:
            self.template.render(request.variables or {})
        except RequestTemplateError as exc:
            line = self.template.located.line_of(exc.where) if exc.where is not None else None
            raise ConfigError(exc.message, path=self.path, line=line) from None

    @cached_property
    def _aiohttp(self) -> Any:
        import aiohttp  # not at import time: `evalkit --help` stays light

        return aiohttp

    async def complete(self, request: CompletionRequest) -> Completion:
        aiohttp = self._aiohttp
        url, query, body = self.template.render(request.variables or {})
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0)
            self._session = aiohttp.ClientSession(connector=connector, trace_configs=[sent_trace()])
        timeout = aiohttp.ClientTimeout(total=request.timeout) if request.timeout else None
        start = time.perf_counter()
        try:
            async with self._session.request(
                self.spec.method, url, params=query or None, data=body, headers=self.headers, timeout=timeout
            ) as response:
                status, raw = response.status, await response.read()
                retry_after = response.headers.get("Retry-After")
        except (TimeoutError, asyncio.TimeoutError):  # the same class on 3.11+, not on 3.10
            raise ProviderError(
                f"timeout after {request.timeout:g}s", transient=True, timed_out=True
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(f"connection error: {type(exc).__name__}: {exc}", transient=True) from None
        latency_ms = (time.perf_counter() - start) * 1000.0
        if status >= 400:
            wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            text = raw[:200].decode("utf-8", "replace")
            raise ProviderError(
                f"HTTP {status}: {text}",
                transient=status in _TRANSIENT_STATUS,
                status=status,
                retry_after=wait,
            )
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProviderError(f"response is not JSON: {raw[:120]!r}", transient=False) from None
        try:
            value = json_path(data, self.spec.output)
        except KeyError as exc:
            raise ProviderError(f"output path {self.spec.output}: {exc.args[0]}", transient=False) from None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return Completion(text=text, latency_ms=latency_ms, model=self.model)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@provider("http")
def _http_factory(model: str, base_dir: Path | None = None) -> Provider:
    return HttpTarget(model, base_dir)


def _http_hash(model: str, base_dir: Path | None = None) -> str:
    path = _config_path(model, base_dir)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"  # the provider reports the missing file when it is created


target_hashers.register("http", _http_hash)


def _render(where: tuple[str, ...], template: jinja2.Template, variables: dict[str, Any]) -> str:
    """One of the file's templates rendered; its failure is a :class:`RequestTemplateError` naming it."""
    dotted = ".".join(where)
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise RequestTemplateError(f"{dotted}: request template: {exc.message}", where) from None
    except Exception as exc:  # {{ n + 1 }} on text, a filter given the wrong type: the file's error
        raise RequestTemplateError(
            f"{dotted}: request template failed: {type(exc).__name__}: {exc}", where
        ) from None


def _file_json(value: Any) -> Any:
    """A ``$file`` input in the default JSON body (:meth:`FileInput.as_json`)."""
    if isinstance(value, jinja2.Undefined):  # `{{ nosuch | tojson }}`: StrictUndefined's str() names it
        str(value)
    if not isinstance(value, FileInput):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return value.as_json()
