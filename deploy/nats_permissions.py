"""Who may publish and subscribe to what on NATS: the one permissions table.

The embedded stack (deploy/embedded.py), the test servers and the production
configuration (`flowers nats-config`, deploy/production/) are all generated from it, so the
model is the same everywhere. Each process authenticates with its own nkey
(deploy/secrets.py); the server enforces the lists below, so a fact on
`flowers.evt.review.*` came from review.

In brief (README, "Security model"):

* a service publishes only its own facts `flowers.evt.<service>.>` (rewards also the
  payroll feed `flowers.payroll.adjustment.>`), the dead letters of its own consumers
  `flowers.dlq.<consumer>`, replies to the requests it serves (`allow_responses`), and the
  JetStream API calls of its own durable consumers; it subscribes only to its own commands
  and queries and to its own reply inboxes `_INBOX_<user>.>` (each user has its own, so
  nobody reads the answers meant for another);
* the gateway sends commands and queries and reads FLOWERS for the audit pages (ephemeral
  consumers only);
* the operator (`flowers audit|dlq|payroll|directory|health`) sends commands and queries,
  reads FLOWERS, FLOWERS_DLQ and PAYROLL through ephemeral consumers and direct gets,
  deletes dead letters and logs that on `flowers.dlq.log.>`; it can neither create,
  change, delete nor purge a stream, nor delete a message of FLOWERS or PAYROLL;
* `payroll` (the payroll system) only pulls PAYROLL through its durable consumer;
* `admin` may do anything: only it creates, updates and deletes streams.

NATS matches `*` and `>` on whole tokens only (`review-*` is no wildcard), so every durable
consumer is named in full: `SERVICE_CONSUMERS` must list exactly the consumers each
service's app declares (tests/deploy/test_nats_permissions.py keeps it so).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.bus import DLQ_STREAM, EVENTS_STREAM, PAYROLL_CONSUMER, PAYROLL_STREAM, inbox_prefix
from shared.contracts.nomination import ExpiredPersonalDataShredded, PersonalDataErased
from shared.credentials import SecretsLayout
from shared.scrub import SUBJECTS as PRIVACY_SUBJECTS
from shared.settings import SERVICES

JS = "$JS.API"


def inbox(user: str) -> str:
    """The reply inboxes only `user` may read (shared.bus.inbox_prefix)."""
    return f"{inbox_prefix(user)}.>"


# Every durable consumer of FLOWERS, by the service that owns it.
SERVICE_CONSUMERS: dict[str, tuple[str, ...]] = {
    "nomination": ("nomination-review", "nomination-privacy"),
    "review": ("review-nomination", "review-privacy"),
    "rewards": ("rewards-review", "rewards-privacy"),
    "publicity": ("publicity-drafts", "publicity-stats", "publicity-privacy"),
    "notification": ("notification-facts", "notification-privacy"),
}
# The streams a service publishes to or checks at start-up.
SERVICE_STREAMS: dict[str, tuple[str, ...]] = {
    "nomination": (EVENTS_STREAM, DLQ_STREAM),
    "review": (EVENTS_STREAM, DLQ_STREAM),
    "rewards": (EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM),
    "publicity": (EVENTS_STREAM, DLQ_STREAM),
    "notification": (EVENTS_STREAM, DLQ_STREAM),
}
# Durable consumers of other streams (created by the admin with the streams).
STREAM_CONSUMERS: dict[str, tuple[str, ...]] = {PAYROLL_STREAM: (PAYROLL_CONSUMER,)}


@dataclass(frozen=True)
class Permissions:
    """One user's rights. `None` (the admin's): no permissions block, everything allowed."""

    publish_allow: tuple[str, ...] = ()
    publish_deny: tuple[str, ...] = ()
    subscribe_allow: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()
    allow_responses: bool = False

    def as_config(self) -> dict[str, object]:
        publish: dict[str, object] = {"allow": list(self.publish_allow)}
        if self.publish_deny:
            publish["deny"] = list(self.publish_deny)
        subscribe: dict[str, object] = {"allow": list(self.subscribe_allow)}
        if self.subscribe_deny:
            subscribe["deny"] = list(self.subscribe_deny)
        config: dict[str, object] = {"publish": publish, "subscribe": subscribe}
        if self.allow_responses:
            config["allow_responses"] = True
        return config


def _durable_consumer(stream: str, name: str, *, create: bool = True) -> list[str]:
    """The API calls (and acks) of one durable pull consumer, by its exact name.

    nats-py creates a named consumer on `CONSUMER.CREATE.<stream>.<name>` (followed by its
    filter subject when it has exactly one); DURABLE.CREATE is the older form. Its owner may
    also RESET it to its ack floor (a clean stop's handover, shared/leader.py)."""
    rights = [
        f"{JS}.CONSUMER.INFO.{stream}.{name}",
        f"{JS}.CONSUMER.MSG.NEXT.{stream}.{name}",
        f"$JS.ACK.{stream}.{name}.>",
    ]
    if create:
        rights[:0] = [
            f"{JS}.CONSUMER.CREATE.{stream}.{name}",
            f"{JS}.CONSUMER.CREATE.{stream}.{name}.>",
            f"{JS}.CONSUMER.DURABLE.CREATE.{stream}.{name}",
            f"{JS}.CONSUMER.RESET.{stream}.{name}",
        ]
    return rights


def _ephemeral_readers(streams: Iterable[str]) -> list[str]:
    """Reading streams through short-lived consumers (ordered replays, audit feeds)."""
    rights: list[str] = []
    for stream in streams:
        rights += [
            f"{JS}.STREAM.INFO.{stream}",
            f"{JS}.CONSUMER.CREATE.{stream}",  # an unnamed (ordered) consumer
            f"{JS}.CONSUMER.CREATE.{stream}.>",  # a named ephemeral one (random name)
            f"{JS}.CONSUMER.INFO.{stream}.*",
            f"{JS}.CONSUMER.MSG.NEXT.{stream}.*",
            f"{JS}.CONSUMER.DELETE.{stream}.*",
            f"$JS.FC.{stream}.>",  # flow control replies of an ordered consumer
        ]
    return rights


def _hands_off_durables(own: Iterable[str] = ()) -> list[str]:
    """What a stream reader must not do to the services' (and payroll's) durable consumers
    (but its `own`): reconfigure, delete, reset, or pull from them (which would steal their
    deliveries)."""
    mine = set(own)
    durables = [
        (EVENTS_STREAM, c) for cs in SERVICE_CONSUMERS.values() for c in cs if c not in mine
    ]
    durables += [(s, c) for s, cs in STREAM_CONSUMERS.items() for c in cs]
    rights = [f"{JS}.CONSUMER.DURABLE.CREATE.>"]
    for stream, name in durables:
        rights += [
            f"{JS}.CONSUMER.CREATE.{stream}.{name}",
            f"{JS}.CONSUMER.CREATE.{stream}.{name}.>",
            f"{JS}.CONSUMER.DELETE.{stream}.{name}",
            f"{JS}.CONSUMER.RESET.{stream}.{name}",
            f"{JS}.CONSUMER.MSG.NEXT.{stream}.{name}",
            f"$JS.ACK.{stream}.{name}.>",
        ]
    return rights


# Never for anyone but the admin (listed as denials too, so the table says it plainly).
STREAM_MANAGEMENT = (
    f"{JS}.STREAM.CREATE.>",
    f"{JS}.STREAM.UPDATE.>",
    f"{JS}.STREAM.DELETE.>",
    f"{JS}.STREAM.PURGE.>",
)


def service_permissions(service: str) -> Permissions:
    consumers = SERVICE_CONSUMERS[service]
    publish = [f"flowers.evt.{service}.>"]
    if service == "rewards":
        publish.append("flowers.payroll.adjustment.>")
    publish += [f"flowers.dlq.{c}" for c in consumers]
    publish += [f"{JS}.STREAM.INFO.{s}" for s in SERVICE_STREAMS[service]]
    for consumer in consumers:
        publish += _durable_consumer(EVENTS_STREAM, consumer)
    # A scrub re-derives the projections fed by consumed events from FLOWERS (ephemeral
    # readers, shared/scrub.py); every instance hears the privacy facts on core NATS.
    publish += _ephemeral_readers([EVENTS_STREAM])
    return Permissions(
        publish_allow=tuple(publish),
        publish_deny=(*STREAM_MANAGEMENT, *_hands_off_durables(consumers)),
        subscribe_allow=(
            f"flowers.cmd.{service}.>",
            f"flowers.qry.{service}.>",
            inbox(service),
            *PRIVACY_SUBJECTS,
        ),
        allow_responses=True,
    )


def gateway_permissions() -> Permissions:
    return Permissions(
        publish_allow=("flowers.cmd.>", "flowers.qry.>", *_ephemeral_readers([EVENTS_STREAM])),
        publish_deny=(*STREAM_MANAGEMENT, *_hands_off_durables()),
        # The retention job's runs: the drafts they outdate are deleted (gateway/drafts.py);
        # both privacy facts wake the evidence sweep (gateway/evidence_sweep.py).
        subscribe_allow=(
            inbox("gateway"),
            ExpiredPersonalDataShredded.subject(),
            PersonalDataErased.subject(),
        ),
    )


def operator_permissions() -> Permissions:
    streams = [EVENTS_STREAM, DLQ_STREAM, PAYROLL_STREAM]
    publish = ["flowers.cmd.>", "flowers.qry.>", "flowers.dlq.log.>"]
    publish += _ephemeral_readers(streams)
    for stream in streams:
        publish += [f"{JS}.STREAM.MSG.GET.{stream}", f"{JS}.DIRECT.GET.{stream}.>"]
        publish.append(f"{JS}.DIRECT.GET.{stream}")
    publish.append(f"{JS}.STREAM.MSG.DELETE.{DLQ_STREAM}")  # `flowers dlq drop|redrive`
    return Permissions(
        publish_allow=tuple(publish),
        publish_deny=(
            *STREAM_MANAGEMENT,
            f"{JS}.STREAM.MSG.DELETE.{EVENTS_STREAM}",
            f"{JS}.STREAM.MSG.DELETE.{PAYROLL_STREAM}",
            *_hands_off_durables(),
        ),
        subscribe_allow=(inbox("operator"),),
    )


def payroll_permissions() -> Permissions:
    return Permissions(
        publish_allow=tuple(_durable_consumer(PAYROLL_STREAM, PAYROLL_CONSUMER, create=False)),
        publish_deny=STREAM_MANAGEMENT,
        subscribe_allow=(inbox("payroll"),),
    )


def permissions(user: str) -> Permissions | None:
    """The rights of a NATS user (deploy/secrets.py NATS_USERS); None: the admin's, all."""
    if user == "admin":
        return None
    if user in SERVICES:
        return service_permissions(user)
    builders: dict[str, Callable[[], Permissions]] = {
        "gateway": gateway_permissions,
        "operator": operator_permissions,
        "payroll": payroll_permissions,
    }
    if user not in builders:
        raise KeyError(f"no NATS permissions defined for user {user!r}")
    return builders[user]()


def authorization_block(public_keys: dict[str, str], indent: str = "") -> str:
    """The server configuration's `authorization { users = [...] }` from each user's nkey
    public key (never a secret: seeds stay with their processes)."""
    lines = [f"{indent}authorization {{", f"{indent}  users = ["]
    for user, key in public_keys.items():
        if not key.startswith("U"):
            raise ValueError(f"the NATS public key of {user} is not a user nkey: {key[:8]}…")
        entry: dict[str, object] = {"nkey": key}
        rights = permissions(user)
        if rights is not None:
            entry["permissions"] = rights.as_config()
        lines.append(f"{indent}    # {user}")
        lines.append(f"{indent}    {json.dumps(entry, ensure_ascii=False)}")
    lines += [f"{indent}  ]", f"{indent}}}"]
    return "\n".join(lines) + "\n"


def secrets_authorization(root: Path) -> str:
    """The authorization block for every user of a secrets directory (deploy/secrets.py)."""
    from deploy.secrets import NATS_USERS

    layout = SecretsLayout(root)
    return authorization_block(
        {u: layout.nats_public_key_file(u).read_text().strip() for u in NATS_USERS}
    )
