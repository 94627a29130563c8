"""Deterrence for searchers over the API: ``POST /v1/deterrence/check`` answers a platform's
search box before it shows results, ``GET /v1/deterrence/stats`` gives the aggregate counts.

The check answers ``{"enabled", "warn", "message", "help": {"name", "url", "phone"},
"list"}``: never the query. The query is not stored, logged or echoed: the only write is the
day's count for the matched list and the language (`vangnet.context.deterrence.counts`).
With no term list configured the answer is ``enabled: false`` (200, nothing counted), so a
search box that calls it keeps working. An empty or too long query, a malformed language or
a body that is not the JSON object asked for is refused (400) and counts nothing; term lists
that cannot be loaded are a 503.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vangnet.auth.keys import Permission
from vangnet.context.deterrence import counts
from vangnet.context.deterrence.check import Deterrence
from vangnet.errors import UnavailableError, VangnetError
from vangnet.http.deps import Caller, Services, db_session, require, services, writer_session

router = APIRouter(prefix="/v1", tags=["deterrence"])

CheckP = Annotated[Caller, Depends(require(Permission.MATCH))]
StatsP = Annotated[Caller, Depends(require(Permission.MATCH, Permission.AUDIT))]
WriterDb = Annotated[Session, Depends(writer_session)]
Db = Annotated[Session, Depends(db_session)]
Svc = Annotated[Services, Depends(services)]

#: The longest query the body model takes at all; the setting deterrence_max_query_chars
#: (at most this) is the limit in force.
HARD_MAX = 10_000


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(max_length=HARD_MAX, description="The search query; never stored.")
    language: str | None = Field(
        default=None, max_length=16, description="ISO 639 code of the searcher's language."
    )


class HelpInfo(BaseModel):
    name: str
    url: str
    phone: str | None


class CheckAnswer(BaseModel):
    enabled: bool = Field(description="False: no term list is loaded; nothing checked.")
    warn: bool = Field(description="Show the warning and the help route.")
    message: str | None = Field(description="The warning, in the searcher's language.")
    help: HelpInfo | None = Field(description="Where to get anonymous help.")
    list: str | None = Field(description="The term list that matched.")


def deterrence(request: Request, svc: Svc) -> Deterrence:
    """This app's term lists and help routes, loaded once."""
    found: Deterrence | None = getattr(request.app.state, "deterrence", None)
    if found is None:
        try:
            found = Deterrence.from_settings(svc.settings)
        except VangnetError as error:
            raise UnavailableError(f"deterrence is not available: {error.message}") from None
        request.app.state.deterrence = found
    return found


Check = Annotated[Deterrence, Depends(deterrence)]


@router.post("/deterrence/check", response_model=CheckAnswer)
def check_query(body: CheckRequest, checker: Check, session: WriterDb, _: CheckP) -> Any:
    """Whether a search query matches a term list; if so the warning and the help route in
    the searcher's language. Counted per day, list and language; the query is not kept."""
    answer = checker.check(body.query, body.language)
    if answer.enabled:
        counts.record_check(
            session,
            day=datetime.now(UTC).date(),
            list_name=answer.list_name or counts.NO_LIST,
            language=answer.language,
            warned=answer.warn,
        )
        session.commit()
    return answer.as_json()


class DayCountInfo(BaseModel):
    day: date
    list: str | None
    language: str
    checks: int
    warnings: int


class Stats(BaseModel):
    since: date
    checks: int
    warnings: int
    days: list[DayCountInfo]


@router.get("/deterrence/stats", response_model=Stats)
def deterrence_stats(
    session: Db,
    _: StatsP,
    days: Annotated[int, Query(ge=1, le=3660, description="Days back, today included.")] = 30,
) -> Any:
    """The aggregate counts of the last ``days`` days (UTC), newest first."""
    since = datetime.now(UTC).date() - timedelta(days=days - 1)
    rows = counts.day_counts(session, since=since)
    return {
        "since": since,
        "checks": sum(r.checks for r in rows),
        "warnings": sum(r.warnings for r in rows),
        "days": [r.as_json() for r in rows],
    }
