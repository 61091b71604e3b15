"""User accounts: roles, argon2id password hashes, API tokens, the account audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from services.gateway.config import GatewaySettings
from services.gateway.i18n import DEPARTMENT_LABELS, Text
from shared.clock import Clock, SystemClock
from shared.logging import get_logger

STAFF = "staff"
EMPLOYEE = "employee"  # an account made from the directory (services/gateway/employees.py)
NOMINATOR = "nominator"
OFFICE = "office"
PANELIST = "panelist"
DISCIPLINE = "discipline"
LEADER = "leader"
PUBLICITY = "publicity"
PAYROLL = "payroll"
AUDITOR = "auditor"
ADMIN = "admin"
ROLES = (
    STAFF,
    EMPLOYEE,
    NOMINATOR,
    OFFICE,
    PANELIST,
    DISCIPLINE,
    LEADER,
    PUBLICITY,
    PAYROLL,
    AUDITOR,
    ADMIN,
)
DEPARTMENTS = tuple(DEPARTMENT_LABELS)

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
PASSWORD_MAX_CHARS = 256
ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters are judged
CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_PREFIX = "flw_"
TOKEN_LAST_USED_STEP = timedelta(minutes=1)
"""A token's `last_used_at` is written when it is this old or older (shown to the minute)."""


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    username: str
    display_name: str
    roles: frozenset[str]
    unit_code: str | None
    department: str | None
    employee_no: str | None
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> User:
        return cls(
            user_id=row["user_id"],
            username=row["username"],
            display_name=row["display_name"],
            roles=frozenset(row["roles"]),
            unit_code=row["unit_code"],
            department=row["department"],
            employee_no=row["employee_no"],
            active=row["active"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True)
class ApiToken:
    token_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class AccountError(Exception):
    """Input an account cannot take: `errors` maps each bad field to its message."""

    def __init__(self, errors: dict[str, Text]) -> None:
        super().__init__("; ".join(f"{k}: {v[1]}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class UserFields:
    """What an administrator sets on an account (the password apart)."""

    display_name: str
    roles: frozenset[str]
    unit_code: str | None = None
    department: str | None = None
    employee_no: str | None = None
    active: bool = True


def validate_fields(fields: UserFields) -> dict[str, Text]:
    errors: dict[str, Text] = {}
    if not fields.display_name.strip() or len(fields.display_name) > 100:
        errors["display_name"] = (
            "请填写姓名（不超过 100 字）。",
            "Enter a name (100 characters at most).",
        )
    unknown = fields.roles - set(ROLES)
    if unknown:
        errors["roles"] = (
            f"未知角色：{', '.join(sorted(unknown))}",
            f"Unknown roles: {sorted(unknown)}",
        )
    elif not fields.roles:
        errors["roles"] = ("请至少选择一个角色。", "Choose at least one role.")
    if fields.unit_code is not None and not CODE.fullmatch(fields.unit_code):
        errors["unit_code"] = (
            "单位代码只能含字母、数字、-、_。",
            "A unit code has letters, digits, - and _ only.",
        )
    elif NOMINATOR in fields.roles and not fields.unit_code:
        errors["unit_code"] = (
            "单位提名人须绑定一个单位。",
            "A nominator must be bound to one unit.",
        )
    if fields.department is not None and fields.department not in DEPARTMENTS:
        errors["department"] = ("未知部门。", "Unknown department.")
    elif PANELIST in fields.roles and not fields.department:
        errors["department"] = ("评审专家须填写所在部门。", "A panelist needs a department.")
    if fields.employee_no is not None and not CODE.fullmatch(fields.employee_no):
        errors["employee_no"] = (
            "工号只能含字母、数字、-、_。",
            "An employee number has letters, digits, - and _ only.",
        )
    return errors


# zxcvbn's warnings (English) in Chinese; one it adds later falls back to the general reason.
WEAK_PASSWORD_WARNINGS: dict[str, Text] = {
    "Straight rows of keys are easy to guess.": (
        "键盘上连成一行的按键很容易被猜到。",
        "Straight rows of keys are easy to guess.",
    ),
    "Short keyboard patterns are easy to guess.": (
        "简短的键盘图案很容易被猜到。",
        "Short keyboard patterns are easy to guess.",
    ),
    'Repeats like "aaa" are easy to guess.': (
        "“aaa”这样的重复很容易被猜到。",
        'Repeats like "aaa" are easy to guess.',
    ),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': (
        "“abcabcabc”这样的重复并不比“abc”难猜多少。",
        'Repeats like "abcabcabc" are only slightly harder to guess than "abc".',
    ),
    'Sequences like "abc" or "6543" are easy to guess.': (
        "“abc”“6543”这样的顺序很容易被猜到。",
        'Sequences like "abc" or "6543" are easy to guess.',
    ),
    "Recent years are easy to guess.": (
        "近些年的年份很容易被猜到。",
        "Recent years are easy to guess.",
    ),
    "Dates are often easy to guess.": ("日期往往很容易被猜到。", "Dates are often easy to guess."),
    "This is a top-10 common password.": (
        "这是最常用的 10 个密码之一。",
        "This is a top-10 common password.",
    ),
    "This is a top-100 common password.": (
        "这是最常用的 100 个密码之一。",
        "This is a top-100 common password.",
    ),
    "This is a very common password.": ("这是非常常用的密码。", "This is a very common password."),
    "This is similar to a commonly used password.": (
        "与常用密码过于相似。",
        "This is similar to a commonly used password.",
    ),
    "A word by itself is easy to guess.": (
        "单独一个词很容易被猜到。",
        "A word by itself is easy to guess.",
    ),
    "Names and surnames by themselves are easy to guess.": (
        "单独的姓名很容易被猜到。",
        "Names and surnames by themselves are easy to guess.",
    ),
    "Common names and surnames are easy to guess.": (
        "常见的姓名很容易被猜到。",
        "Common names and surnames are easy to guess.",
    ),
}
GUESSABLE_REASON: Text = (
    "请使用更长、不常见的词组合，避免用户名、姓名、日期和键盘顺序。",
    "Use a longer mix of uncommon words; avoid your username, name, dates and keyboard runs.",
)


def password_problems(
    password: str, settings: GatewaySettings, personal: Iterable[str] = ()
) -> dict[str, Text]:
    """Why this password may not be set (field "password"), or nothing.

    Shorter than `password_min_length`, or guessable: a zxcvbn score under
    `password_min_score`, with the user's own username and name counted as known words.
    """
    n = settings.password_min_length
    if len(password) < n:
        return {"password": (f"密码至少需要 {n} 个字符。", f"A password needs {n} characters.")}
    if len(password) > PASSWORD_MAX_CHARS:
        return {"password": ("密码过长。", "The password is too long.")}
    judged = zxcvbn(password[:ZXCVBN_MAX_CHARS], user_inputs=[p for p in personal if p])
    if judged["score"] >= settings.password_min_score:
        return {}
    reason = WEAK_PASSWORD_WARNINGS.get(judged["feedback"]["warning"], GUESSABLE_REASON)
    return {
        "password": (
            f"密码过于常见或容易猜到：{reason[0]}",
            f"The password is too common or easy to guess: {reason[1]}",
        )
    }


def normalise_username(username: str) -> str:
    return username.strip().lower()


def digest(secret_value: str) -> str:
    return hashlib.sha256(secret_value.encode()).hexdigest()


CREDENTIALS_CHANNEL = "flowers_credentials"  # notified by schema.sql's triggers
TOKEN_CACHE_MAX = 10_000  # tokens held at most; past it, all are dropped

log = get_logger(__name__)


class TokenCache:
    """Bearer tokens' users, held `ttl_s` seconds by this process, only while it hears
    every change of a user or a token.

    schema.sql's triggers notify `flowers_credentials` whenever a user changes or a token
    is revoked or deleted, from whatever process or tool; on it every listening gateway
    drops all it holds. The process that made a change through AccountStore forgets at
    once, before the change's call returns: a revocation holds at once in that process,
    and in the others as soon as PostgreSQL delivers the notification (right after the
    commit). While the listening connection is down, nothing is held. A look-up under way
    when a change is heard is used for its one request but not kept (`generation`).
    """

    def __init__(self, pool: asyncpg.Pool, ttl_s: float) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self.generation = 0
        self._held: dict[str, tuple[User, float]] = {}
        self._conn: Any = None  # the pool's connection that listens, while it does
        self._retry: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._conn is not None

    async def listen(self) -> None:
        """Hear the changes (start-up); without this nothing is ever held."""
        if self.ttl_s <= 0 or self._closed:
            return
        conn = await self.pool.acquire()
        try:
            triggers = await conn.fetchval(
                "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname = "
                "ANY ('{users_changed,api_tokens_changed}'::text[])"
            )
            if triggers != 2:  # a database not migrated yet: changes would go unheard
                log.warning("token_cache_off", reason="schema.sql's triggers are missing")
                await self.pool.release(conn)
                return
            await conn.add_listener(CREDENTIALS_CHANNEL, self._heard)
            conn.add_termination_listener(self._lost)
        except BaseException:
            await self.pool.release(conn)
            raise
        self.forget()  # what changed before we listened is not held either
        self._conn = conn

    async def close(self) -> None:
        self._closed = True
        self.forget()
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(BaseException):
                await self._retry
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # asyncpg's reset keeps these
                conn.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await conn.remove_listener(CREDENTIALS_CHANNEL, self._heard)
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    def get(self, token_hash: str) -> User | None:
        held = self._held.get(token_hash)
        if held is None or self._conn is None:
            return None
        user, until = held
        if time.monotonic() >= until:
            del self._held[token_hash]
            return None
        return user

    def put(self, token_hash: str, user: User, generation: int) -> None:
        if self._conn is None or generation != self.generation:
            return
        if len(self._held) >= TOKEN_CACHE_MAX:
            self._held.clear()
        self._held[token_hash] = (user, time.monotonic() + self.ttl_s)

    def forget(self) -> None:
        self.generation += 1
        self._held.clear()

    def _heard(self, *_: object) -> None:
        self.forget()

    def _lost(self, *_: object) -> None:
        """The listening connection closed (PostgreSQL restarted): hold nothing until
        listening again."""
        self.forget()
        conn, self._conn = self._conn, None
        if self._closed or (self._retry is not None and not self._retry.done()):
            return
        log.warning("token_cache_not_listening")
        self._retry = asyncio.get_running_loop().create_task(self._listen_again(conn))

    async def _listen_again(self, lost: Any) -> None:
        if lost is not None:
            with contextlib.suppress(Exception):  # a dead connection may refuse it
                lost.remove_termination_listener(self._lost)
            with contextlib.suppress(Exception):
                await self.pool.release(lost)
        while not self._closed and self._conn is None:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.listen()


class AccountStore:
    """Accounts in the gateway's database. Hashing runs in a thread: it is slow on purpose."""

    def __init__(
        self, pool: asyncpg.Pool, settings: GatewaySettings, clock: Clock | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._dummy_hash: str | None = None
        self.tokens = TokenCache(pool, settings.token_cache_s)

    # Passwords ---------------------------------------------------------------------

    def check_password_rules(self, password: str, *personal: str) -> dict[str, Text]:
        return password_problems(password, self.settings, personal)

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this password, or None. Unknown names cost the same time."""
        row = await self.pool.fetchrow(
            "SELECT * FROM users WHERE username = $1", normalise_username(username)
        )
        if row is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash_password(secrets.token_hex(16))
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(row["password_hash"], password) or not row["active"]:
            return None
        if self.hasher.check_needs_rehash(row["password_hash"]):
            await self.pool.execute(
                "UPDATE users SET password_hash = $2 WHERE user_id = $1",
                row["user_id"],
                await self.hash_password(password),
            )
        return User.from_row(row)

    # Users -------------------------------------------------------------------------

    async def create_user(
        self, username: str, password: str, fields: UserFields, *, actor: str
    ) -> User:
        name = normalise_username(username)
        errors = validate_fields(fields)
        if not USERNAME.fullmatch(name):
            errors["username"] = (
                "用户名为 2–32 位小写字母、数字或 . _ -。",
                "A username has 2–32 lowercase letters, digits or . _ -.",
            )
        errors.update(self.check_password_rules(password, name, fields.display_name))
        if errors:
            raise AccountError(errors)
        password_hash = await self.hash_password(password)
        now = self.clock.now()
        user_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                row = await conn.fetchrow(
                    """
                    INSERT INTO users (user_id, username, display_name, password_hash, roles,
                        unit_code, department, employee_no, active, created_at, created_by,
                        updated_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10) RETURNING *
                    """,
                    user_id,
                    name,
                    fields.display_name.strip(),
                    password_hash,
                    sorted(fields.roles),
                    fields.unit_code,
                    fields.department,
                    fields.employee_no,
                    fields.active,
                    now,
                    actor,
                )
            except asyncpg.UniqueViolationError:
                raise AccountError(
                    {"username": ("该用户名已被使用。", "This username is taken.")}
                ) from None
            await self._log(conn, actor, "user_created", user_id, _describe(fields))
        assert row is not None
        return User.from_row(row)

    async def update_user(self, user_id: uuid.UUID, fields: UserFields, *, actor: str) -> User:
        errors = validate_fields(fields)
        if errors:
            raise AccountError(errors)
        async with self.pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM users WHERE user_id = $1 FOR UPDATE", user_id
            )
            if before is None:
                raise AccountError({"user": ("找不到该用户。", "No such user.")})
            if ADMIN in before["roles"] and (ADMIN not in fields.roles or not fields.active):
                others = await conn.fetchval(
                    "SELECT count(*) FROM users WHERE active AND 'admin' = ANY (roles) "
                    "AND user_id <> $1",
                    user_id,
                )
                if others == 0:
                    raise AccountError(
                        {
                            "roles": (
                                "不能移除最后一位系统管理员。",
                                "The last administrator cannot be removed.",
                            )
                        }
                    )
            row = await conn.fetchrow(
                """
                UPDATE users SET display_name = $2, roles = $3, unit_code = $4, department = $5,
                    employee_no = $6, active = $7, updated_at = $8
                WHERE user_id = $1 RETURNING *
                """,
                user_id,
                fields.display_name.strip(),
                sorted(fields.roles),
                fields.unit_code,
                fields.department,
                fields.employee_no,
                fields.active,
                self.clock.now(),
            )
            await self._log(conn, actor, "user_updated", user_id, _describe(fields))
            if not fields.active:  # roles are read per request; a closed account signs out now
                await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
                # For good: opening the account again brings none of its tokens back.
                await self._revoke_tokens_of(conn, user_id, actor, "deactivated")
        self.tokens.forget()
        assert row is not None
        return User.from_row(row)

    async def set_password(
        self, user_id: uuid.UUID, password: str, *, actor: str, keep_session: str | None = None
    ) -> None:
        """A new password ends every session of the account but `keep_session` (the raw
        cookie of the user changing their own) and revokes every API token of it."""
        user = await self.get(user_id)
        if user is None:
            raise AccountError({"user": ("找不到该用户。", "No such user.")})
        errors = self.check_password_rules(password, user.username, user.display_name)
        if errors:
            raise AccountError(errors)
        password_hash = await self.hash_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE users SET password_hash = $2, updated_at = $3 WHERE user_id = $1",
                user_id,
                password_hash,
                self.clock.now(),
            )
            await conn.execute(
                "DELETE FROM sessions WHERE user_id = $1 AND session_hash <> $2",
                user_id,
                digest(keep_session) if keep_session else "",
            )
            await self._log(conn, actor, "password_set", user_id, {})
            await self._revoke_tokens_of(conn, user_id, actor, "password_set")
        self.tokens.forget()

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self.pool.fetchrow("SELECT * FROM users WHERE user_id = $1", user_id)
        return User.from_row(row) if row else None

    async def by_username(self, username: str) -> User | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM users WHERE username = $1", normalise_username(username)
        )
        return User.from_row(row) if row else None

    async def list_users(self) -> list[User]:
        rows = await self.pool.fetch("SELECT * FROM users ORDER BY username")
        return [User.from_row(r) for r in rows]

    async def count_admins(self) -> int:
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM users WHERE active AND 'admin' = ANY (roles)"
        )
        return count

    async def display_names(self, actors: Iterable[str]) -> dict[str, str]:
        """Actor ids (user ids in commands) → display names, for showing who did what."""
        ids: list[uuid.UUID] = []
        for actor in set(actors):
            try:
                ids.append(uuid.UUID(actor))
            except (ValueError, TypeError):
                continue
        if not ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT user_id, display_name FROM users WHERE user_id = ANY($1::uuid[])", ids
        )
        return {str(r["user_id"]): r["display_name"] for r in rows}

    # API tokens --------------------------------------------------------------------

    async def create_token(
        self, user_id: uuid.UUID, name: str, *, actor: str
    ) -> tuple[ApiToken, str]:
        """A new bearer token; the value is returned once and only its digest is kept."""
        name = name.strip() or "api"
        if len(name) > 100:
            raise AccountError({"name": ("名称过长。", "The name is too long.")})
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = uuid.uuid4()
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO api_tokens (token_id, token_hash, user_id, name, created_at, "
                "created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                token_id,
                digest(raw),
                user_id,
                name,
                now,
                actor,
            )
            await self._log(conn, actor, "token_created", user_id, {"token_id": str(token_id)})
        return ApiToken(token_id, user_id, name, now, None, None), raw

    async def tokens_of(self, user_id: uuid.UUID) -> list[ApiToken]:
        rows = await self.pool.fetch(
            "SELECT token_id, user_id, name, created_at, last_used_at, revoked_at "
            "FROM api_tokens WHERE user_id = $1 ORDER BY created_at",
            user_id,
        )
        return [ApiToken(**dict(r)) for r in rows]

    async def revoke_token(self, token_id: uuid.UUID, *, actor: str) -> uuid.UUID | None:
        async with self.pool.acquire() as conn, conn.transaction():
            user_id: uuid.UUID | None = await conn.fetchval(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) "
                "WHERE token_id = $1 RETURNING user_id",
                token_id,
                self.clock.now(),
            )
            if user_id is not None:
                await self._log(conn, actor, "token_revoked", user_id, {"token_id": str(token_id)})
        self.tokens.forget()
        return user_id

    async def _revoke_tokens_of(
        self, conn: asyncpg.Connection, user_id: uuid.UUID, actor: str, reason: str
    ) -> None:
        revoked = await conn.fetch(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL "
            "RETURNING token_id",
            user_id,
            self.clock.now(),
        )
        for row in revoked:
            await self._log(
                conn,
                actor,
                "token_revoked",
                user_id,
                {"token_id": str(row["token_id"]), "reason": reason},
            )

    async def user_for_token(self, raw: str) -> User | None:
        if not raw.startswith(TOKEN_PREFIX):
            return None
        token_hash = digest(raw)
        held = self.tokens.get(token_hash)
        if held is not None:
            return held
        generation = self.tokens.generation
        # Read, and `last_used_at` written only when it is a minute old or more (it is shown
        # to the minute): most requests are a read, with no WAL to flush at commit.
        row = await self.pool.fetchrow(
            """
            WITH found AS (
                SELECT t.token_id, t.user_id, t.last_used_at
                FROM api_tokens t JOIN users u ON u.user_id = t.user_id
                WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active
            ), touched AS (
                UPDATE api_tokens t SET last_used_at = $2::timestamptz FROM found f
                WHERE t.token_id = f.token_id
                  AND (f.last_used_at IS NULL OR f.last_used_at <= $2::timestamptz - $3::interval)
                RETURNING 1
            )
            SELECT u.* FROM users u JOIN found f ON u.user_id = f.user_id
            """,
            token_hash,
            self.clock.now(),
            TOKEN_LAST_USED_STEP,
        )
        if row is None:
            return None
        user = User.from_row(row)
        self.tokens.put(token_hash, user, generation)
        return user

    async def changes(self, limit: int = 100) -> Sequence[asyncpg.Record]:
        rows: Sequence[asyncpg.Record] = await self.pool.fetch(
            "SELECT * FROM account_changes ORDER BY change_id DESC LIMIT $1", limit
        )
        return rows

    async def _log(
        self,
        conn: asyncpg.Connection,
        actor: str,
        action: str,
        user_id: uuid.UUID | None,
        details: dict[str, Any],
    ) -> None:
        await conn.execute(
            "INSERT INTO account_changes (at, actor, action, user_id, details) "
            "VALUES ($1, $2, $3, $4, $5)",
            self.clock.now(),
            actor,
            action,
            user_id,
            details,
        )


def _describe(fields: UserFields) -> dict[str, Any]:
    return {
        "display_name": fields.display_name,
        "roles": sorted(fields.roles),
        "unit_code": fields.unit_code,
        "department": fields.department,
        "employee_no": fields.employee_no,
        "active": fields.active,
    }
