"""Every employee's account: made from the directory, activated with a one-time code.

- **Provisioning** (`EmployeeAccounts.provision`): each active employee of the directory gets
  an account named by their employee number (lower-cased: "HQ1001" signs in as hq1001 or
  HQ1001), role `employee`, their name and unit, and no password (`UNUSABLE_PASSWORD`, which
  never verifies). An employee who already has an account bound to their employee number (made
  by the administrator) gets none. An employee who left the directory (or is marked not in
  post) has their account deactivated: sessions end and API tokens are revoked at once; one
  who comes back is active again.
- **Activation codes** (`issue_codes`): the unit prints a sheet with a code per employee not
  yet activated. Codes are random (`CODE_LENGTH` characters of an alphabet without look-alikes),
  stored as SHA-256 digests only, expire after `activation_code_ttl_days`, and are used once;
  printing a new sheet replaces the unit's codes not yet used.
- **Activation** (`activate`): employee number + code + a new password meeting the password
  policy (length, zxcvbn); the code is spent in the same transaction as the password is set.
  Failures are throttled like sign-ins (by the route, services/gateway/routes/employee_pages.py).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.gateway.accounts import (
    EMPLOYEE,
    USERNAME,
    AccountError,
    AccountStore,
    digest,
    normalise_username,
)
from services.gateway.i18n import Text
from services.gateway.state import Services
from shared.logging import get_logger
from shared.outage import is_outage
from shared.rpc import RemoteError, RpcClient

log = get_logger(__name__)
SYNC_ACTOR = "gateway:directory-sync"

UNUSABLE_PASSWORD = "!unset"
"""The password hash of an account not yet activated: not an argon2 hash, so nothing matches."""
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 signs: no 0/O, no 1/I
CODE_LENGTH = 10  # 50 bits

BAD_CODE: Text = (
    "工号或激活码不正确，或激活码已使用、已过期。请向本单位索取新的激活码。",
    "Wrong employee number or code, or the code was used or has expired; ask your unit for a "
    "new one.",
)


def new_code() -> str:
    """A code as printed: two groups of five ("7KQ2M-X9PRA")."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalise_code(code: str) -> str:
    """What a person types, as stored: upper case, no spaces or dashes."""
    return "".join(code.split()).replace("-", "").upper()


def code_digest(code: str) -> str:
    return digest("activation:" + normalise_code(code))


def username_for(employee_no: str) -> str | None:
    """The account name of an employee number, or None when it cannot be one."""
    name = normalise_username(employee_no)
    return name if USERNAME.fullmatch(name) else None


@dataclass
class ProvisionReport:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    reactivated: int = 0
    skipped: list[str] = field(default_factory=list)  # employee numbers that cannot be names

    def counts(self) -> dict[str, int]:
        """What a log line says of a sync: counts only (the skipped employee numbers are
        personal data; the page and `flowers users sync-employees` show them to the admin)."""
        return {
            "created": self.created,
            "updated": self.updated,
            "deactivated": self.deactivated,
            "reactivated": self.reactivated,
            "skipped": len(self.skipped),
        }

    def summary_zh(self) -> str:
        text = (
            f"新建职工账户 {self.created} 个，更新 {self.updated} 个，"
            f"停用 {self.deactivated} 个，重新启用 {self.reactivated} 个"
        )
        if self.skipped:
            text += f"；{len(self.skipped)} 个工号不能用作用户名：{'、'.join(self.skipped[:10])}"
        return text + "。"


@dataclass(frozen=True)
class IssuedCode:
    employee_no: str
    name: str
    username: str
    code: str
    expires_at: datetime


class EmployeeAccounts:
    def __init__(self, accounts: AccountStore) -> None:
        self.accounts = accounts
        self.pool = accounts.pool
        self.clock = accounts.clock
        self.settings = accounts.settings

    async def provision(
        self, directory: Iterable[dict[str, Any]], *, actor: str
    ) -> ProvisionReport:
        """Bring the employees' accounts in line with the directory (see the module docstring)."""
        report = ProvisionReport()
        present = {e["employee_no"]: e for e in directory if e.get("active", True)}
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT * FROM users WHERE employee_no IS NOT NULL")
            provisioned = {r["employee_no"]: r for r in rows if r["provisioned"]}
            hand_made = {r["employee_no"] for r in rows if not r["provisioned"]}
            taken = {r["username"] for r in await conn.fetch("SELECT username FROM users")}
            for employee_no, e in sorted(present.items()):
                row = provisioned.get(employee_no)
                if row is None:
                    if employee_no in hand_made:
                        continue  # has an account of their own already
                    username = username_for(employee_no)
                    if username is None or username in taken:
                        report.skipped.append(employee_no)
                        continue
                    user_id = uuid.uuid4()
                    await conn.execute(
                        """
                        INSERT INTO users (user_id, username, display_name, password_hash, roles,
                            unit_code, employee_no, active, created_at, created_by, updated_at,
                            provisioned)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9, $8, true)
                        """,
                        user_id,
                        username,
                        e["name"],
                        UNUSABLE_PASSWORD,
                        [EMPLOYEE],
                        e["unit_code"],
                        employee_no,
                        now,
                        actor,
                    )
                    await self.accounts._log(
                        conn, actor, "employee_provisioned", user_id, {"unit_code": e["unit_code"]}
                    )
                    taken.add(username)
                    report.created += 1
                elif (row["display_name"], row["unit_code"], row["active"]) != (
                    e["name"],
                    e["unit_code"],
                    True,
                ):
                    await conn.execute(
                        "UPDATE users SET display_name = $2, unit_code = $3, active = true, "
                        "updated_at = $4 WHERE user_id = $1",
                        row["user_id"],
                        e["name"],
                        e["unit_code"],
                        now,
                    )
                    action = "employee_reactivated" if not row["active"] else "employee_updated"
                    await self.accounts._log(conn, actor, action, row["user_id"], {})
                    if row["active"]:
                        report.updated += 1
                    else:
                        report.reactivated += 1
            for employee_no, row in provisioned.items():
                if employee_no in present or not row["active"]:
                    continue
                await conn.execute(
                    "UPDATE users SET active = false, updated_at = $2 WHERE user_id = $1",
                    row["user_id"],
                    now,
                )
                await conn.execute("DELETE FROM sessions WHERE user_id = $1", row["user_id"])
                await conn.execute(
                    "DELETE FROM activation_codes WHERE user_id = $1", row["user_id"]
                )
                await self.accounts._revoke_tokens_of(conn, row["user_id"], actor, "deactivated")
                await self.accounts._log(conn, actor, "employee_left", row["user_id"], {})
                report.deactivated += 1
        self.accounts.tokens.forget()  # names, units, leavers: no token's user held stale
        return report

    async def issue_codes(self, unit_code: str, *, actor: str) -> list[IssuedCode]:
        """New codes for the unit's active employees not yet activated (replacing unused ones)."""
        now = self.clock.now()
        expires = now + timedelta(days=self.settings.activation_code_ttl_days)
        issued: list[IssuedCode] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM users WHERE provisioned AND active AND activated_at IS NULL "
                "AND unit_code = $1 ORDER BY employee_no",
                unit_code,
            )
            for row in rows:
                code = new_code()
                await conn.execute(
                    """
                    INSERT INTO activation_codes (user_id, code_hash, issued_at, issued_by,
                        expires_at, used_at)
                    VALUES ($1, $2, $3, $4, $5, NULL)
                    ON CONFLICT (user_id) DO UPDATE SET code_hash = $2, issued_at = $3,
                        issued_by = $4, expires_at = $5, used_at = NULL
                    """,
                    row["user_id"],
                    code_digest(code),
                    now,
                    actor,
                    expires,
                )
                issued.append(
                    IssuedCode(
                        row["employee_no"], row["display_name"], row["username"], code, expires
                    )
                )
            await self.accounts._log(
                conn,
                actor,
                "activation_codes_issued",
                None,
                {"unit_code": unit_code, "count": len(rows)},
            )
        return issued

    async def activate(self, employee_no: str, code: str, password: str) -> uuid.UUID:
        """Set the first password with a valid code (AccountError naming the field if not)."""
        username = normalise_username(employee_no)
        now = self.clock.now()
        row = await self.pool.fetchrow(
            """
            SELECT u.user_id, u.username, u.display_name, c.code_hash
            FROM users u JOIN activation_codes c ON c.user_id = u.user_id
            WHERE u.username = $1 AND u.provisioned AND u.active AND u.activated_at IS NULL
              AND c.used_at IS NULL AND c.expires_at > $2
            """,
            username,
            now,
        )
        if row is None or not secrets.compare_digest(row["code_hash"], code_digest(code)):
            raise AccountError({"code": BAD_CODE})
        errors = self.accounts.check_password_rules(password, row["username"], row["display_name"])
        if errors:
            raise AccountError(errors)
        password_hash = await self.accounts.hash_password(password)
        async with self.pool.acquire() as conn, conn.transaction():
            spent = await conn.execute(
                "UPDATE activation_codes SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL "
                "AND code_hash = $3",
                row["user_id"],
                now,
                row["code_hash"],
            )
            if spent != "UPDATE 1":  # used by a concurrent request a moment ago
                raise AccountError({"code": BAD_CODE})
            await conn.execute(
                "UPDATE users SET password_hash = $2, activated_at = $3, updated_at = $3 "
                "WHERE user_id = $1",
                row["user_id"],
                password_hash,
                now,
            )
            await self.accounts._log(conn, "self", "employee_activated", row["user_id"], {})
        user_id: uuid.UUID = row["user_id"]
        return user_id


async def directory_of(svc: Services) -> list[dict[str, Any]]:
    """The whole directory, leavers included (read to sync accounts, never shown)."""
    rows: list[dict[str, Any]] = await svc.query(
        "nomination", "employees", {"unit_code": None, "active_only": False}
    )
    return rows


async def sync_after_import(svc: Services, accounts: AccountStore) -> None:
    """After a directory import: the accounts follow at once (a leaver loses access now, not
    at the next `sync_loop` pass). Best effort: the loop repairs whatever this misses."""
    try:
        await EmployeeAccounts(accounts).provision(await directory_of(svc), actor=SYNC_ACTOR)
    except Exception as exc:  # the import itself succeeded; its reply must still be given
        log.warning("employee_sync_after_import_failed", error=repr(exc))


async def sync_loop(rpc: RpcClient, accounts: AccountStore, interval_s: float) -> None:
    """Every `interval_s`: the accounts brought in line with the directory (a leaver loses
    access within that time even if nobody prints a sheet). Runs until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            directory = await directory_of(Services(rpc, None, "employee-sync"))
            report = await EmployeeAccounts(accounts).provision(directory, actor=SYNC_ACTOR)
        except RemoteError as exc:
            log.warning("employee_sync_failed", error=exc.error.code)
            continue
        except Exception as exc:  # the next round tries again; an outage is only a warning
            if is_outage(exc):
                log.warning("employee_sync_failed", error=repr(exc))
            else:
                log.error("employee_sync_failed", error=repr(exc), exc_info=exc)
            continue
        if report.created or report.deactivated or report.reactivated or report.updated:
            log.info("employee_accounts_synced", **report.counts())
