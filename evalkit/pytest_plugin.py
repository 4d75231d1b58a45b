"""The pytest plugin: ``pytest --evalkit suites/listings`` runs a suite as tests, one per case.

Registered through the ``pytest11`` entry point, so it loads in every pytest run of an environment
with evalkit installed. It therefore imports nothing heavy here and does nothing without
``--evalkit``.

With ``--evalkit``, every ``suite.yaml`` (or ``.yml``) found under the given paths, and any suite
file named on the command line, is collected: one item per case, named by its id, with its tags as
keywords (``-k``). When the first item of a suite runs, evalkit's runner starts on exactly the
selected items (``-k``, ``--lf``, deselection) in a background thread, with its own concurrency,
retries and response cache, storing a run in DuckDB as ``evalkit run`` would; each item waits for
its own result. A failing case fails with its scorer reasons; a provider error is an ERROR, not a
failure; cases quarantined by the suite's gate are expected failures. When pytest stops early
(``-x``, Ctrl-C) the run is cancelled and stays stored as ``incomplete``.

With ``--evalkit-baseline NAME`` each suite's run is gated on that baseline as ``evalkit run
--baseline NAME`` is (:mod:`evalkit.gate.cells`): failing cases are still reported, but the session
passes or fails with the baseline verdict (other tests failing still fail it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from evalkit.errors import ExitCode
from evalkit.testing.suite_run import SuiteRun

if TYPE_CHECKING:
    from evalkit.cases import Case
    from evalkit.results import CaseResult
    from evalkit.suite.loading import Suite

SUITE_FILENAMES = ("suite.yaml", "suite.yml")  # as evalkit.suite.spec.SUITE_FILENAMES, without importing it


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalkit", "evalkit suites as tests")
    group.addoption(
        "--evalkit",
        action="store_true",
        default=False,
        help="collect evalkit suites (suite.yaml) under the given paths as tests, one per case",
    )
    group.addoption(
        "--evalkit-db",
        default=None,
        help="results database (default: $EVALKIT_DB or .evalkit/evalkit.duckdb)",
    )
    group.addoption("--evalkit-model", default=None, help="model to run instead of each suite's")
    group.addoption("--evalkit-prompt", default=None, help="prompt version to run (default: each suite's)")
    group.addoption(
        "--evalkit-concurrency",
        type=int,
        default=None,
        help="fixed number of model calls in flight (default: adaptive)",
    )
    group.addoption(
        "--evalkit-no-cache", action="store_true", default=False, help="do not reuse cached responses"
    )
    group.addoption(
        "--evalkit-baseline",
        default=None,
        metavar="NAME",
        help="gate each suite's run on this baseline (a name from `evalkit baseline set`, or a run) as "
        "`evalkit run --baseline` does: the session fails only on a significant regression",
    )
    group.addoption(
        "--evalkit-allow-removed-critical",
        action="append",
        default=[],
        metavar="CASE_ID",
        help="with --evalkit-baseline: accept that this critical case of the baseline was deleted from "
        "the suite (repeat per case), as `evalkit run --allow-removed-critical` does",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("evalkit"):
        if hasattr(config, "workerinput"):  # a pytest-xdist worker would run the whole suite again
            raise pytest.UsageError(
                "--evalkit runs cases with evalkit's own concurrency; drop pytest-xdist's -n"
            )
        runs = _Runs(config)
        config.stash[_RUNS] = runs
        config.pluginmanager.register(runs, "evalkit-runs")  # its pytest_collectreport hook


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("evalkit"):
        return None
    named = file_path.suffix in (".yaml", ".yml") and parent.session.isinitpath(file_path)
    if file_path.name in SUITE_FILENAMES or named:
        suite: SuiteCollector = SuiteCollector.from_parent(parent, path=file_path)
        return suite
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    runs = item.config.stash.get(_RUNS, None)
    if runs is not None and report.failed and not isinstance(item, CaseItem):
        runs.other_failed = True
    # setup errors are shown as tracebacks by default; a case's error is a message, not a bug
    if (
        isinstance(item, CaseItem)
        and call.excinfo is not None
        and isinstance(call.excinfo.value, CaseError | RunStopped)
    ):
        report.longrepr = str(call.excinfo.value)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    runs = session.config.stash.get(_RUNS, None)
    if runs is not None:
        runs.finish()
        status = runs.gated_status(session.exitstatus)
        if status is not None:
            session.exitstatus = status


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runs = config.stash.get(_RUNS, None)
    if runs is None or not runs.started:
        return
    terminalreporter.section("evalkit")
    for line in runs.report_lines():
        terminalreporter.write_line(line)


class SuiteCollector(pytest.File):
    """A suite file: loads and validates the suite and its cases, yields one item per case."""

    suite: Suite
    n_cases: int = 0

    def collect(self) -> Any:
        from evalkit.run.evaluate import prepare_target
        from evalkit.suite.loading import load_suite

        options = self.config
        self.suite = load_suite(self.path)
        target = prepare_target(
            self.suite, options.getoption("evalkit_model"), options.getoption("evalkit_prompt")
        )
        # duplicate ids, missing variables: file:line, before any call
        self.n_cases = self.suite.check_cases(target.prompt)
        quarantined = set(self.suite.config.gate.quarantine)
        for path, line, case in self.suite.iter_located_cases():
            item: CaseItem = CaseItem.from_parent(self, name=case.id, case=case, case_path=path, line=line)
            if case.id in quarantined:
                item.add_marker(pytest.mark.xfail(reason="quarantined by the suite's gate", strict=False))
            yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from evalkit.errors import EvalkitError

        if isinstance(excinfo.value, EvalkitError):
            return f"evalkit: error: {excinfo.value.one_line()}"
        return super().repr_failure(excinfo)


class CaseItem(pytest.Item):
    """One case of a suite; its result comes from the suite's run."""

    def __init__(self, *, case: Case, case_path: Path, line: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.case_path = case_path
        self.line = line
        self.result: CaseResult | None = None
        self.extra_keyword_matches.update(case.tags)

    @property
    def suite_collector(self) -> SuiteCollector:
        parent = self.parent
        assert isinstance(parent, SuiteCollector)
        return parent

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.case_path, self.line - 1, f"case {self.case.id}"

    def setup(self) -> None:
        run = self.config.stash[_RUNS].for_suite(self.suite_collector, self.session)
        self.result = run.wait_for(self.case.id)
        if self.result is None:
            raise RunStopped(run.why_stopped())
        if self.result.verdict == "error":
            raise CaseError(self.result, run.run_id)

    def runtest(self) -> None:
        from evalkit.testing.assertions import CaseFailure

        assert self.result is not None
        if self.result.verdict != "pass":
            raise CaseFailure(
                self.result,
                run_id=self._run_id(),
                limit=None if self.config.getoption("verbose") > 1 else 500,
            )

    def _run_id(self) -> str | None:
        return self.config.stash[_RUNS].for_suite(self.suite_collector, self.session).run_id

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from evalkit.errors import EvalkitError
        from evalkit.testing.assertions import CaseFailure

        if isinstance(excinfo.value, CaseFailure | CaseError | RunStopped):
            return str(excinfo.value)
        if isinstance(excinfo.value, EvalkitError):
            return f"evalkit: error: {excinfo.value.one_line()}"
        return super().repr_failure(excinfo)


class CaseError(Exception):
    """The case ended in a provider/infrastructure error: reported as a pytest ERROR, not a failure."""

    def __init__(self, result: CaseResult, run_id: str | None) -> None:
        from evalkit.analysis.failures import explain_result
        from evalkit.testing.assertions import failure_text

        super().__init__(failure_text(explain_result(result), run_id=run_id))


class RunStopped(Exception):
    """The suite's run ended before this case had a result."""


class _Runs:
    """The runs of one pytest session, one per suite file, started lazily by their first item."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.runs: dict[Path, SuiteRun] = {}
        self.failed: dict[Path, str] = {}  # suites whose run could not start, and why
        self.other_failed = False  # a test other than an evalkit case failed
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return bool(self.runs)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module or suite that failed to collect never ran: no verdict can pass the session."""
        if report.failed:
            self.other_failed = True

    def for_suite(self, collector: SuiteCollector, session: pytest.Session) -> SuiteRun:
        from evalkit.errors import EvalkitError

        with self._lock:
            if collector.path in self.failed:  # e.g. a locked database: fail every case at once, not slowly
                raise RunStopped(self.failed[collector.path])
            run = self.runs.get(collector.path)
            if run is None:
                try:
                    run = self.runs[collector.path] = self._start(collector, session)
                except EvalkitError as exc:
                    self.failed[collector.path] = f"evalkit: error: {exc.one_line()}"
                    raise RunStopped(self.failed[collector.path]) from None
            return run

    def _start(self, collector: SuiteCollector, session: pytest.Session) -> SuiteRun:
        from evalkit.gate.cells import resolve_baseline
        from evalkit.run.runner import RunOptions
        from evalkit.store import open_store

        selected = {
            item.case.id for item in session.items if isinstance(item, CaseItem) and item.parent is collector
        }
        options = RunOptions(
            prompt=self.config.getoption("evalkit_prompt"),
            model=self.config.getoption("evalkit_model"),
            concurrency=self.config.getoption("evalkit_concurrency"),
            use_cache=not self.config.getoption("evalkit_no_cache"),
            # every case selected is a full run; -k, --lf or deselection make it a subset (kept out of trends)
            case_filter=None if len(selected) == collector.n_cases else (lambda case: case.id in selected),
        )
        store = open_store(self.config.getoption("evalkit_db"))
        name = self.config.getoption("evalkit_baseline")
        baseline = resolve_baseline(store, collector.suite.name, name) if name else None  # before any call
        allowed = self.config.getoption("evalkit_allow_removed_critical")
        return SuiteRun(collector.suite, store, options, selected, baseline, allow_removed_critical=allowed)

    def finish(self) -> None:
        for run in self.runs.values():
            run.finish()

    def gated_status(self, status: int) -> int | None:
        """The session's exit status as the suites' verdicts have it (None: leave it alone).

        Without --evalkit-baseline the cases' own outcomes decide, except that a run its gate could
        not judge (exit 3: a scorer that could not score) fails a session whose cases all passed.
        With it, a failed verdict (or a run that did not finish) fails the session; when every
        verdict passes, failed cases do not, but any other failing test (or a module that failed to
        collect) still does.
        """
        if not self.config.getoption("evalkit_baseline"):
            # a suite gate that could not judge its run (a scorer that could not score, ...) fails
            # the session though every case passed on the scorers that worked
            unjudged = any(
                run.outcome is not None and run.outcome.verdict.exit_code == ExitCode.INFRASTRUCTURE
                for run in self.runs.values()
            )
            return int(pytest.ExitCode.TESTS_FAILED) if unjudged and status == pytest.ExitCode.OK else None
        if not (self.runs or self.failed):
            return None
        passed = not self.failed and all(
            run.outcome is not None and run.outcome.baseline is not None and run.outcome.exit_code == 0
            for run in self.runs.values()
        )
        if not passed:
            return int(pytest.ExitCode.TESTS_FAILED) if status == pytest.ExitCode.OK else None
        if status == pytest.ExitCode.TESTS_FAILED and not self.other_failed:
            return int(pytest.ExitCode.OK)
        return None

    def report_lines(self) -> list[str]:
        from evalkit.store import resolve_db

        db = resolve_db(self.config.getoption("evalkit_db"))
        lines = []
        for run in self.runs.values():
            if run.record is None:
                lines.append(f"suite {run.suite.name}: no run stored ({run.why_stopped()})")
                continue
            head = f"run {run.record.run_id} ({run.suite.name}, prompt {run.record.prompt_version or '-'}, {run.record.model}) in {db}"
            if run.outcome is None:
                lines.append(
                    f"{head}: stopped early, stored as incomplete with {len(run.results)} of {len(run.case_ids)} cases"
                )
                continue
            s = run.outcome.summary
            gate = run.outcome.decision
            lines.append(
                f"{head}: {s.passed} passed, {s.failed} failed, {s.errors} errors; "
                f"gate {'PASSED' if gate.passed else 'FAILED'}: {'; '.join(gate.reasons)}"
            )
            check = run.outcome.baseline
            if check is not None:
                verdict = "PASSED" if run.outcome.verdict.passed else "FAILED"
                lines.append(
                    f"regression gate {verdict} against baseline {check.decision.baseline_run_id}: "
                    f"{'; '.join(run.outcome.verdict.reasons)} (exit {run.outcome.exit_code})"
                )
            elif run.baseline is not None:
                lines.append(f"no baseline check ({run.why_stopped()})")
        return lines


_RUNS = pytest.StashKey[_Runs]()
