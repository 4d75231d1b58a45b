"""Loading a suite: the suite file, its prompts, output schema, scorers and case files, checked with
file:line errors, into a :class:`Suite` ready to run."""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evalkit.cases import Case, CaseSource
from evalkit.errors import ConfigError, UsageError
from evalkit.providers.base import needs_prompt
from evalkit.providers.file_inputs import check_file_inputs, has_file_refs, rebase_file_refs
from evalkit.providers.tool_calls import ToolError, load_tools
from evalkit.scorers.base import ScoreFn, ScorerArgumentError, build_scorer, needs_expected
from evalkit.suite.case_columns import ColumnMapping
from evalkit.suite.output_schema import load_output_schema
from evalkit.suite.prompts import PromptVersion, load_prompt
from evalkit.suite.secrets import literal_secrets, refusal
from evalkit.suite.sources import iter_cases_from
from evalkit.suite.spec import SUITE_FILENAMES, ScorerSpec, SuiteFile
from evalkit.suite.yamlfile import LocatedYaml, load_yaml


@dataclass(frozen=True)
class ConfiguredScorer:
    """A scorer of a loaded suite: its spec plus the ready-to-call scoring function."""

    spec: ScorerSpec
    fn: ScoreFn

    @property
    def label(self) -> str:
        return self.spec.label


@dataclass
class Suite:
    """A loaded, validated suite, ready to run."""

    path: Path
    config: SuiteFile
    prompts: dict[str, PromptVersion]
    output_schema: dict[str, Any] | None
    scorers: list[ConfiguredScorer]
    case_files: list[Path]
    source_hash: str
    _locations: LocatedYaml | None = field(default=None, repr=False)
    case_columns: dict[Path, ColumnMapping] = field(default_factory=dict)  # CSV/Parquet files' mappings
    tools: list[dict[str, Any]] | None = None  # functions the target may call
    _case_scorers: dict[str, ConfiguredScorer] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def line_of(self, loc: tuple[str | int, ...]) -> int | None:
        """The suite file's line of the value at ``loc`` (e.g. ``("target", "model")``), if known."""
        return self._locations.line_of(loc) if self._locations is not None else None

    def prompt(self, name: str | None = None) -> PromptVersion:
        """The prompt version ``name`` (default: the suite's default version)."""
        chosen = name or self.config.target.prompt or next(reversed(self.prompts))
        if chosen not in self.prompts:
            known = ", ".join(self.prompts) or "none"
            raise UsageError(
                f"suite {self.name!r} has no prompt version {chosen!r} (versions: {known})",
                path=self.path,
                line=self.line_of(("target", "prompts")),
            )
        return self.prompts[chosen]

    def case_scorers(self, case: Case) -> list[ConfiguredScorer]:
        """The checks ``case`` carries itself, built once per distinct spec (ScorerArgumentError if bad)."""
        built = []
        for spec in case.scorers:
            key = spec.model_dump_json()
            if key not in self._case_scorers:
                fn = build_scorer(spec.name, spec.args, base_dir=self.base_dir)
                self._case_scorers[key] = ConfiguredScorer(spec=spec, fn=fn)
            built.append(self._case_scorers[key])
        return built

    def iter_cases(self) -> Iterator[Case]:
        """Stream every case of every case file, in file order (memory does not grow with suite size)."""
        for _, _, case in self.iter_located_cases():
            yield case

    def iter_located_cases(self) -> Iterator[tuple[Path, int, Case]]:
        """Like :meth:`iter_cases`, with the file and line each case comes from."""
        for path in self.case_files:
            for line, case in iter_cases_from(path, self.case_columns.get(path)):
                if has_file_refs(case.input):  # file paths are relative to the case file
                    case = case.model_copy(
                        update={"input": rebase_file_refs(case.input, path.parent, self.base_dir)}
                    )
                yield path, line, case

    def check_cases(
        self,
        prompt: PromptVersion | None,
        accept: Callable[[Case], bool] | None = None,
        *,
        expected: bool = True,
        each: Callable[[Case], None] | None = None,
    ) -> int:
        """Validate every case before anything is spent: JSON, fields, unique ids, template variables,
        and (unless ``expected`` is False: lint counts those cases itself) an expected output wherever
        a scorer compares with one (:meth:`needing_expected`, :func:`awaits_expected`).

        Returns the number of cases (that ``accept`` accepts, when given). Reads the files once,
        keeping only the ids in memory. ``each`` sees every accepted case too (a run gathers the
        models its own scorers call without a price, and ``--budget`` refuses them); the UsageError
        it raises is refused at the case's file and line.
        """
        accepted = 0
        seen: dict[str, tuple[Path, int]] = {}
        needed = prompt.variables if prompt is not None else frozenset()
        for path, line, case in self.iter_located_cases():
            if case.id in seen:
                first_path, first_line = seen[case.id]
                raise ConfigError(
                    f"duplicate case id {case.id!r} (first at {first_path}:{first_line})",
                    path=path,
                    line=line,
                )
            seen[case.id] = (path, line)
            if needed and prompt is not None and not needed <= case.input.keys():
                missing = sorted(needed - case.input.keys())
                raise ConfigError(
                    f"case {case.id!r} lacks input variable {missing[0]!r} used by prompt {prompt.name!r}",
                    path=path,
                    line=line,
                )
            if case.scorers:
                self._check_case_scorers(case, path, line)
            needing = self.needing_expected(case) if expected and not awaits_expected(case) else []
            if needing:
                raise ConfigError(
                    f"case {case.id!r} has no `expected`, but scorer {needing[0].label!r} ({needing[0].name}) "
                    "compares the output with it: add the case's expected output",
                    path=path,
                    line=line,
                )
            if len(seen) == 1 and prompt is not None and not has_file_refs(case.input):
                prompt.render(
                    case.input, output_schema=self.output_schema
                )  # a template that fails on any case
            if has_file_refs(case.input):
                try:
                    check_file_inputs(case.input, self.base_dir, path.parent)
                except ConfigError as exc:
                    raise ConfigError(f"case {case.id!r}: {exc.message}", path=path, line=line) from None
            if accept is None or accept(case):
                accepted += 1
                if each is not None:
                    try:
                        each(case)
                    except UsageError as exc:
                        raise UsageError(f"case {case.id!r}: {exc.message}", path=path, line=line) from None
        if not seen:
            if len(self.case_files) == 1:  # name the file to fill, not the suite that lists it
                raise ConfigError(
                    "holds no case, and it is the suite's only case file", path=self.case_files[0]
                )
            files = ", ".join(p.name for p in self.case_files[:3]) + (
                ", ..." if len(self.case_files) > 3 else ""
            )
            raise ConfigError(f"suite has no cases: its case files ({files}) hold none", path=self.path)
        return accepted

    def needing_expected(self, case: Case) -> list[ScorerSpec]:
        """The scorers (the suite's and the case's own) that would compare ``case``'s output with an
        expected output it does not have: none when it has one.

        Not those ``verified_only`` skips the case for, nor those whose arguments need no expected
        output (``contains`` with ``value``, ``tool_call`` with ``name``).
        """
        if case.expected is not None:
            return []
        return [
            spec
            for spec in [*(c.spec for c in self.scorers), *case.scorers]
            if not (spec.verified_only and not case.verified) and needs_expected(spec.name, spec.args)
        ]

    def _check_case_scorers(self, case: Case, path: Path, line: int) -> None:
        labels = {s.label for s in self.scorers}
        for i, spec in enumerate(case.scorers):
            if spec.label in labels:
                raise ConfigError(
                    f"scorers.{i}: scorer id {spec.label!r} is already used by the suite or this case; give it an `id`",
                    path=path,
                    line=line,
                )
            labels.add(spec.label)
        try:
            self.case_scorers(case)
        except ScorerArgumentError as exc:
            raise ConfigError(f"scorers: {exc}", path=path, line=line) from None


def awaits_expected(case: Case) -> bool:
    """A mined or generated case whose expected output a person has yet to write or check.

    Without one, it is no authoring error: its scorers report that they could not score it
    (docs/weekly.md), and ``verified_only`` skips it.
    """
    return case.source is not CaseSource.GOLDEN and not case.verified


def resolve_suite_path(path: Path) -> Path:
    """Accept a suite file or a directory holding ``suite.yaml``."""
    if path.is_dir():
        for name in SUITE_FILENAMES:
            if (path / name).is_file():
                return path / name
        raise ConfigError("directory has no suite.yaml", path=path)
    if not path.exists():
        raise ConfigError("suite file not found", path=path)
    return path


def load_suite(path: Path | str) -> Suite:
    """Load and validate a suite file, its prompts, output schema, scorers and case file list."""
    suite_path = resolve_suite_path(Path(path))
    located = load_yaml(suite_path)
    if not isinstance(located.data, dict):
        raise ConfigError("a suite file must be a YAML mapping", path=suite_path, line=1)
    for loc in literal_secrets(located.data):
        raise ConfigError(refusal(loc), path=suite_path, line=located.line_of(loc))
    try:
        config = SuiteFile.model_validate(located.data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{dotted}: {msg}", path=suite_path, line=located.line_of(loc)) from None

    base = suite_path.parent

    def fail(message: str, loc: tuple[str | int, ...]) -> ConfigError:
        return ConfigError(message, path=suite_path, line=located.line_of(loc))

    target = config.target
    if not target.prompts and needs_prompt(target.model):
        raise fail("target.prompts: a model target needs at least one prompt version", ("target",))
    prompts = {}
    for name, rel in target.prompts.items():
        try:
            prompts[name] = load_prompt(name, base / rel)
        except ConfigError:
            if not (base / rel).exists():  # the file itself is missing: point at the suite line naming it
                raise fail(
                    f"target.prompts.{name}: template not found: {rel}", ("target", "prompts", name)
                ) from None
            raise
    if target.prompt is not None and target.prompt not in prompts:
        raise fail(f"target.prompt: no prompt version {target.prompt!r}", ("target", "prompt"))

    output_schema = None
    if target.output_schema:
        try:
            output_schema = load_output_schema(target.output_schema, base)
        except ValueError as exc:
            raise fail(f"target.output_schema: {exc}", ("target", "output_schema")) from None

    tools = None
    if target.tools is not None:
        try:
            tools = load_tools(target.tools, base)
        except ToolError as exc:  # an inline list: the suite's line of the offending tool
            tool = () if exc.index is None else (exc.index,)
            raise fail(str(exc), ("target", "tools", *tool)) from None

    labels: set[str] = set()
    scorers = []
    for i, spec in enumerate(config.scorers):
        if spec.label in labels:
            raise fail(f"scorers.{i}: duplicate scorer id {spec.label!r}; give one an `id`", ("scorers", i))
        labels.add(spec.label)
        try:
            fn = build_scorer(spec.name, spec.args, base_dir=base)
        except ScorerArgumentError as exc:
            where: tuple[str | int, ...] = ("scorers", i, "args") if spec.args else ("scorers", i, "name")
            raise fail(f"scorers.{i}: {exc}", where) from None
        scorers.append(ConfiguredScorer(spec=spec, fn=fn))

    case_files: list[Path] = []
    case_columns: dict[Path, ColumnMapping] = {}
    for i, entry in enumerate(config.cases):
        pattern = entry if isinstance(entry, str) else entry.path
        matches = sorted(Path(p) for p in glob.glob(str(base / pattern), recursive=True))
        if not matches:
            if (base / pattern) in _growth_case_files(config, base):
                continue  # written by `evalkit generate`/`mine`; absent until the first case is added
            raise fail(f"cases.{i}: no case file matches {pattern!r}", ("cases", i))
        case_files.extend(m for m in matches if m not in case_files)
        if not isinstance(entry, str):
            case_columns.update((m, entry.columns) for m in matches)

    return Suite(
        path=suite_path,
        config=config,
        prompts=prompts,
        output_schema=output_schema,
        scorers=scorers,
        case_files=case_files,
        source_hash=_suite_hash(suite_path, prompts, output_schema),
        _locations=located,
        case_columns=case_columns,
        tools=tools,
    )


def _growth_case_files(config: SuiteFile, base: Path) -> set[Path]:
    files = {base / config.generate.cases_file}
    if config.mining is not None:
        files.add(base / config.mining.cases_file)
    return files


def _suite_hash(path: Path, prompts: dict[str, PromptVersion], schema: dict[str, Any] | None) -> str:
    digest = hashlib.sha256(path.read_bytes())
    for name, prompt in sorted(prompts.items()):
        digest.update(f"{name}:{prompt.hash}".encode())
    digest.update(json.dumps(schema, sort_keys=True).encode())
    return digest.hexdigest()[:12]
