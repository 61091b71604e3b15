"""What the review's pages share: a page with forms that shows one round (`ReviewPage`), the
commands its forms send (`Action`: parse in the route, `page.send(...)` does the rest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.gateway import nomination as nom
from services.gateway import review as rv
from services.gateway.auth import Principal
from services.gateway.deps import allow
from services.gateway.routes.forms import FormState, form_action, form_page
from services.gateway.state import Services, gw_state, services

Auditors = Annotated[Principal, Depends(allow(*rv.AUDITORS))]
Scorers = Annotated[Principal, Depends(allow(*rv.SCORERS))]
Vetoers = Annotated[Principal, Depends(allow(*rv.VETOERS))]
Overseers = Annotated[Principal, Depends(allow(*rv.OVERSEERS))]
Deciders = Annotated[Principal, Depends(allow(*rv.DECIDERS))]
ReviewReaders = Annotated[Principal, Depends(allow(*rv.REVIEW_READERS))]
Everyone = Annotated[Principal, Depends(allow(*rv.EVERYONE))]

# A service refusal shown beside the field it is about.
FIELD_OF_ERROR = {
    "reason_required": "reason",
    "employee_no_required": "employee_no",
    "employee_no_mismatch": "employee_no",
    "department_required": "employee_no",
    "quota_exceeded": "winners",
    "wrong_category": "winners",
    "insufficient_scores": "winners",
    "vetoed": "winners",
    "not_accepted": "winners",
    "not_eligible": "nomination_id",
}


def back(path: str, round_id: str | None) -> str:
    return f"{path}?round_id={round_id}" if round_id else path


async def names(request: Request, ids: Iterable[str | None]) -> dict[str, str]:
    return await gw_state(request).accounts.display_names(i for i in ids if i)


async def round_choice(
    svc: Services, requested: str | None, with_nomination_rounds: bool = False
) -> tuple[list[dict[str, Any]], str | None]:
    """The rounds a page may switch between, and the one it shows."""
    known = await rv.rounds(svc)
    if with_nomination_rounds:  # a panel can be set up before the first nomination arrives
        seen = {r["round_id"] for r in known}
        extra = [
            {"round_id": r["round_id"], "published": False, "candidates": 0}
            for r in await nom.rounds(svc)
            if r["round_id"] not in seen
        ]
        known = sorted([*known, *extra], key=lambda r: r["round_id"], reverse=True)
    return known, rv.pick_round(known, requested)


async def unpublished_summaries(svc: Services) -> list[dict[str, Any]]:
    return [
        await rv.summary(svc, r["round_id"]) for r in await rv.rounds(svc) if not r["published"]
    ]


@dataclass(frozen=True)
class Shown:
    """A review page being drawn: for whom, and the rounds it may switch between and the one
    chosen (none on a page of every round, or when there is no round yet)."""

    request: Request
    principal: Principal
    svc: Services
    rounds: list[dict[str, Any]]
    round_id: str | None


# What a review page shows besides the rounds.
Context = Callable[[Shown], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Action:
    """A review command sent from a page's form: the command's name and contract, the key of
    its form on the page (formatted with the command's fields), the flash once it is done."""

    name: str
    model: type[BaseModel]
    form_key: str
    message: str
    refused_status: int = 422
    field_of: Mapping[str, str] | None = None  # where a refusal is shown: FIELD_OF_ERROR


@dataclass(frozen=True)
class ReviewPage:
    """A review page with small forms on it; `by_round`: it shows one round, chosen on the
    page (`?round_id=`), and a form sent from it comes back to that round."""

    router: APIRouter
    path: str
    template: str
    context: Context
    readers: Iterable[str]
    by_round: bool = True
    with_nomination_rounds: bool = False  # a panel can be set up before any nomination

    def __post_init__(self) -> None:
        """Serve the page: GET `path` (with `?round_id=` when by round), to its readers only."""
        readers = Depends(allow(*self.readers))

        async def page(request: Request, principal: Principal = readers) -> Response:
            return await self.show(request, principal)

        async def round_page(
            request: Request, principal: Principal = readers, round_id: str | None = None
        ) -> Response:
            return await self.show(request, principal, round_id)

        self.router.get(self.path)(round_page if self.by_round else page)

    async def show(
        self,
        request: Request,
        principal: Principal,
        round_id: str | None = None,
        forms: dict[str, FormState] | None = None,
        status_code: int = 200,
    ) -> Response:
        svc = services(request, principal)
        rounds: dict[str, Any] = {}
        known: list[dict[str, Any]] = []
        chosen: str | None = None
        if self.by_round:
            known, chosen = await round_choice(svc, round_id, self.with_nomination_rounds)
            rounds = {"rounds": known, "round_id": chosen}
        context = await self.context(Shown(request, principal, svc, known, chosen))
        return form_page(
            request, self.template, {**rounds, **context}, principal, forms, status_code
        )

    async def send(
        self,
        request: Request,
        principal: Principal,
        state: FormState,
        action: Action,
        **fields: Any,
    ) -> Response:
        """Send `action` with `fields` if the form in `state` is fine; refused, this page again
        with the form; done, back to this page (at the command's round)."""
        round_id = fields["round_id"] if self.by_round else None
        return await form_action(
            state,
            lambda: services(request, principal).command(
                rv.SERVICE, action.name, action.model, **fields
            ),
            render=lambda form, status: self.show(
                request, principal, round_id, {action.form_key.format(**fields): form}, status
            ),
            success_url=back(self.path, round_id),
            message=action.message,
            field_of=FIELD_OF_ERROR if action.field_of is None else action.field_of,
            refused_status=action.refused_status,
        )
