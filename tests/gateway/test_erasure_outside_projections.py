"""An erasure reaches what the projections do not hold (docs/privacy.md "Outside the
projections"): the evidence files only the erased nominee's nominations named, the links'
file names (sealed in the events), the notification service's address book and queued
e-mails, and the gateway's account of the employee. Someone else's stay. Proved on the real
servers: every service and the gateway run, the office erases through the API, and every
database is searched byte-wise in `pg_dump` afterwards, the file store on disk."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from services.gateway.accounts import STAFF, UserFields
from services.gateway.erasure import erased_username
from services.notification import addressbook
from shared.database_roles import KEYS
from shared.personal_data import ERASED
from shared.settings import Settings
from tests.e2e.test_erasure import dump
from tests.gateway.harness import UNIT_A, Harness, nomination_body, running_gateway
from tests.support import eventually, until_scrubbed

pytestmark = pytest.mark.integration

DATABASES = ("nomination", "review", "rewards", "publicity", "notification", "gateway", KEYS)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Harness]:
    async with running_gateway(settings) as harness:
        yield harness


def pdf(tag: str) -> bytes:
    """A small PDF of its own bytes (the file store is shared by the session's tests)."""
    return f"%PDF-1.4\n% {tag} {uuid.uuid4()}\n%%EOF\n".encode()


def employee_number(number: str) -> re.Pattern[bytes]:
    """The number as a value, not by chance inside a base64 ciphertext."""
    return re.compile(rb"(?<![A-Za-z0-9+/])" + number.encode() + rb"(?![A-Za-z0-9+/=])")


async def person(gateway: Harness, username: str, name: str, employee_no: str) -> str:
    """An employee's own account with an e-mail address in the notification settings."""
    user = await gateway.state.accounts.create_user(
        username,
        "Flowers-test-1",
        UserFields(name, frozenset({STAFF}), employee_no=employee_no),
        actor="test",
    )
    gateway.users[username] = user
    async with gateway.client() as client:
        saved = await client.put(
            "/api/v1/notification-settings",
            json={
                "email": f"{username}@example.cn",
                "channels": ["inbox", "email"],
                "quiet_start": None,
                "quiet_end": None,
            },
            headers={"Authorization": f"Bearer {await gateway.token(username)}"},
        )
    assert saved.status_code == 200, saved.text
    return str(user.user_id)


async def test_an_erasure_reaches_files_contacts_and_accounts_and_leaves_others(
    gateway: Harness, settings: Settings, pg_url: str
) -> None:
    await gateway.account("wy", {"nominator"}, unit_code=UNIT_A)
    await gateway.account("office", {"office"})
    zhang = await person(gateway, "zhangwei", "张伟", "E100")
    await person(gateway, "lina", "李娜", "E101")
    # Zhang Wei has left: the directory sync deactivated his account (kept, name and all).
    gone = gateway.users["zhangwei"]
    fields = UserFields(gone.display_name, frozenset(gone.roles), employee_no="E100")
    await gateway.state.accounts.update_user(
        gone.user_id, replace(fields, active=False), actor="test"
    )

    only_his, shared, only_hers = pdf("his"), pdf("shared"), pdf("hers")
    his_name = "张伟-维修台账.pdf"
    bearer = {"Authorization": f"Bearer {await gateway.token('wy')}"}
    links: dict[bytes, str] = {}
    async with gateway.client() as client:
        for data, name in ((only_his, his_name), (shared, "班组合影.pdf"), (only_hers, "l.pdf")):
            kept = await client.post(
                "/api/v1/evidence", files={"file": (name, data)}, headers=bearer
            )
            assert kept.status_code == 201, kept.text
            links[data] = kept.json()["link"]
        for employee_no, category, named in (
            ("E100", "striving", [only_his, shared]),
            ("E101", "dedication", [shared, only_hers]),
        ):
            sent = await client.post(
                "/api/v1/nominations",
                json=nomination_body(
                    employee_no, category=category, evidence_links=[links[f] for f in named]
                ),
                headers=bearer,
            )
            assert sent.status_code == 201, sent.text
    # The links travel sealed: the file's name is not in the log in clear.
    nomination_log = await gateway.nomination.store.pool.fetchval(
        "SELECT string_agg(data::text, '') FROM events WHERE type = 'NominationSubmitted'"
    )
    assert "维修台账" not in nomination_log
    assert "/files/" not in nomination_log
    # Review recorded both candidates (their links opened, as the panel reads them).
    review = gateway.review
    assert review is not None

    async def both_candidates() -> bool:
        return await review.store.pool.fetchval("SELECT count(*) FROM candidates") == 2

    await eventually(both_candidates, timeout=30, what="review to record the candidates")
    store = settings.data_dir / "files"
    digest = {data: hashlib.sha256(data).hexdigest() for data in links}
    assert all((store / d[:2] / d).exists() for d in digest.values())

    # Contacts saved before the address book kept pseudonyms get theirs at the service's start.
    assert gateway.notification is not None
    book = gateway.notification.store.pool
    await book.execute("UPDATE contacts SET subject_id = NULL")
    assert await addressbook.backfill_subjects(book) == 2
    assert await book.fetchval("SELECT count(subject_id) FROM contacts") == 2

    async with gateway.client() as client:
        erased = await client.post(
            "/api/v1/employees/E100/erasure",
            json={"reason": "本人书面申请删除"},
            headers={"Authorization": f"Bearer {await gateway.token('office')}"},
        )
    assert erased.status_code == 200, erased.text
    subject_id = uuid.UUID(erased.json()["subject_id"])

    fact = await gateway.nomination.store.pool.fetchval(
        "SELECT event_id FROM events WHERE type = 'PersonalDataErased'"
    )
    runtimes = (gateway.nomination, review, gateway.notification, gateway.publicity)
    await until_scrubbed([r for r in runtimes if r is not None], fact)

    # The file only his nomination named is gone; the shared one and hers stay.
    assert not (store / digest[only_his][:2] / digest[only_his]).exists()
    assert (store / digest[shared][:2] / digest[shared]).exists()
    assert (store / digest[only_hers][:2] / digest[only_hers]).exists()
    # His account keeps no real name; hers is as it was.
    account = await gateway.state.pool.fetchrow(
        "SELECT * FROM users WHERE user_id = $1", uuid.UUID(zhang)
    )
    assert account["username"] == erased_username(subject_id)
    assert (account["display_name"], account["employee_no"], account["active"]) == (
        ERASED,
        None,
        False,
    )
    contacts = await book.fetch("SELECT user_id, email FROM contacts ORDER BY user_id")
    assert [r["email"] for r in contacts] == ["lina@example.cn"]

    dumps = {db: dump(pg_url, settings.database_name(db)) for db in DATABASES}
    for db, data in dumps.items():
        for needle in ("张伟".encode(), b"zhangwei", "维修台账".encode(), only_his):
            assert needle not in data, f"{needle!r} still in {db}"
        assert not employee_number("E100").search(data), f"E100 still in {db}"
    # Someone else's data stays: her name, number, address and links.
    assert "李娜".encode() in dumps["gateway"]
    assert b"lina@example.cn" in dumps["notification"]
    assert employee_number("E101").search(dumps["nomination"])
    assert digest[only_hers].encode() in dumps["review"]
