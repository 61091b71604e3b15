"""Deadline day with real processes: nominators submit and amend at once through the
gateway's HTTP API while panelists score, every service its own process.

The system is started by deploy/stack.py's `Stack` exactly as `flowers up` starts it (four
`faststream run` processes and uvicorn, each with its own NATS user, database role and the
trusted identity keys); only NATS and PostgreSQL are the bench's. Before the processes
start, the set-up goes through the real commands with the nomination and review services
in-process on a clock in the past (as `flowers up`'s demo does): a directory with one unit
per five nominators, a past round closed, audited and given a panel of three departments.
Then each run opens no server-side shortcut: every request carries a bearer API token, the
gateway signs the identity, the service verifies it.

A nominator submits one nomination (their unit's nominee for their flower, so the default
quota of one per unit and flower makes every one legitimate) and then amends it; the
panelists score a slice of the past round's nominations meanwhile. Each run uses a round
of its own (the current one, then the next ones). After a run the nomination log must
hold exactly one NominationSubmitted and one NominationAmended per successful request.
"""

from __future__ import annotations

import asyncio
import math
import os
import ssl
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.stack import BenchStack
from bench.system import start, system
from bench.table import percentile, progress
from deploy.demo import current_round
from deploy.demo_round import at, wait_for
from deploy.stack import Stack
from services.gateway.accounts import AccountStore, UserFields
from services.gateway.config import GatewaySettings
from services.gateway.database import open_database
from services.nomination.app import build_runtime as nomination_runtime
from services.review.app import build_runtime as review_runtime
from shared.bus import connect_nats
from shared.clock import FixedClock
from shared.contracts.common import Category
from shared.contracts.nomination import round_stream_id
from shared.credentials import identity_signer, nats_seed
from shared.identity import Identity
from shared.rounds import Cadence, RoundPeriod
from shared.rpc import SelfSigningRpcClient
from shared.service import ServiceRuntime

FLOWERS = list(Category)
PANEL = (("general_office", "P901"), ("finance", "P902"), ("enterprise_management", "P903"))
CRITERIA = ("achievements", "exemplary_role", "innovation", "recognition")
SCORES_PER_PANELIST = 20  # per run
DEEDS = (
    "该同志扎根一线十余年，带领班组连续三年零投诉，主动承担老旧小区管网改造任务，"
    "节约维修成本十二万元；疫情期间坚守岗位四十余天，保障职工生活物资供应不断档。"
)
RECOMMENDATION = "经单位研究，同意推荐。"
AMENDED = "经单位党政联席会研究，一致同意推荐。"


def unit_code(u: int) -> str:
    return f"DL{u:03d}"


def employee_no(u: int, k: int) -> str:
    return f"DL{u:03d}-{k:02d}"


def units_for(nominators: int) -> int:
    """One unit per five nominators: each nominates the unit's nominee for one flower."""
    return math.ceil(nominators / len(FLOWERS))


def directory(units: int) -> list[dict[str, Any]]:
    """Each unit: one employee per flower for the live rounds, one for the past round."""
    return [
        {
            "unit_code": unit_code(u),
            "unit_name": f"第{u + 1}基层单位",
            "employee_no": employee_no(u, k),
            "name": f"职工{u + 1}之{k + 1}",
            "position": "职工",
        }
        for u in range(units)
        for k in range(len(FLOWERS) + 1)
    ]


def submit_body(round_id: str, n: int) -> dict[str, Any]:
    """Nominator n's nomination: unit n // 5, flower n % 5, that flower's employee."""
    u, k = divmod(n, len(FLOWERS))
    return {
        "round_id": round_id,
        "employee_no": employee_no(u, k),
        "category": FLOWERS[k].value,
        "deeds": DEEDS,
        "results": [{"metric": "节约成本", "value": str(1000 + n), "unit": "元"}],
        "evidence_links": [],
        "recommendation": RECOMMENDATION,
    }


@dataclass
class RunResult:
    """One run: each request kind's latencies (s), the errors, the wall time."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    ok: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, during the run
    load: float = 0.0  # the machine's 1-minute load average at the end

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def line(self) -> str:
        parts = [f"{self.requests} requests in {self.wall_s:.1f} s"]
        for kind in ("submit", "amend", "score"):
            values = self.latencies.get(kind)
            if values:
                parts.append(
                    f"{kind} p50 {percentile(values, 50) * 1000:.0f} ms "
                    f"p99 {percentile(values, 99) * 1000:.0f} ms"
                )
        parts.append(f"{len(self.errors)} errors")
        if self.cpu_s:
            busy = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.cpu_s.items()))
            parts.append(f"CPU seconds meanwhile: {busy}")
        parts.append(f"machine load average {self.load:.1f} (2 cores)")
        return ", ".join(parts)


class DeadlineDay:
    """The system as processes, `nominators` accounts and three panelists, ready to run."""

    def __init__(self, bench: BenchStack, nats_url: str, nominators: int, runs: int) -> None:
        self.bench = bench
        self.nats_url = nats_url
        self.nominators = nominators
        self.runs = runs
        self.units = units_for(nominators)
        self.stack: Stack | None = None
        self.rounds: list[str] = []
        self.past: list[str] = []  # the past round's nominations, for the panel to score
        self.past_round = ""
        self.nominator_tokens: list[str] = []
        self.panel_tokens: list[str] = []

    async def run(self) -> list[RunResult]:
        async with system(self.bench, self.nats_url) as stack:
            self.stack = stack
            began = time.perf_counter()
            await self._prepare(stack)
            progress(
                f"deadline day: {self.units} units, {self.nominators} nominators, "
                f"{len(self.past)} past nominations to score, ready in "
                f"{time.perf_counter() - began:.0f} s; starting the processes"
            )
            await start(stack)
            results = []
            for r in range(self.runs):
                cpu = cpu_seconds(stack, self.bench)
                result = await self._load(self.rounds[r], r)
                result.cpu_s = {
                    k: v - cpu.get(k, 0.0) for k, v in cpu_seconds(stack, self.bench).items()
                }
                result.load = os.getloadavg()[0]
                await self._check(stack, self.rounds[r], result)
                progress(f"deadline day run {r + 1}: {result.line()}")
                results.append(result)
            return results

    # ------------------------------------------------------------------------ set-up

    async def _prepare(self, stack: Stack) -> None:
        settings = stack.settings.model_copy(update={"log_level": "ERROR"})
        users = await self._accounts(stack)
        now = datetime.now(UTC)
        period = current_round(now, Cadence(settings.cadence), settings.deadline_day)
        past = period.previous()
        self.past_round = past.id
        live: list[RoundPeriod] = [period]
        while len(live) < self.runs:
            live.append(live[-1].next())
        self.rounds = [p.id for p in live]

        clock = FixedClock(at(past, -2, 1))
        runtimes: list[ServiceRuntime] = [
            nomination_runtime(settings, clock=clock),
            review_runtime(settings, clock=clock),
        ]
        for runtime in runtimes:
            await runtime.start()
        nc = await connect_nats(
            settings.nats_url,
            name="bench-deadline",
            attempts=settings.connect_attempts,
            seed=nats_seed(settings, "gateway"),
            user="gateway",
        )
        try:
            rpc = SelfSigningRpcClient(
                nc,
                timeout=60,
                signer=identity_signer(settings, "gateway"),
                identity=Identity(subject=users["admin"], roles=frozenset({"admin"})),
            )
            office = {"actor": users["admin"], "roles": ["admin", "office"]}
            await rpc.command(
                "nomination", "import_directory", {**office, "rows": directory(self.units)}
            )
            await rpc.command("nomination", "open_round", {**office, "round_id": past.id})
            clock.set(at(past, 0, 10))
            for u in range(self.units):  # one past nomination per unit
                nomination_id = str(uuid.uuid4())
                await rpc.command(
                    "nomination",
                    "submit",
                    {
                        "actor": f"bench-{unit_code(u)}",
                        "roles": ["nominator"],
                        "actor_unit_code": unit_code(u),
                        "nomination_id": nomination_id,
                        "round_id": past.id,
                        "unit_code": unit_code(u),
                        "employee_no": employee_no(u, len(FLOWERS)),
                        "category": FLOWERS[u % len(FLOWERS)].value,
                        "deeds": DEEDS,
                        "recommendation": RECOMMENDATION,
                    },
                )
                self.past.append(nomination_id)
            clock.set(at(past, 0, 26))
            await rpc.command("nomination", "close_round", {**office, "round_id": past.id})

            async def arrived() -> bool:
                rows = await rpc.query("review", "candidates", {"round_id": past.id})
                return len(rows) == len(self.past) and all(r["status"] == "closed" for r in rows)

            await wait_for(arrived, "review to receive the past round", 120)
            clock.set(at(past, 0, 28))
            review = {"round_id": past.id, **office}
            for nomination_id in self.past:
                await rpc.command("review", "accept", {**review, "nomination_id": nomination_id})
            for department, number in PANEL:
                await rpc.command(
                    "review",
                    "assign_panelist",
                    {
                        **review,
                        "panelist_id": users[department],
                        "employee_no": number,
                        "name": department,
                        "department": department,
                    },
                )
            clock.set(now)
            for round_id in self.rounds:
                await rpc.command("nomination", "open_round", {**office, "round_id": round_id})
            for runtime in runtimes:  # everything relayed before the processes take over
                await wait_for(_relayed(runtime), f"{runtime.service}'s relay")
        finally:
            await nc.close()
            for runtime in reversed(runtimes):
                await runtime.stop()

    async def _accounts(self, stack: Stack) -> dict[str, str]:
        """The gateway's accounts, straight into its database (the gateway is not running
        yet): an administrator, the panel, and one nominator per nominator slot, each with
        an API token. Cheap password hashes: the passwords are never used."""
        pool = await open_database(stack.settings)
        try:
            accounts = AccountStore(
                pool,
                GatewaySettings(argon2_time_cost=1, argon2_memory_kib=8192, argon2_parallelism=1),
            )
            password = "bench-password-1"
            admin = await accounts.create_user(
                "bench-admin",
                password,
                UserFields("基准管理员", frozenset({"admin", "office"})),
                actor="bench",
            )
            users = {"admin": str(admin.user_id)}
            for department, _ in PANEL:
                user = await accounts.create_user(
                    f"bench-panel-{len(users)}",
                    password,
                    UserFields(f"评委{department}", frozenset({"panelist"}), department=department),
                    actor="bench",
                )
                users[department] = str(user.user_id)
                _, token = await accounts.create_token(user.user_id, "bench", actor="bench")
                self.panel_tokens.append(token)
            for n in range(self.nominators):
                u = n // len(FLOWERS)
                user = await accounts.create_user(
                    f"bench-nom-{n:04d}",
                    password,
                    UserFields(f"提名人{n}", frozenset({"nominator"}), unit_code(u)),
                    actor="bench",
                )
                _, token = await accounts.create_token(user.user_id, "bench", actor="bench")
                self.nominator_tokens.append(token)
            return users
        finally:
            await pool.close()

    # ------------------------------------------------------------------------ one run

    async def _load(self, round_id: str, run: int) -> RunResult:
        assert self.stack is not None
        result = RunResult()
        per = min(SCORES_PER_PANELIST, max(1, len(self.past) // self.runs))
        to_score = self.past[run * per : (run + 1) * per]

        async def timed(kind: str, request: Any, expected: int) -> httpx.Response | None:
            started = time.perf_counter()
            try:
                response: httpx.Response = await request
            except httpx.HTTPError as exc:
                result.latencies[kind].append(time.perf_counter() - started)
                result.errors.append(f"{kind}: {exc!r}")
                return None
            result.latencies[kind].append(time.perf_counter() - started)
            if response.status_code != expected:
                result.errors.append(f"{kind} {response.status_code} {response.text[:200]}")
                return None
            result.ok[kind] += 1
            return response

        # Each person has a client of their own, as each has a browser: one client shared
        # by 303 connections spent more CPU in its pool's bookkeeping (httpcore scans every
        # connection for every request) than the gateway and nomination spent serving them,
        # on the same two cores (docs/performance.md, Session 6). One TLS context for all
        # (the requests are plain HTTP; httpx would load the CA bundle per client).
        tls = ssl.create_default_context()
        clients = [
            httpx.AsyncClient(base_url=self.stack.gateway_url, timeout=60.0, verify=tls)
            for _ in range(self.nominators + len(self.panel_tokens))
        ]
        try:

            async def nominator(n: int) -> None:
                client = clients[n]
                headers = {"Authorization": f"Bearer {self.nominator_tokens[n]}"}
                body = submit_body(round_id, n)
                submitted = await timed(
                    "submit", client.post("/api/v1/nominations", json=body, headers=headers), 201
                )
                if submitted is None:
                    return
                nomination_id = submitted.json()["nomination_id"]
                amended = {k: v for k, v in body.items() if k not in ("round_id", "employee_no")}
                amended["recommendation"] = AMENDED
                await timed(
                    "amend",
                    client.put(
                        f"/api/v1/nominations/{nomination_id}", json=amended, headers=headers
                    ),
                    200,
                )

            async def panelist(p: int) -> None:
                client = clients[self.nominators + p]
                headers = {"Authorization": f"Bearer {self.panel_tokens[p]}"}
                for i, nomination_id in enumerate(to_score):
                    value = str(70 + (p * 7 + i * 3 + run) % 30)
                    path = (
                        f"/api/v1/review/rounds/{self.past_round}/nominations/{nomination_id}/score"
                    )
                    await timed(
                        "score",
                        client.put(
                            path, json={"criteria": dict.fromkeys(CRITERIA, value)}, headers=headers
                        ),
                        200,
                    )

            started = time.perf_counter()
            await asyncio.gather(
                *(nominator(n) for n in range(self.nominators)),
                *(panelist(p) for p in range(len(self.panel_tokens))),
            )
            result.wall_s = time.perf_counter() - started
        finally:
            await asyncio.gather(*(client.aclose() for client in clients))
        return result

    async def _check(self, stack: Stack, round_id: str, result: RunResult) -> None:
        """Nothing lost, nothing twice: the log holds an event for every successful request,
        and at most one per request sent (a request answered with an error, e.g. the
        gateway's time-out, may still have been done)."""
        if result.errors:
            kinds = Counter(
                error.split(" ", 2)[0] + " " + error.split(" ", 2)[1][:40]
                for error in result.errors
            )
            progress(f"deadline day {round_id}: errors {dict(kinds)}; first: {result.errors[0]}")
        url = self.bench.database_url(stack.settings.database_name("nomination"))
        conn = await asyncpg.connect(url)
        try:
            counts = dict(
                await conn.fetch(
                    "SELECT type, count(*) FROM events WHERE stream_id = $1 GROUP BY type",
                    round_stream_id(round_id),
                )
            )
        finally:
            await conn.close()
        for kind, event in (("submit", "NominationSubmitted"), ("amend", "NominationAmended")):
            got, done, sent = counts.get(event, 0), result.ok[kind], len(result.latencies[kind])
            if not done <= got <= sent:
                raise RuntimeError(
                    f"deadline day {round_id}: {got} {event} in the log for {done} successful "
                    f"and {sent} sent {kind} requests"
                )
            if got != done:
                progress(
                    f"deadline day {round_id}: {got - done} {kind}(s) answered with an error "
                    "were done all the same"
                )


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from /proc; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(stack: Stack, bench: BenchStack) -> dict[str, float]:
    """CPU time (user + system) used so far by each service process, this one (the load),
    the NATS server and PostgreSQL (the postmaster and its live backends)."""
    used = {"bench (load)": time.process_time()}
    pids = {n: p.process.pid for n, p in stack.processes.items() if p.process is not None}
    servers = bench.server_pids()
    for name, pid in {**pids, **servers}.items():
        stat = _stat(pid)
        if stat is not None:
            used[name] = stat[1]
    postmaster = servers.get("postgres")
    if postmaster is not None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None and stat[0] == postmaster:
                    used["postgres"] = used.get("postgres", 0.0) + stat[1]
    return used


def _relayed(runtime: ServiceRuntime) -> Any:
    async def check() -> bool:
        assert runtime.relay is not None
        return await runtime.relay.checkpoint() == await runtime.store.head()

    return check
