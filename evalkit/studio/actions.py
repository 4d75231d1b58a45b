"""The studio's writes (POST, each behind the CSRF check of :func:`evalkit.studio.state.write`).

Grades go to ``human_labels``. Candidates are accepted and rejected through ``evalkit review``'s own
:func:`evalkit.grow.review.decide`; golden cases are corrected through
:func:`evalkit.grow.corrections.correct_expected`. Every write leaves who and when, and the run it was
made from. A bad form answers 400 with one line and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from evalkit.errors import EvalkitError
from evalkit.store.growth import GrowthStore
from evalkit.store.labels import GRADES, HumanLabel, LabelStore, output_hash
from evalkit.store.values import utcnow
from evalkit.studio.state import Studio, studio_of


class BadForm(Exception):
    """A form the studio cannot act on (answered 400)."""


def _back_to_case(run_id: str, case_id: str) -> Response:
    return RedirectResponse(f"/runs/{run_id}/case?{urlencode({'id': case_id})}", status_code=303)


def _output(
    studio: Studio, form: dict[str, str], field: str = "run", *, graded: bool = False
) -> tuple[Any, str, int, str]:
    """(run, case id, epoch, output text) named by the form. ``graded``: refused when the epoch's
    model call failed, as it has no output to grade (its grade would be keyed to the empty text's
    hash, and re-attach to any other empty output)."""
    if not form.get(field):  # an empty id is a prefix of every run id: the only run would match it
        raise BadForm(f"the form names no {field}")
    try:
        run = studio.store.get_run(form[field])
        epoch = int(form.get("epoch", "0"))
    except (EvalkitError, ValueError) as exc:
        raise BadForm(str(exc)) from None
    case_id = form.get("case", "")
    from evalkit.store.browse import case_detail

    detail = case_detail(studio.store, run.run_id, case_id)
    outputs = [o for o in (detail or {}).get("outputs", []) if int(o["epoch"]) == epoch]
    if not outputs:
        raise BadForm(f"run {run.run_id} has no output of case {case_id!r} epoch {epoch}")
    if graded and outputs[0].get("status") != "ok":
        raise BadForm(
            f"run {run.run_id} case {case_id!r} epoch {epoch} has no output to grade: the model call "
            f"failed ({outputs[0].get('error') or 'no error recorded'})"
        )
    return run, case_id, epoch, outputs[0].get("raw_text") or ""


def _guarded(action: Any) -> Any:
    async def handler(request: Request, form: dict[str, str]) -> Response:
        try:
            response: Response = action(studio_of(request), form)
            return response
        except (BadForm, EvalkitError, ValueError) as exc:
            message = exc.one_line() if isinstance(exc, EvalkitError) else str(exc)
            errors = getattr(exc, "errors", None)  # pydantic's: the first, on one line
            if callable(errors) and errors():
                first = errors()[0]
                message = (
                    f"{'.'.join(str(part) for part in first.get('loc', ())) or 'value'}: {first.get('msg')}"
                )
            return PlainTextResponse(f"not done: {message}", status_code=400)

    return handler


def _grade(studio: Studio, form: dict[str, str]) -> Response:
    """Pass/fail on one output (graded), or A/B/tie between two runs' outputs of a case (pairwise)."""
    kind = form.get("kind", "graded")
    if kind not in ("graded", "pairwise"):
        raise BadForm(f"kind must be graded or pairwise, not {kind!r}")
    if form.get("grade") not in GRADES[kind]:
        raise BadForm(f"a {kind} grade is one of {', '.join(GRADES[kind])}")
    run, case_id, epoch, text = _output(studio, form, graded=True)
    run_b = None
    hashed = output_hash(text)
    if kind == "pairwise":
        run_b, _, _, text_b = _output(studio, form, "run_b", graded=True)
        hashed = output_hash(text, text_b)
    LabelStore(studio.store).add(
        HumanLabel(
            kind=kind,
            suite_name=run.suite_name,
            run_id=run.run_id,
            run_b=run_b.run_id if run_b else None,
            case_id=case_id,
            epoch=epoch,
            output_hash=hashed,
            scorer=form.get("scorer") or None,
            grade=form["grade"],
            note=form.get("note", "")[:4000],
            grader=studio.grader,
        )
    )
    if run_b is not None:
        return RedirectResponse(
            f"/compare?{urlencode({'a': run.run_id, 'b': run_b.run_id})}", status_code=303
        )
    return _back_to_case(run.run_id, case_id)


def _flag(studio: Studio, form: dict[str, str]) -> Response:
    """Mark a case's expected output as wrong: it joins the review queue."""
    run, case_id, epoch, text = _output(studio, form)
    _label_expected(studio, run, case_id, epoch, text, "wrong", form.get("note", "")[:4000])
    return _back_to_case(run.run_id, case_id)


def _label_expected(
    studio: Studio, run: Any, case_id: str, epoch: int, text: str, grade: str, note: str
) -> None:
    """Record what a person said of a case's expected output (``wrong``, or ``fixed`` once corrected)."""
    LabelStore(studio.store).add(
        HumanLabel(
            kind="expected",
            suite_name=run.suite_name,
            run_id=run.run_id,
            case_id=case_id,
            epoch=epoch,
            output_hash=output_hash(text),
            grade=grade,
            note=note,
            grader=studio.grader,
        )
    )


def _suite(studio: Studio, run: Any) -> Any:
    """The suite ``run`` was made from, unchanged since (a file of the same path elsewhere, or the
    suite edited, would take the change in another case file than the run's)."""
    from evalkit.store.opening import database_file
    from evalkit.suite.recorded import RunSuiteError, locate_run_suite

    try:
        return locate_run_suite(run, database_file(studio.store))
    except RunSuiteError as exc:
        raise BadForm(exc.one_line()) from None


def _newest_run(studio: Studio, name: str) -> Any:
    """The newest run of suite ``name``: where its suite file is recorded."""
    runs = studio.store.list_runs(suite=name, limit=1) if name else []
    if not runs:
        raise BadForm(f"no stored run says where suite {name!r} lives")
    return runs[0]


def _json_field(form: dict[str, str], name: str) -> Any:
    try:
        return json.loads(form.get(name, ""))
    except json.JSONDecodeError as exc:
        raise BadForm(
            f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _correct(studio: Studio, form: dict[str, str]) -> Response:
    """Give a golden case a new expected output: its line in the case file is rewritten."""
    from evalkit.grow.corrections import correct_expected

    run, case_id, epoch, text = _output(studio, form)
    expected = _json_field(form, "expected")
    note = form.get("note", "")[:4000]
    suite = _suite(studio, run)
    correct_expected(suite, case_id, expected, corrector=studio.grader, run_id=run.run_id, note=note)
    _label_expected(studio, run, case_id, epoch, text, "fixed", note)
    return _back_to_case(run.run_id, case_id)


def _candidate(studio: Studio, form: dict[str, str]) -> Response:
    """Accept, edit-then-accept or reject a candidate, as ``evalkit review`` does."""
    from evalkit.grow.review import decide

    action, candidate_id = form.get("action"), form.get("id", "")
    if action not in ("accept", "edit", "reject"):
        raise BadForm("action must be accept, edit or reject")
    suite = _suite(studio, _newest_run(studio, form.get("suite", "")))
    growth = GrowthStore(studio.store)
    found = growth.candidates(suite.name, ids=[candidate_id])
    if not found:
        raise BadForm(f"suite {suite.name!r} has no candidate {candidate_id!r}")
    candidate = found[0]
    if candidate.status != "pending":  # a stale page, a second click: the decision is made
        raise BadForm(f"candidate {candidate_id!r} is already {candidate.status}")
    if action == "reject":
        decide(suite, studio.store, reject=[candidate_id], reviewer=studio.grader)
        return RedirectResponse("/queue", status_code=303)
    if action == "edit":
        edit = {
            "by": studio.grader,
            "at": utcnow().isoformat(timespec="seconds") + "Z",
            "previous": candidate.expected,
        }
        provenance = {**candidate.provenance, "expected_edited": edit}
        growth.revise(suite.name, candidate_id, _json_field(form, "expected"), provenance)
    try:
        decide(suite, studio.store, accept=[candidate_id], reviewer=studio.grader)
    except Exception:
        if action == "edit":  # refused: the candidate is left as it was ("a bad form changes nothing")
            growth.revise(suite.name, candidate_id, candidate.expected, candidate.provenance)
        raise
    return RedirectResponse("/queue", status_code=303)


grade = _guarded(_grade)
flag = _guarded(_flag)
correct = _guarded(_correct)
candidate = _guarded(_candidate)
