"""The quantum plugin's page: submit a simulation job (an OpenQASM circuit or one of the algorithms
the API offers), the tenant's jobs with their state, and a job's result with its counts. Editors
submit (CSRF-checked and audited by the core's guard), viewers read; a job of another tenant is a
404, as through the API. Submitting goes through the same validation as ``POST /api/v1/quantum/jobs``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from paperchain_sdk import InputError
from paperchain_sdk.ui import NavEntry, Page, PluginUI

from . import jobs

HERE = Path(__file__).parent
FIELDS = ("circuit", "algorithm", "params", "shots")
CHARTED = 32  # the most frequent outcomes drawn as bars; the table lists them all


def plugin_ui() -> PluginUI:
    return PluginUI(
        pages=[Page(path="/", handler=jobs_page),
               Page(path="/jobs", method="POST", handler=submit, role="editor"),
               Page(path="/jobs/{job}", handler=job_page)],
        nav=[NavEntry(label="Quantum", path="/")],
        templates=HERE / "templates", catalogs=HERE / "catalogs", static=HERE / "static")


def _algorithms() -> list[tuple[str, str]]:
    from .hooks import ALGORITHM_STEPS

    return [(name, summary) for name, (_, summary) in ALGORITHM_STEPS.items()]


def _dated(job: dict) -> dict:
    """The job with its creation time as ISO text (what ``fmt.when`` reads)."""
    return {**job, "created": dt.datetime.fromtimestamp(job["created"], dt.UTC).isoformat()}


async def _page(ui, *, form: dict | None = None, errors: dict | None = None, status: int = 200):
    found = [_dated(job) for job in await jobs.current(ui.kernel).list(ui.tenant, 50)]
    return ui.render("quantum/jobs.html", status=status, jobs=found, algorithms=_algorithms(),
                     form=form or {"shots": "1000"}, errors=errors or {})


async def jobs_page(request, ui):
    return await _page(ui)


class FieldError(Exception):
    """A form field's value is wrong: ``field`` and a message in the reader's language."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _request(form: dict, ui) -> jobs.JobRequest:
    """The API's job request from the form, or FieldError naming the field at fault."""
    _ = ui.gettext
    algorithm = form.get("algorithm", "").strip()
    try:
        shots = int(form.get("shots", "").strip() or "1000")
    except ValueError:
        raise FieldError("shots", _("Shots is a whole number, for example 1000.")) from None
    if not 1 <= shots <= 100_000:
        raise FieldError("shots", _("Shots must be between 1 and 100000."))
    if not algorithm:
        circuit = form.get("circuit", "").replace("\r\n", "\n")  # a browser sends a textarea's lines with CRLF
        if not circuit.strip():
            raise FieldError("circuit", _("Write an OpenQASM 2.0 circuit, or choose an algorithm."))
        return jobs.JobRequest(circuit=circuit, format="qasm", shots=shots)
    text = form.get("params", "").strip() or "{}"
    try:
        params = json.loads(text)
    except ValueError:
        params = None
    if not isinstance(params, dict):
        raise FieldError("params", _('Parameters are a JSON object, for example {"number": 15}.'))
    return jobs.JobRequest(algorithm=algorithm, params=params, shots=shots)


def _field_of(message: str) -> str:
    """Which form field the API's validation message is about (it starts with the field's name)."""
    head = message.split(":", 1)[0].split(" ", 1)[0].lower()
    return head if head in FIELDS else "circuit"


async def submit(request, ui):
    from aiohttp import web

    form = {key: str(value) for key, value in (await request.post()).items() if key != "csrf"}
    try:
        body = _request(form, ui)
        answer = await jobs.current(ui.kernel).submit(body, tenant=ui.tenant, by=ui.user)
    except FieldError as error:
        errors = {error.field: error.message}
    except InputError as error:  # the API's validation, as it says it, under the field it names
        errors = {_field_of(error.message): str(error)}
    else:
        raise web.HTTPSeeOther(f"{ui.root}/jobs/{answer['job']}")
    return await _page(ui, form=form, errors=errors, status=400)


async def job_page(request, ui):
    job = _dated(await jobs.current(ui.kernel).get(request.match_info["job"], ui.tenant))
    result = job.get("result") or {}
    counts = result.get("counts") or {}
    if counts and all(isinstance(v, dict) for v in counts.values()):
        counts = next(iter(counts.values()))  # a circuit's first measurement key, as the histogram shows
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0])) if isinstance(counts, dict) else []
    total = sum(count for _, count in rows) or 1
    others = {k: json.dumps(v) if isinstance(v, list) else v for k, v in result.items()  # the figures besides counts
              if k != "counts" and not isinstance(v, dict) and not (isinstance(v, list) and len(v) > 32)}
    template = "quantum/_job.html" if request.headers.get("HX-Request") else "quantum/job.html"
    chart = {"label": ui.gettext("Count"), "outcomes": [k for k, _ in rows[:CHARTED]],
             "counts": [v for _, v in rows[:CHARTED]]}
    return ui.render(template, job=job, counts=[(k, v, v / total) for k, v in rows], others=others, chart=chart,
                     request_text=json.dumps(job["request"].get("params") or {}))
