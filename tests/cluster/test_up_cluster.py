"""`flowers up --cluster`: three NATS nodes whose routes authenticate, streams with three
replicas, two processes of every service and of the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploy.embedded import NatsCluster, NatsRoutes, NatsServer, free_port
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from shared.settings import PROJECT_ROOT
from tests.support import TEST_SECRETS, admin_connect, eventually

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def test_flowers_up_cluster_starts_two_of_everything_on_three_nats_nodes(
    session_dir: Path, tmp_path: Path
) -> None:
    data_dir = session_dir / f"up-cluster-{tmp_path.name}"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FLOWERS_") or k in ("FLOWERS_LOG_LEVEL",)
    }
    result = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "up", "--cluster", "--check", "--no-demo"],
        env={**env, "FLOWERS_DATA_DIR": str(data_dir), "FLOWERS_GATEWAY_PORT": str(port)},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "started a cluster of 3 nodes" in out
    assert "All 10 processes healthy" in out
    assert f"http://127.0.0.1:{port}  http://127.0.0.1:{port + 1}" in out
    logs = data_dir / "cluster" / "logs"
    for service in ("nomination", "review", "rewards", "publicity", "gateway"):
        for n in (1, 2):
            assert (logs / f"{service}-{n}.log").exists()
    for n in (1, 2, 3):
        conf = (data_dir / "cluster" / "nats-cluster" / f"node-{n}" / "nats.conf").read_text()
        assert "sync_interval: always" in conf
        assert "authorization { user:" in conf  # routes authenticate


def routez(node: NatsServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"{node.monitor_url}/routez", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
    return body


async def test_the_streams_have_three_replicas_and_a_route_without_the_password_is_refused(
    tmp_path: Path,
) -> None:
    from shared.bus import ensure_streams
    from shared.settings import Settings

    cluster = NatsCluster(
        tmp_path / "nats",
        route_password=Secrets(TEST_SECRETS).nats_route_password(),
        authorization=secrets_authorization(TEST_SECRETS),
    )
    cluster.start()
    intruder = NatsServer(
        tmp_path / "intruder",
        routes=NatsRoutes(
            port=free_port(),
            peers=(cluster.nodes[0].routes.port,) if cluster.nodes[0].routes else (),
            user="route",
            password="not-the-password",
        ),
        server_name="intruder",
    )
    try:
        nc = await admin_connect(cluster.nodes[1].url)
        try:
            js = nc.jetstream()
            await ensure_streams(js, Settings(stream_replicas=3))
            info = await js.stream_info("FLOWERS")
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert len(info.cluster.replicas or []) == 2  # the leader and two followers
        finally:
            await nc.close()
        intruder.start()
        await eventually(
            lambda: (
                "Router connection closed: Authentication Failure"
                in cluster.nodes[0].log_path.read_text()
            ),
            what="node 1 to refuse the intruder's route",
        )
        routes = await asyncio.to_thread(routez, cluster.nodes[0])
        assert "intruder" not in {r.get("remote_name") for r in routes.get("routes", [])}
        assert len(routes.get("routes", [])) >= 2  # its two peers (a pool may add more)
    finally:
        intruder.stop()
        cluster.stop()
