"""Commands the gateway sends are the contract's own models (`shared/contracts/*_commands.py`).

A route builds one with `command(Model, principal, **fields)` — from a form's values or an API
body — and sends it with `Services.command`. The identity fields (actor, roles, unit,
department) come from the signed-in user; the service sets them again from the signed
assertion. `body(Model, ...)` is the API's request body: the contract model without the
identity fields and those the path names, derived once, so the OpenAPI document shows it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from services.gateway.auth import Principal
from services.gateway.problems import Problem
from shared.identity import IDENTITY_FIELDS, with_identity
from shared.rpc import invalid_input

C = TypeVar("C", bound=BaseModel)


def command(model: type[C], principal: Principal, /, **fields: Any) -> C:
    """The command `model` acted by `principal`; a value the contract refuses is a 422."""
    try:
        return model.model_validate(with_identity(model, fields, principal.identity()))
    except ValidationError as exc:
        raise Problem.from_error(invalid_input(exc)) from None


def body(
    model: type[BaseModel],
    *,
    omit: tuple[str, ...] = (),
    optional: Mapping[str, str] = {},
    required: bool = True,
) -> Any:
    """A dependency that reads `model`'s API body (its fields as keyword arguments).

    `omit`: fields the path or the route supplies; `optional`: fields the client may leave
    out (name → description), the route filling them in; `required=False`: the whole body
    may be left out (every field has a default).
    """
    schema = _body_model(model, omit, tuple(optional.items()))

    # async: FastAPI runs a synchronous dependency in a worker thread (run_in_threadpool),
    # a thread hop per request for a few attribute reads.
    async def read(payload: BaseModel | None) -> dict[str, Any]:
        if payload is None:
            return {}
        return {name: getattr(payload, name) for name in type(payload).model_fields}

    # FastAPI reads the body's model from the signature.
    read.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "payload",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=schema if required else schema | None,
                default=inspect.Parameter.empty if required else None,
            )
        ]
    )
    return read


@cache
def _body_model(
    model: type[BaseModel], omit: tuple[str, ...], optional: tuple[tuple[str, str], ...]
) -> type[BaseModel]:
    described = dict(optional)
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in IDENTITY_FIELDS or name in omit:
            continue
        if name in described:
            kind: Any = info.annotation
            if info.metadata:
                kind = Annotated[(kind, *info.metadata)]
            fields[name] = (kind | None, Field(default=None, description=described[name]))
        else:
            fields[name] = (info.annotation, info)
    # The contract's own field checks come along (e.g. "money is never a float").
    validators = {
        name: field_validator(*kept, mode=found.info.mode)(_function(found.func))
        for name, found in model.__pydantic_decorators__.field_validators.items()
        if (kept := [f for f in found.info.fields if f in fields])
    }
    built: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{model.__name__}Body",
        __config__=ConfigDict(extra="forbid"),
        __doc__=model.__doc__,
        __validators__=validators,
        **fields,
    )
    return built


def _function(method: Any) -> Any:
    """The function behind a classmethod bound to the contract, to bind again to the body."""
    return method.__func__
