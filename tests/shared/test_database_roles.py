"""PostgreSQL roles, enforced by the server: each service reaches its own database only, as a
role that is no superuser, cannot make databases or roles, and cannot rewrite its log; every
login needs its password. Both ways of making the roles are checked: the provisioning of
`flowers up` and the test suite (shared/database_roles.py) and deploy/postgres-roles.sql.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from deploy.embedded import _pg_bin_dir
from services.gateway.database import SCHEMA as GATEWAY_SCHEMA
from shared import database_roles
from shared.database_roles import AUDITOR, owner_login
from shared.postgres import STORE_SCHEMA
from shared.settings import PROJECT_ROOT, Settings, with_login
from tests.support import TEST_SECRETS

pytestmark = pytest.mark.integration

Provision = Callable[[Settings], Awaitable[None]]


async def _connect(settings: Settings, database: str, login: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(
        settings.database_url_for(database, login=login)
    )
    return conn


async def _login(url: str) -> None:
    conn = await asyncpg.connect(url)
    await conn.close()


async def _by_the_stack(settings: Settings) -> None:
    await database_roles.provision(settings, ["nomination", "review", "gateway"])
    for name in ("nomination", "review"):
        await database_roles.migrate(settings, name)
    await database_roles.migrate(settings, "gateway", GATEWAY_SCHEMA, store=False)


async def _by_the_sql_file(settings: Settings) -> None:
    """What a DBA runs with psql; then `flowers db migrate` (migrate) as the owners."""
    assert settings.database_admin_url is not None
    psql = await asyncio.create_subprocess_exec(
        str(_pg_bin_dir() / "psql"),
        *("-X", "-w", "-q", "-v", f"prefix={settings.database_prefix}"),
        *("-v", f"passwords={TEST_SECRETS / 'postgres'}"),
        *("-d", settings.database_admin_url.get_secret_value()),
        *("-f", str(PROJECT_ROOT / "deploy" / "postgres-roles.sql")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(psql.communicate(), 120)
    assert psql.returncode == 0, err.decode()
    for name in ("nomination", "review"):
        await database_roles.migrate(settings, name)
    await database_roles.migrate(settings, "gateway", GATEWAY_SCHEMA, store=False)


@pytest.fixture(params=["stack", "sql-file"])
async def provisioned(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    provision: Provision = _by_the_stack if request.param == "stack" else _by_the_sql_file
    await provision(settings)
    return settings


async def test_a_service_role_reaches_its_own_database_only(provisioned: Settings) -> None:
    settings = provisioned
    own = await _connect(settings, "review", "review")
    try:
        assert await own.fetchval("SELECT current_user") == settings.database_role("review")
        assert await own.fetchval("SELECT count(*) FROM events") == 0
        # Another service's database, as its run-time role or as its owner: refused.
        for login in ("review", owner_login("review")):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
                await _connect(settings, "nomination", login)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
            await _connect(settings, "gateway", "review")
        # Nor through its own connection: no cross-database reads, no other copy of the rows.
        with pytest.raises(asyncpg.FeatureNotSupportedError):
            await own.fetchval(
                f'SELECT count(*) FROM "{settings.database_name("nomination")}".public.events'
            )
    finally:
        await own.close()


async def test_the_run_time_role_is_no_superuser_and_cannot_rewrite_the_log(
    provisioned: Settings,
) -> None:
    settings = provisioned
    conn = await _connect(settings, "nomination", "nomination")
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert tuple(role) == (False, False, False, False)
        for statement in (
            'CREATE DATABASE "nope"',
            'CREATE ROLE "nope"',
            "CREATE TABLE nope (v int)",
            "CREATE SCHEMA nope",
            "CREATE TEMP TABLE nope (v int)",
            "DROP TABLE inbox",
            "ALTER TABLE inbox ADD COLUMN nope int",
            "UPDATE events SET data = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
        # What it needs: read and append to the log, change its own tables.
        await conn.execute(
            "INSERT INTO checkpoints (name, position) VALUES ('probe', 1) "
            "ON CONFLICT (name) DO UPDATE SET position = 2"
        )
        await conn.execute("DELETE FROM checkpoints WHERE name = 'probe'")
        assert await conn.fetchval("SELECT position FROM event_log_head") == 0
    finally:
        await conn.close()


async def test_the_auditor_reads_every_service_database_and_writes_none(
    provisioned: Settings,
) -> None:
    settings = provisioned
    for name in ("nomination", "review"):
        conn = await _connect(settings, name, AUDITOR)
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
            for statement in (
                "INSERT INTO checkpoints (name, position) VALUES ('x', 1)",
                "UPDATE event_log_head SET position = 5",
                "DELETE FROM inbox",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            async with conn.transaction():  # a scratch schema of its own (verify, as-of)
                await conn.execute("CREATE SCHEMA audit_scratch")
                await conn.execute("SET LOCAL search_path TO audit_scratch")
                await conn.execute(STORE_SCHEMA)
                await conn.execute("DROP SCHEMA audit_scratch CASCADE")
        finally:
            await conn.close()
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
        await _connect(settings, "gateway", AUDITOR)  # the accounts are not the audit's


async def test_a_login_without_its_password_is_refused(provisioned: Settings) -> None:
    settings = provisioned
    url = settings.database_url_for("review")
    nobody = with_login(url, settings.database_role("review"))
    wrong = with_login(url, settings.database_role("review"), "not-the-password")
    superuser = with_login(url, "postgres")
    for refused in (nobody, wrong, superuser):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await _login(refused)


async def test_a_rebuilt_table_keeps_the_grants(provisioned: Settings) -> None:
    """`flowers audit rebuild` (as the owner) swaps in tables made in a schema of its own."""
    settings = provisioned
    owner = await _connect(settings, "review", owner_login("review"))
    try:
        async with owner.transaction():
            await owner.execute("CREATE SCHEMA audit_rebuild_x")
            await owner.execute("CREATE TABLE audit_rebuild_x.standings (v int)")
            await owner.execute("ALTER TABLE audit_rebuild_x.standings SET SCHEMA public")
            await owner.execute("DROP SCHEMA audit_rebuild_x")
    finally:
        await owner.close()
    runtime = await _connect(settings, "review", "review")
    auditor = await _connect(settings, "review", AUDITOR)
    try:
        await runtime.execute("INSERT INTO standings VALUES (1)")
        assert await auditor.fetchval("SELECT v FROM standings") == 1
    finally:
        await runtime.close()
        await auditor.close()
