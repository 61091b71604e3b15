"""`flowers up --cluster`: three NATS nodes whose routes authenticate, streams with three
replicas, two processes of every service and of the gateway, each instance supervised."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from deploy.embedded import NatsCluster, NatsRoutes, NatsServer, free_port, free_ports, wait_until
from deploy.nats_permissions import secrets_authorization
from deploy.secrets import Secrets
from shared.settings import PROJECT_ROOT, SERVICES
from tests.support import TEST_SECRETS, admin_connect, eventually

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def read_stack(path: Path) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return body


def test_flowers_up_cluster_runs_two_of_everything_and_replaces_a_hung_instance(
    session_dir: Path, tmp_path: Path
) -> None:
    data_dir = session_dir / f"up-cluster-{tmp_path.name}"
    data_dir.mkdir()
    port = free_ports(2)  # two gateways: the port and the next
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWERS_")}
    env |= {
        "FLOWERS_DATA_DIR": str(data_dir),
        "FLOWERS_GATEWAY_PORT": str(port),
        "FLOWERS_HEALTH_TIMEOUT_S": "4",  # the supervisor's patience with a silent instance
    }
    out_path = data_dir / "up.out"
    stack_json = data_dir / "cluster" / "stack.json"
    with out_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "up", "--cluster", "--no-demo"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:

            def running() -> bool:
                assert process.poll() is None, out_path.read_text()
                return "Press Ctrl-C" in out_path.read_text()

            wait_until(running, 180, interval=0.2, what="flowers up --cluster to be healthy")
            text = out_path.read_text()
            assert "started a cluster of 3 nodes" in text
            assert f"All {2 * (len(SERVICES) + 1)} processes healthy" in text  # and two gateways
            assert f"http://127.0.0.1:{port}  http://127.0.0.1:{port + 1}" in text
            stack = read_stack(stack_json)
            assert stack["cluster"] is True
            assert len(stack["nats_url"].split(",")) == 3
            assert len(stack["gateway_urls"]) == 2
            assert sorted(stack["pids"]) == sorted(
                f"{s}-{n}" for s in (*SERVICES, "gateway") for n in (1, 2)
            )
            # One instance hangs (SIGSTOP) while its twin answers the service's health
            # requests: the supervisor still notices it, at its own metrics port.
            hung = stack["pids"]["review-1"]
            os.kill(hung, signal.SIGSTOP)
            wait_until(
                lambda: read_stack(stack_json).get("pids", {}).get("review-1") not in (None, hung),
                60,
                interval=0.2,
                what="the supervisor to replace the hung review-1",
            )
            assert "review-1 has not answered its health request" in out_path.read_text()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 0, out_path.read_text()
    logs = data_dir / "cluster" / "logs"
    for service in (*SERVICES, "gateway"):
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
