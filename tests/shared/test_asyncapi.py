"""The AsyncAPI documents name every subject a service publishes, answers and consumes.

The documents are generated here exactly as `make docs` writes them (deploy/apidocs.py);
every event of every contract registry (shared/contracts/*.py) must be in its service's
document, with its payload. The documents under docs/, when present, must not lack any.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

import shared.contracts
from deploy.apidocs import write_docs
from shared.apidocs import subject_matches
from shared.events import DomainEvent, EventRegistry
from shared.service import ServiceRuntime
from shared.settings import PROJECT_ROOT, SERVICES


def published_events() -> list[type[DomainEvent]]:
    """Every event of every contract registry, found by walking shared/contracts/."""
    events: list[type[DomainEvent]] = []
    for module_info in pkgutil.iter_modules(shared.contracts.__path__):
        module = importlib.import_module(f"shared.contracts.{module_info.name}")
        registry = getattr(module, "registry", None)
        if isinstance(registry, EventRegistry):
            events.extend(registry.models)
    return events


def runtime_of(service: str) -> ServiceRuntime:
    runtime: ServiceRuntime = importlib.import_module(f"services.{service}.app").runtime
    return runtime


def operations(document: dict[str, Any], action: str) -> dict[str, dict[str, Any]]:
    """Channel address → channel, for the operations of one action ("send" / "receive")."""
    found: dict[str, dict[str, Any]] = {}
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        channel_id = operation["channel"]["$ref"].rsplit("/", 1)[1]
        channel = document["channels"][_unescape(channel_id)]
        found[channel["address"]] = channel
    return found


def _unescape(ref: str) -> str:
    return unquote(ref)


def payload_schema(document: dict[str, Any], channel: dict[str, Any]) -> dict[str, Any]:
    [message_ref] = channel["messages"].values()
    message = document["components"]["messages"][
        _unescape(message_ref["$ref"].removeprefix("#/components/messages/"))
    ]
    return _resolve(document, message["payload"])


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = _unescape(schema["$ref"].removeprefix("#/components/schemas/"))
        resolved: dict[str, Any] = document["components"]["schemas"][name]
        return resolved
    return schema


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("docs")
    write_docs(out)
    found = {
        service: json.loads((out / "asyncapi" / f"{service}.json").read_text())
        for service in SERVICES
    }
    found["gateway"] = json.loads((out / "openapi" / "gateway.json").read_text())
    return found


def test_every_contract_registry_has_events_of_a_known_service() -> None:
    events = published_events()
    assert len(events) > 30
    assert {e.service for e in events} <= set(SERVICES)


def test_every_published_event_is_in_its_services_document_with_its_payload(
    documents: dict[str, dict[str, Any]],
) -> None:
    missing = []
    for event in published_events():
        document = documents[event.service]
        channel = operations(document, "send").get(event.subject())
        if channel is None:
            missing.append(event.subject())
            continue
        envelope = payload_schema(document, channel)
        assert envelope["title"] == f"{event.__name__}Envelope"
        assert envelope["properties"]["type"]["const"] == event.event_type
        data = _resolve(document, envelope["properties"]["data"])
        assert set(data["properties"]) == set(event.model_fields), event.subject()
        assert f"schema version {event.schema_version}" in channel["description"]
    assert missing == []


def test_round_opened_is_documented_as_version_2(documents: dict[str, dict[str, Any]]) -> None:
    document = documents["nomination"]
    channel = operations(document, "send")["flowers.evt.nomination.RoundOpened"]
    data = _resolve(document, payload_schema(document, channel)["properties"]["data"])
    assert {"timezone", "deadline_local"} <= set(data["properties"])
    assert "schema version 2" in channel["description"]


def test_request_reply_consumed_and_dead_letter_subjects_are_documented(
    documents: dict[str, dict[str, Any]],
) -> None:
    for service in SERVICES:
        runtime = runtime_of(service)
        document = documents[service]
        received, sent = operations(document, "receive"), operations(document, "send")
        assert set(runtime.rpc.subjects) <= set(received), service
        assert f"flowers.qry.{service}.health" in received
        for spec in runtime.consumer_specs:
            assert f"flowers.dlq.{spec.name}" in sent, spec.name
            for subject in spec.subjects:
                assert subject in received, (service, subject)
                payload = payload_schema(document, received[subject])
                options = payload.get("anyOf", [payload])
                expected = {
                    m.event_type
                    for m in spec.registry.models
                    if subject_matches(subject, m.subject())
                }
                titles = {_resolve(document, o)["title"].removesuffix("Envelope") for o in options}
                assert titles == expected, (service, subject)
    assert "flowers.payroll.adjustment.*" in operations(documents["rewards"], "send")


def test_the_gateways_openapi_is_written(documents: dict[str, dict[str, Any]]) -> None:
    gateway = documents["gateway"]
    assert gateway["openapi"].startswith("3.")
    assert gateway["paths"]


def test_subject_patterns_match_as_nats_does() -> None:
    assert subject_matches("flowers.evt.nomination.>", "flowers.evt.nomination.RoundOpened")
    assert not subject_matches("flowers.evt.nomination.>", "flowers.evt.nomination")
    assert subject_matches("flowers.evt.*.RoundOpened", "flowers.evt.nomination.RoundOpened")
    assert not subject_matches("flowers.evt.*", "flowers.evt.nomination.RoundOpened")
    assert not subject_matches("flowers.evt.review.X", "flowers.evt.review.Y")


def test_the_committed_documents_lack_no_published_event() -> None:
    """docs/ as `make docs` last wrote it: regenerate after adding an event."""
    docs = PROJECT_ROOT / "docs" / "asyncapi"
    if not docs.exists():
        pytest.skip("docs/ not generated in this tree (`make docs`)")
    stale = []
    for event in published_events():
        path: Path = docs / f"{event.service}.json"
        sent = operations(json.loads(path.read_text()), "send") if path.exists() else {}
        if event.subject() not in sent:
            stale.append(event.subject())
    assert stale == [], "run `make docs`"
