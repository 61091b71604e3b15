"""NATS authorization, enforced by the server itself: who may publish and read what.

The permissions table (deploy/nats_permissions.py) against a real server with the session's
credentials: a refused JetStream call times out on the client while the connection's
error callback is told "permissions violation" (FIELD-NOTES, "NATS users and
permissions"), so every refusal here waits briefly and checks both.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api
from typer.testing import CliRunner

from deploy.cli import app
from deploy.nats_permissions import SERVICE_CONSUMERS, SERVICE_STREAMS, permissions
from deploy.secrets import NATS_USERS
from shared.bus import (
    DLQ_STREAM,
    EVENTS_STREAM,
    HDR_CONSUMER,
    HDR_ERROR,
    HDR_MSG_ID,
    PAYROLL_CONSUMER,
    PAYROLL_STREAM,
    EventConsumer,
)
from shared.contracts import review as review_contract
from shared.contracts import rewards as rewards_contract
from shared.events import DomainEvent, RecordedEvent
from shared.settings import PROJECT_ROOT, SERVICES, Settings, with_login
from tests.rewards.support import envelope, result
from tests.support import TEST_SECRETS, connect_as, eventually, per_event

PRODUCTION = PROJECT_ROOT / "deploy" / "production"
REFUSAL_WAIT_S = 0.5  # a refused call gets no answer: don't wait the default 5 s


# --- The table cannot drift from the services ------------------------------------------------


def test_the_table_names_exactly_the_consumers_and_streams_each_service_declares() -> None:
    from services.nomination.app import build_runtime as nomination
    from services.notification.app import build_runtime as notification
    from services.publicity.app import build_runtime as publicity
    from services.review.app import build_runtime as review
    from services.rewards.app import build_runtime as rewards

    settings = Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://x@127.0.0.1/x")
    builders: dict[str, Callable[..., Any]] = {
        "nomination": nomination,
        "review": review,
        "rewards": rewards,
        "publicity": publicity,
        "notification": notification,
    }
    assert set(builders) == set(SERVICES) == set(SERVICE_CONSUMERS)
    for service, build in builders.items():
        runtime = build(settings)
        declared = sorted(spec.name for spec in runtime.consumer_specs)
        assert declared == sorted(SERVICE_CONSUMERS[service]), service
        assert sorted(runtime.streams) == sorted(SERVICE_STREAMS[service]), service
        rights = permissions(service)
        assert rights is not None
        for consumer in declared:  # each named in full: NATS has no `review-*` wildcard
            assert f"$JS.API.CONSUMER.MSG.NEXT.FLOWERS.{consumer}" in rights.publish_allow
            assert f"flowers.dlq.{consumer}" in rights.publish_allow


def test_only_the_admin_is_unlimited_and_nobody_else_may_manage_streams() -> None:
    for user in NATS_USERS:
        rights = permissions(user)
        if user == "admin":
            assert rights is None
            continue
        assert rights is not None, user
        assert not any(".STREAM.CREATE" in s or ".STREAM.DELETE" in s for s in rights.publish_allow)
        assert "$JS.API.STREAM.DELETE.>" in rights.publish_deny, user
        assert not any(s in ("*", ">") for s in (*rights.publish_allow, *rights.subscribe_allow))


# --- The production configuration ------------------------------------------------------------


def _certificate(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key


def _write_pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.with_name(path.name.replace("-cert", "-key")).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _nats_server_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    return str(candidate) if candidate.exists() else (shutil.which("nats-server") or "nats-server")


@pytest.mark.parametrize("node", [1, 2, 3])
def test_the_production_configuration_is_valid_with_generated_users_and_certificates(
    node: int, tmp_path: Path
) -> None:
    shipped = (PRODUCTION / f"nats-{node}.conf").read_text(encoding="utf-8")
    assert "http: 127.0.0.1:8222" in shipped  # monitoring on loopback only
    assert "0.0.0.0:8222" not in shipped
    assert 'include "auth.conf"' in shipped
    assert "verify: true" in shipped  # routes authenticate by certificate

    outcome = CliRunner().invoke(
        app,
        [
            "nats-config",
            "--keys-dir",
            str(TEST_SECRETS / "nats"),
            "-o",
            str(tmp_path / "auth.conf"),
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    auth = (tmp_path / "auth.conf").read_text()
    for user in NATS_USERS:
        public = (TEST_SECRETS / "nats" / f"{user}.pub").read_text().strip()
        assert public in auth
        assert (TEST_SECRETS / "nats" / f"{user}.nk").read_text().strip() not in auth

    tls = tmp_path / "tls"
    tls.mkdir()
    for prefix in ("", "route-"):
        ca = _certificate(f"flowers {prefix}ca", None)
        (tls / f"{prefix}ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
        leaf = _certificate(f"flowers-nats-{node}", ca)
        _write_pem(tls / f"{'route' if prefix else 'server'}-cert.pem", *leaf)
    conf = tmp_path / f"nats-{node}.conf"
    conf.write_text(
        shipped.replace("/etc/nats/tls/", f"{tls}/").replace("/var/lib/nats", str(tmp_path)),
        encoding="utf-8",
    )
    checked = subprocess.run(
        [_nats_server_binary(), "-t", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_nats_config_refuses_a_seed_and_names_a_missing_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    shutil.copytree(TEST_SECRETS / "nats", keys)
    (keys / "payroll.pub").unlink()
    missing = CliRunner().invoke(app, ["nats-config", "--keys-dir", str(keys)])
    assert missing.exit_code != 0
    assert "payroll" in missing.output
    seed = CliRunner().invoke(
        app,
        ["nats-config", "--keys-dir", str(keys), "--key", f"payroll={keys / 'payroll.nk'}"],
    )
    assert seed.exit_code != 0
    assert "seed" in seed.output


# --- Enforced by the server ------------------------------------------------------------------


class Client:
    """A connection as one NATS user that records what the server told it was refused."""

    def __init__(self, nc: NatsClient, errors: list[str]) -> None:
        self.nc = nc
        self.errors = errors

    async def refused(self, call: Callable[[], Awaitable[Any]], subject: str) -> None:
        """`call` gets no answer, and the server says the publish to `subject` is forbidden."""
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await call()
        violation = f'permissions violation for publish to "{subject.lower()}"'
        await eventually(
            lambda: any(violation in e.lower() for e in self.errors),
            timeout=5,
            what=violation,
        )


@pytest.fixture
async def connect(nats_url: str) -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
    clients: list[NatsClient] = []

    async def as_user(user: str) -> Client:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))

        nc = await connect_as(user, nats_url, error_cb=on_error, allow_reconnect=False)
        clients.append(nc)
        return Client(nc, errors)

    yield as_user
    for nc in clients:
        await nc.close()


async def stream_messages(nc: NatsClient, stream: str) -> int:
    return int((await nc.jetstream().stream_info(stream)).state.messages)


async def test_a_client_without_credentials_is_refused(nats_url: str) -> None:
    async def quiet(_: Exception) -> None:
        pass

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(nats_url, allow_reconnect=False, connect_timeout=2, error_cb=quiet)


async def test_a_service_publishes_only_its_own_events(
    connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    for service in SERVICES:
        client = await connect(service)
        js = client.nc.jetstream()
        ack = await js.publish(f"flowers.evt.{service}.Probe", b"{}", stream=EVENTS_STREAM)
        assert ack.stream == EVENTS_STREAM
        for other in SERVICES:
            if other == service:
                continue
            subject = f"flowers.evt.{other}.Probe"
            await client.refused(
                lambda s=subject, js=js: js.publish(  # type: ignore[misc]
                    s, b"{}", stream=EVENTS_STREAM, timeout=REFUSAL_WAIT_S
                ),
                subject,
            )
    assert await stream_messages(nc, EVENTS_STREAM) == len(SERVICES)  # only their own


async def test_neither_the_gateway_nor_the_operator_may_publish_an_event(
    connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    for user in ("gateway", "operator", "payroll"):
        client = await connect(user)
        js = client.nc.jetstream()
        subject = "flowers.evt.review.ResultPublished"
        await client.refused(
            lambda js=js, subject=subject: js.publish(  # type: ignore[misc]
                subject, b"{}", stream=EVENTS_STREAM, timeout=REFUSAL_WAIT_S
            ),
            subject,
        )
    assert await stream_messages(nc, EVENTS_STREAM) == 0


async def test_a_service_may_not_send_a_command_or_a_query(
    connect: Callable[[str], Awaitable[Client]],
) -> None:
    review = await connect("review")
    for subject in ("flowers.cmd.rewards.acknowledge", "flowers.qry.review.ranking"):
        await review.refused(
            lambda s=subject: review.nc.request(s, b"{}", timeout=REFUSAL_WAIT_S),  # type: ignore[misc]
            subject,
        )
    # … nor listen to another service's commands, nor to the replies meant for anyone else.
    for subject in ("flowers.cmd.rewards.>", "_INBOX.>", "_INBOX_gateway.>", ">"):
        sub = await review.nc.subscribe(subject)
        await review.nc.flush()
        violation = f'permissions violation for subscription to "{subject.lower()}"'
        await eventually(
            lambda v=violation: any(v in e.lower() for e in review.errors),  # type: ignore[misc]
            timeout=5,
            what=violation,
        )
        await sub.unsubscribe()


@pytest.mark.parametrize("user", ["operator", "gateway", "review", "payroll"])
async def test_nobody_but_the_admin_may_delete_or_purge_a_stream(
    user: str, connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    client = await connect(user)
    js = client.nc.jetstream()
    js_api_timeout = client.nc.jetstream(timeout=REFUSAL_WAIT_S)
    for stream in (EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM):
        await client.refused(
            lambda s=stream: js_api_timeout.delete_stream(s),  # type: ignore[misc]
            f"$JS.API.STREAM.DELETE.{stream}",
        )
    await client.refused(
        lambda: js_api_timeout.purge_stream(DLQ_STREAM), f"$JS.API.STREAM.PURGE.{DLQ_STREAM}"
    )
    await client.refused(
        lambda: js_api_timeout.add_stream(name="ROGUE", subjects=["rogue.>"]),
        "$JS.API.STREAM.CREATE.ROGUE",
    )
    del js
    names = {info.config.name for info in await nc.jetstream().streams_info()}
    assert names == {EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM}


async def test_the_operator_reads_the_log_but_deletes_only_dead_letters(
    connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    admin = nc.jetstream()
    await admin.publish("flowers.evt.review.Probe", b"{}", stream=EVENTS_STREAM)
    await admin.publish("flowers.dlq.rewards-review", b"{}", stream=DLQ_STREAM)
    operator = await connect("operator")
    js = operator.nc.jetstream(timeout=REFUSAL_WAIT_S * 4)
    ordered = await js.subscribe("flowers.evt.>", stream=EVENTS_STREAM, ordered_consumer=True)
    assert (await ordered.next_msg(timeout=5)).subject == "flowers.evt.review.Probe"
    await ordered.unsubscribe()
    assert (await js.get_msg(EVENTS_STREAM, 1)).subject == "flowers.evt.review.Probe"
    assert await js.delete_msg(DLQ_STREAM, 1)
    quick = operator.nc.jetstream(timeout=REFUSAL_WAIT_S)
    await operator.refused(
        lambda: quick.delete_msg(PAYROLL_STREAM, 1), f"$JS.API.STREAM.MSG.DELETE.{PAYROLL_STREAM}"
    )
    # Nor may it pull from (and so steal deliveries of) a service's durable consumer.
    durable = js_api.ConsumerConfig(
        name="rewards-review", durable_name="rewards-review", filter_subject="flowers.evt.>"
    )
    await operator.refused(
        lambda: quick.add_consumer(EVENTS_STREAM, durable),
        "$JS.API.CONSUMER.CREATE.FLOWERS.rewards-review.flowers.evt.>",
    )
    await nc.jetstream().add_consumer(EVENTS_STREAM, durable)
    stolen = await quick.pull_subscribe_bind("rewards-review", stream=EVENTS_STREAM)
    await operator.refused(
        lambda: stolen.fetch(1, timeout=REFUSAL_WAIT_S),
        "$JS.API.CONSUMER.MSG.NEXT.FLOWERS.rewards-review",
    )


async def test_payroll_pulls_payroll_through_its_consumer_and_reads_nothing_else(
    connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    admin = nc.jetstream()
    await admin.publish("flowers.payroll.adjustment.a-1", b'{"amount": "500.00"}')
    await admin.publish("flowers.evt.review.Probe", b"{}", stream=EVENTS_STREAM)
    payroll = await connect("payroll")
    js = payroll.nc.jetstream()
    subscription = await js.pull_subscribe_bind(PAYROLL_CONSUMER, stream=PAYROLL_STREAM)
    [message] = await subscription.fetch(1, timeout=5)
    assert message.subject == "flowers.payroll.adjustment.a-1"
    await message.ack_sync()

    quick = payroll.nc.jetstream(timeout=REFUSAL_WAIT_S)
    await payroll.refused(
        lambda: quick.stream_info(EVENTS_STREAM), f"$JS.API.STREAM.INFO.{EVENTS_STREAM}"
    )
    await payroll.refused(
        lambda: quick.get_msg(EVENTS_STREAM, 1), f"$JS.API.STREAM.MSG.GET.{EVENTS_STREAM}"
    )
    await payroll.refused(
        lambda: quick.add_consumer(
            EVENTS_STREAM, js_api.ConsumerConfig(ack_policy=js_api.AckPolicy.NONE)
        ),
        f"$JS.API.CONSUMER.CREATE.{EVENTS_STREAM}",
    )
    await payroll.refused(
        lambda: quick.publish("flowers.payroll.adjustment.forged", b"{}", timeout=REFUSAL_WAIT_S),
        "flowers.payroll.adjustment.forged",
    )


# --- The attack of issue 12: a fake ResultPublished ------------------------------------------


async def test_a_fake_result_on_reviews_subject_from_another_services_user_is_refused(
    connect: Callable[[str], Awaitable[Client]], nc: NatsClient
) -> None:
    fake = envelope(result(1, dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC)))
    for user in ("rewards", "publicity", "nomination", "gateway", "operator"):
        client = await connect(user)
        js = client.nc.jetstream()
        subject = "flowers.evt.review.ResultPublished"
        await client.refused(
            lambda js=js, subject=subject: js.publish(  # type: ignore[misc]
                subject,
                fake.model_dump_json().encode(),
                stream=EVENTS_STREAM,
                headers={HDR_MSG_ID: str(fake.event_id)},
                timeout=REFUSAL_WAIT_S,
            ),
            subject,
        )
    assert await stream_messages(nc, EVENTS_STREAM) == 0


async def test_an_envelope_claiming_review_on_rewards_subject_is_dead_lettered(
    connect: Callable[[str], Awaitable[Client]],
    nc: NatsClient,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """rewards may publish on its own subjects; a ResultPublished there is review's type
    under rewards' name: the consumer dead-letters it at once and never handles it."""
    handled: list[str] = []

    async def handler(_: asyncpg.Connection, env: RecordedEvent, __: DomainEvent) -> None:
        handled.append(env.type)

    consumer = EventConsumer(
        name="forgery-watch",
        filter_subjects=["flowers.evt.rewards.>"],
        registry=review_contract.registry.merged(rewards_contract.registry),
        handler=per_event(handler),
        pool=pool,
        js=nc.jetstream(),
        settings=settings,
    )
    forged = envelope(result(1, dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC)))
    rewards = await connect("rewards")
    for subject in ("flowers.evt.rewards.ResultPublished", "flowers.evt.rewards.AwardGranted"):
        await rewards.nc.jetstream().publish(
            subject,
            forged.model_dump_json().encode(),
            stream=EVENTS_STREAM,
            headers={HDR_MSG_ID: f"{subject}-{uuid.uuid4()}"},
        )
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: consumer.stats.dead_lettered == 2, timeout=15, what="2 letters")
    finally:
        consumer.stop()
        await task
    assert handled == []
    js = nc.jetstream()
    for seq in (1, 2):
        letter = await js.get_msg(DLQ_STREAM, seq)
        assert (letter.headers or {})[HDR_CONSUMER] == "forgery-watch"
        error = (letter.headers or {})[HDR_ERROR]
        assert "not authentic: a ResultPublished event belongs to review" in error, error
        assert json.loads(letter.data or b"{}")["deliveries"] == 1  # at once, no retries


def flowers_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


async def test_a_service_does_not_make_missing_streams_it_says_what_to_run(
    nats_server: Any, pg_url: str, db_prefix: str
) -> None:
    from services.rewards.app import build_runtime
    from shared.service import StartupError

    if nats_server is None:
        pytest.skip("needs an embedded server without streams")
    settings = Settings(
        nats_url=nats_server.url,
        database_url=with_login(pg_url, None),
        database_admin_url=pg_url,  # the suite's in-process services provision themselves
        database_prefix=db_prefix,
        connect_attempts=1,
    )
    runtime = build_runtime(settings)
    with pytest.raises(StartupError) as refused:
        await runtime.start()
    message = str(refused.value)
    assert "stream(s) FLOWERS, FLOWERS_DLQ, PAYROLL missing" in message
    assert "flowers nats-streams" in message
    assert "\n" not in message

    # The admin makes them (`flowers nats-streams`, its seed named); then the service starts.
    env = {
        **os.environ,
        "FLOWERS_NATS_URL": nats_server.url,
        "FLOWERS_DATABASE_URL": pg_url,
        "FLOWERS_NATS_SEED_FILE": str(TEST_SECRETS / "nats" / "admin.nk"),
    }
    made = await asyncio.to_thread(flowers_cli, "nats-streams", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    env["FLOWERS_NATS_SEED_FILE"] = str(TEST_SECRETS / "nats" / "operator.nk")
    refused_again = await asyncio.to_thread(flowers_cli, "nats-streams", env=env)
    assert refused_again.returncode == 1, refused_again.stdout + refused_again.stderr
    assert "only the NATS admin may manage streams" in refused_again.stderr
    runtime = build_runtime(settings)
    await runtime.start()
    await runtime.stop()


def test_operator_commands_find_the_stacks_credentials_in_stack_json(tmp_path: Path) -> None:
    from shared.service import resolve_urls

    (tmp_path / "stack.json").write_text(
        json.dumps(
            {
                "nats_url": "nats://127.0.0.1:4999",
                "database_url": "postgresql://postgres@127.0.0.1:5999/postgres",
                "secrets_dir": str(tmp_path / "secrets"),
            }
        )
    )
    found = resolve_urls(Settings(data_dir=tmp_path, secrets_dir=None))
    assert found.nats_url == "nats://127.0.0.1:4999"
    assert found.secrets_dir == tmp_path / "secrets"
    named = resolve_urls(Settings(data_dir=tmp_path, secrets_dir=TEST_SECRETS))
    assert named.secrets_dir == TEST_SECRETS  # a directory named outright wins
