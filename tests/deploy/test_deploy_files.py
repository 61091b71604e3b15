"""The deployment files an operator uses: Dockerfile, compose, Kubernetes, alert rules, and
the operator's page (deploy/README.md) checked against them and against the CLI.

The three validators of `make lint` (hadolint, check-jsonschema's compose-spec,
kubernetes-validate) run here too (a second each, offline). No image is built or pulled
(no registry is reachable here): the last tests run what the containers run instead —
`flowers serve` and its probes, and the deployment's flow (postgres-init.sh, the `migrate`
and `streams` jobs, each process, the operator's `flowers health`), each with exactly the
environment and secret files compose.yaml, or the Kubernetes manifests, give it — against
real NATS and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import typer.main
import yaml
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from deploy.cli import app
from deploy.embedded import NatsServer, _pg_bin_dir, free_port
from deploy.secrets import NATS_USERS
from shared.database_roles import DATABASES, logins
from shared.settings import PROJECT_ROOT, SERVICES, with_login
from tests.deploy.test_nats_permissions import _certificate, _nats_server_binary, _write_pem
from tests.support import TEST_SECRETS, eventually

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "kubernetes"
OPERATOR_PAGE = DEPLOY / "README.md"
PROCESSES = (*SERVICES, "gateway")


def _tool(name: str) -> str:
    return str(Path(sysconfig.get_path("scripts")) / name)


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _manifests() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _objects(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in _manifests():
        for doc in _yaml_documents(path):
            if doc["kind"] == kind:
                meta = doc["metadata"]
                found[meta.get("name") or meta["generateName"]] = doc
    return found


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((COMPOSE / "compose.yaml").read_text(encoding="utf-8"))
    return data


def _page_commands() -> list[str]:
    """Every shell command of the operator page's code blocks (continuations joined)."""
    text = OPERATOR_PAGE.read_text(encoding="utf-8")
    commands: list[str] = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def _shell_parts(command: str) -> list[list[str]]:
    """A command line's simple commands as words (split at ;, &&, ||, |, quotes kept,
    redirections left out)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    parts: list[list[str]] = [[]]
    tokens = iter(lexer)
    for token in tokens:
        if token in (";", "&&", "||", "|", "&"):
            parts.append([])
        elif token in ("<", ">", ">>"):
            next(tokens, None)  # a redirection and its file
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


# --- The validators of `make lint` --------------------------------------------------------------


def test_hadolint_passes_the_dockerfile() -> None:
    done = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "warning", str(PROJECT_ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_file_follows_the_compose_spec() -> None:
    done = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_kubernetes_manifest_follows_the_kubernetes_schemas() -> None:
    done = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--quiet", *map(str, _manifests())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- The image -----------------------------------------------------------------------------


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck_on_its_probe_port() -> None:
    text = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM ${PYTHON_IMAGE}" in text
    assert "python:3.11-slim" in text
    assert "-r /tmp/requirements.lock" in text
    assert re.search(r"^USER 10001:10001$", text, flags=re.M)
    port = re.search(r"FLOWERS_HEALTH_PORT=(\d+)", text)
    assert port is not None
    assert f"http://127.0.0.1:{port[1]}/readyz" in text.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["flowers"]' in text
    ignored = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".data", ".venv", ".git", "**/*.nk", "**/*.key", "**/*.password"} <= set(ignored)


# --- Compose -------------------------------------------------------------------------------


def test_compose_runs_three_nats_nodes_postgres_and_two_instances_of_every_process() -> None:
    services = _compose()["services"]
    for node in (1, 2, 3):
        nats = services[f"flowers-nats-{node}"]
        assert nats["volumes"] == [f"nats-{node}-data:/var/lib/nats"]
        assert {"source": f"nats-{node}.conf", "target": "/etc/nats/nats.conf"} in nats["configs"]
        assert "healthcheck" in nats
    assert "healthcheck" in services["postgres"]
    for name in PROCESSES:
        for instance in (1, 2):
            service = services[f"{name}-{instance}"]
            assert service["command"] == ["serve", name]
            assert "/readyz" in " ".join(service["healthcheck"]["test"])
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
            assert service["depends_on"]["streams"]["condition"] == "service_completed_successfully"
    assert services["streams"]["environment"]["FLOWERS_STREAM_REPLICAS"] == "3"
    proxy = services["proxy"]
    assert {d: c["condition"] for d, c in proxy["depends_on"].items()} == {
        "gateway-1": "service_healthy",
        "gateway-2": "service_healthy",
    }
    nginx = (COMPOSE / "nginx.conf").read_text(encoding="utf-8")
    assert "server gateway-1:8000" in nginx
    assert "server gateway-2:8000" in nginx
    trusted = services["gateway-1"]["environment"]["FLOWERS_GATEWAY_TRUSTED_PROXIES"]
    assert proxy["networks"]["flowers"]["ipv4_address"] == trusted


def test_each_compose_container_gets_only_its_own_credentials() -> None:
    compose = _compose()
    defined = compose["secrets"]
    for name, secret in defined.items():  # the files deploy/secrets.py makes (and the TLS files)
        assert secret["file"].startswith("./secrets/"), name
    for name, service in compose["services"].items():
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert mounted <= set(defined), name
        env = json.dumps(service.get("environment", {}))
        for path in re.findall(r"/run/secrets/([\w.-]+)", env):
            assert path in mounted, f"{name} names /run/secrets/{path} but does not mount it"
        seeds = {s for s in mounted if s.startswith("nats-") and s.endswith(".nk")}
        process = name.rsplit("-", 1)[0]
        if process in PROCESSES:
            assert seeds == {f"nats-{process}.nk"}, name
            assert "identity-operator.key" not in mounted
            assert ("identity-gateway.key" in mounted) == (process == "gateway")
            owners = {s for s in mounted if s.endswith("_owner.password")}
            assert not owners, name
            assert "postgres.password" not in mounted, name
    # The postgres container reads every login's password once, to create the roles.
    passwords = {f"{login}.password" for login in ("postgres", *logins(DATABASES))}
    assert passwords <= set(compose["services"]["postgres"]["secrets"])


# Options of `docker compose [run|exec|…]` that take a value (the rest are flags).
COMPOSE_VALUE_OPTIONS = {"-f", "--file", "--profile", "-p", "-v", "--volume", "-e", "--env"}
COMPOSE_VALUE_OPTIONS |= {"-u", "--user", "-w", "--workdir", "-s", "--signal", "--entrypoint"}


def _compose_invocation(words: list[str]) -> tuple[str, list[str]] | None:
    """`docker compose VERB …` → (VERB, its arguments without options), else None."""
    if words[:2] != ["docker", "compose"]:
        return None
    args: list[str] = []
    rest = iter(words[2:])
    for word in rest:
        if word in COMPOSE_VALUE_OPTIONS:
            next(rest, None)
        elif not word.startswith("-"):
            args.append(word)
    return (args[0], args[1:]) if args else None


def test_every_compose_service_the_operator_page_names_exists() -> None:
    services = set(_compose()["services"])
    named: set[str] = set()
    for command in _page_commands():
        for part in _shell_parts(command):
            invocation = _compose_invocation(part)
            if invocation is None:
                continue
            verb, rest = invocation
            if verb in ("stop", "start", "restart", "kill", "logs", "ps", "up", "pull"):
                named.update(rest)
            elif verb in ("exec", "run") and rest:
                named.add(rest[0])
    assert {"operator", "postgres", "rewards-1", "flowers-nats-2", "migrate"} <= named
    assert named <= services, f"named in deploy/README.md, not in compose.yaml: {named - services}"
    # And the instances the page names in running text.
    page = OPERATOR_PAGE.read_text(encoding="utf-8")
    for quoted in re.findall(r"`((?:[a-z]+-)+[12]|proxy|postgres|migrate|streams|operator)`", page):
        assert quoted in services, quoted


# --- Kubernetes ----------------------------------------------------------------------------


def test_every_process_has_a_deployment_with_probes_resources_and_a_disruption_budget() -> None:
    deployments = _objects("Deployment")
    budgets = _objects("PodDisruptionBudget")
    for name in PROCESSES:
        deployment = deployments[f"flowers-{name}"]
        assert deployment["spec"]["replicas"] >= 2, name
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == 8081
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        budget = budgets[f"flowers-{name}"]
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    nats = _objects("StatefulSet")["flowers-nats"]
    assert nats["spec"]["replicas"] == 3
    assert budgets["flowers-nats"]["spec"]["maxUnavailable"] == 1


def _referenced(kind: str) -> dict[str, set[str]]:
    """Secret or ConfigMap name → the keys the manifests use of it (empty: the whole object)."""
    found: dict[str, set[str]] = {}
    field = "secret" if kind == "Secret" else "configMap"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if field in node and isinstance(node[field], dict):
                ref = node[field]
                name = ref.get("secretName") or ref.get("name")
                found.setdefault(name, set()).update(i["key"] for i in ref.get("items", []))
            ref_key = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
            if ref_key in node:
                found.setdefault(node[ref_key]["name"], set()).add(node[ref_key]["key"])
            if "configMapRef" in node and kind == "ConfigMap":
                found.setdefault(node["configMapRef"]["name"], set())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in _manifests():
        if path.name != "secrets.yaml":
            for doc in _yaml_documents(path):
                walk(doc)
    return found


def _kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    return data


def _generated(section: str) -> dict[str, dict[str, str]]:
    return {
        g["name"]: dict(f.split("=", 1) for f in g["files"] if "=" in f)
        | {f: f for f in g["files"] if "=" not in f}
        for g in _kustomization()[section]
    }


def test_every_secret_the_manifests_use_has_a_template_and_a_generator_with_its_keys() -> None:
    templates = {name: set(s["stringData"]) for name, s in _objects("Secret").items()}
    for secret in _objects("Secret").values():
        assert all(v == "" for v in secret["stringData"].values()), "a template holds a value"
    generated = _generated("secretGenerator")
    assert {n: set(keys) for n, keys in generated.items()} == templates
    for name, keys in _referenced("Secret").items():
        assert name in templates, f"{name} is used but has no template in secrets.yaml"
        assert keys <= templates[name], name
    for files in generated.values():
        for source in files.values():
            assert source.startswith("secrets/"), source  # made on the host, never committed
    ignored = (K8S / ".gitignore").read_text(encoding="utf-8").split()
    assert {"secrets/", "nats-auth.conf"} <= set(ignored)


def test_every_file_a_container_is_told_to_read_is_mounted() -> None:
    """FLOWERS_*_FILE(S) paths and SSL_CERT_FILE point at keys of the mounted volumes."""
    settings = _objects("ConfigMap")["flowers-settings"]["data"]
    generated_maps = _generated("configMapGenerator")
    secrets = {n: set(s["stringData"]) for n, s in _objects("Secret").items()}
    pods = [d["spec"]["template"]["spec"] for d in _objects("Deployment").values()]
    pods += [j["spec"]["template"]["spec"] for j in _objects("Job").values()]
    for pod in pods:
        (container,) = pod["containers"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounted: set[str] = set()
        for mount in container["volumeMounts"]:
            volume = volumes[mount["name"]]
            if "secret" in volume:
                keys = secrets[volume["secret"]["secretName"]]
            elif "configMap" in volume:
                keys = set(generated_maps[volume["configMap"]["name"]])
            else:
                continue
            mounted |= {f"{mount['mountPath']}/{key}" for key in keys}
        told = json.dumps([e.get("value", "") for e in container.get("env", [])])
        told += json.dumps(
            [settings[k] for k in ("SSL_CERT_FILE", "FLOWERS_IDENTITY_TRUSTED_KEYS")]
        )
        for path in re.findall(r"(/(?:run/secrets|etc/flowers)/[\w./-]+)", told):
            assert path in mounted, f"{container['name']} is told to read {path}, not mounted"


def test_the_kustomization_names_every_manifest_but_the_templates_and_the_jobs() -> None:
    resources = set(_kustomization()["resources"])
    assert resources == {p.name for p in _manifests()} - {"secrets.yaml", "jobs.yaml"}
    for name, files in _generated("configMapGenerator").items():
        for source in files.values():
            assert (
                source.startswith("secrets/")
                or (K8S / source).exists()
                or (source == "nats-auth.conf")
            ), name


def test_network_policies_deny_by_default_and_allow_the_designs_paths() -> None:
    policies = _objects("NetworkPolicy")
    deny = policies["flowers-default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    ports = {
        name: {
            p["port"]
            for rule in spec.get("ingress", []) + spec.get("egress", [])
            for p in rule.get("ports", [])
        }
        for name, spec in ((n, p["spec"]) for n, p in policies.items())
    }
    assert ports["flowers-nats"] == {4222, 6222}
    assert ports["flowers-clients-egress"] == {4222}
    assert ports["flowers-postgres-egress"] == {5432}
    assert ports["flowers-gateway-ingress"] == {8000}
    assert ports["flowers-services-metrics"] == {9100}
    # Only the notification service leaves the cluster: its mail relay and robots' webhooks.
    assert ports["flowers-notification-egress"] == {25, 465, 587, 443}
    notify = policies["flowers-notification-egress"]["spec"]
    assert notify["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "flowers-notification"
    }
    # Every pod of a process is a NATS and PostgreSQL client by its labels, and nothing else.
    for name, deployment in _objects("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["flowers/nats-client"] == "true", name
        assert labels["flowers/postgres-client"] == "true", name


def test_the_kubernetes_nats_configuration_is_valid(tmp_path: Path) -> None:
    """nats.conf as the StatefulSet's pods run it: `nats-server -t` with generated users and
    certificates (the image's paths moved under tmp_path)."""
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
    tls = tmp_path / "tls"
    tls.mkdir()
    for prefix in ("", "route-"):
        ca = _certificate(f"flowers {prefix}ca", None)
        (tls / f"{prefix}ca.pem").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
        leaf = _certificate("flowers-nats-0.flowers-nats.flowers.svc.cluster.local", ca)
        _write_pem(tls / f"{'route' if prefix else 'server'}-cert.pem", *leaf)
    shipped = (K8S / "nats.conf").read_text(encoding="utf-8")
    assert "sync_interval: always" in shipped
    assert "verify: true" in shipped
    conf = tmp_path / "nats.conf"
    conf.write_text(
        shipped.replace("/etc/nats/tls/", f"{tls}/")
        .replace("/data/jetstream", str(tmp_path / "js"))
        .replace("/var/run/nats", str(tmp_path)),
        encoding="utf-8",
    )
    checked = subprocess.run(
        [_nats_server_binary(), "-t", "-c", str(conf)],
        env={**os.environ, "POD_NAME": "flowers-nats-0"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- The operator's page ------------------------------------------------------------------


def _check_flowers_command(words: list[str], where: str) -> None:
    """`words` (after `flowers`) name an existing command, with options it has (typer's
    command tree: a group has `commands`)."""
    command: Any = typer.main.get_command(app)
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"{where}: `flowers {' '.join(words)}`: no command {rest[0]!r}"
        command, rest = sub, rest[1:]
    assert not hasattr(command, "commands"), f"{where}: `flowers {' '.join(words)}` is a group"
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    for word in rest:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            assert name in options, f"{where}: `flowers {' '.join(words)}`: no option {name}"


def _flowers_invocations() -> Iterator[tuple[list[str], str]]:
    for command in _page_commands():
        for words in _shell_parts(command):
            part = " ".join(words)
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VAR=value flowers …
                words = words[1:]
            invocation = _compose_invocation(words)
            if words and (words[0] == "flowers" or words[0].endswith("/flowers")):
                yield words[1:], part
            elif (
                invocation is not None
                and invocation[0] == "run"
                and invocation[1][:1] == ["operator"]
            ):
                yield words[words.index("operator") + 1 :], part  # the toolbox runs `flowers`
            elif "--" in words and words[words.index("--") + 1 : words.index("--") + 2] == [
                "flowers"
            ]:
                yield words[words.index("--") + 2 :], part


def test_every_flowers_command_on_the_operator_page_exists_with_its_options() -> None:
    seen = list(_flowers_invocations())
    assert len(seen) >= 10, "the operator page should show the real commands"
    for words, where in seen:
        _check_flowers_command(words, where)
    # And each `flowers …` quoted in running text names a command too.
    text = OPERATOR_PAGE.read_text(encoding="utf-8")
    for quoted in re.findall(r"`flowers ([a-z][a-z -]*[a-z])", text):
        _check_flowers_command(quoted.split(), quoted)


def test_the_pages_credential_commands_make_every_file_compose_and_kubernetes_read(
    tmp_path: Path,
) -> None:
    """The page's own commands (secrets, users block, certificates), run into tmp_path."""
    secrets = tmp_path / "secrets"
    steps = [
        c
        for c in _page_commands()
        if "deploy/compose/secrets" in c and ("Secrets(" in c or "nats-tls.sh" in c)
    ]
    assert len(steps) == 2, steps
    for step in steps:
        words = shlex.split(step.replace("deploy/compose/secrets", str(secrets)))
        if words[0].endswith("python"):
            words[0] = sys.executable
        done = subprocess.run(
            words, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    outcome = CliRunner().invoke(
        app, ["nats-config", "--keys-dir", str(secrets / "nats"), "-o", str(tmp_path / "auth")]
    )
    assert outcome.exit_code == 0, outcome.output
    for name, secret in _compose()["secrets"].items():
        path = secrets / secret["file"].removeprefix("./secrets/")
        assert path.is_file(), f"compose secret {name}: {path} was not made"
    for section in ("secretGenerator", "configMapGenerator"):
        for files in _generated(section).values():
            for source in files.values():
                if source.startswith("secrets/"):
                    assert (tmp_path / source).is_file(), source
    for path in secrets.rglob("*"):  # every secret 0600 (public keys and certificates aside)
        secret = path.suffix in (".nk", ".key", ".password") or path.name.endswith("-key.pem")
        if path.is_file() and secret:
            assert path.stat().st_mode & 0o077 == 0, path


def test_the_page_is_linked_from_the_readme_and_names_every_nats_user() -> None:
    assert "deploy/README.md" in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    page = OPERATOR_PAGE.read_text(encoding="utf-8")
    for user in NATS_USERS:
        assert f"`{user}`" in page or f"{user}.nk" in page, user


# --- Alert rules ---------------------------------------------------------------------------


def _exported_metrics() -> set[str]:
    names: set[str] = {"up"}
    for path in (
        PROJECT_ROOT / "shared" / "metrics.py",
        PROJECT_ROOT / "services" / "gateway" / "metrics.py",
    ):
        source = path.read_text(encoding="utf-8")
        for kind, name in re.findall(
            r"(Counter|Gauge|Histogram|CounterMetricFamily)\(\s*\"(\w+)\"", source
        ):
            if kind == "Gauge":
                names.add(name)
            elif kind == "Histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            else:
                names.add(name if name.endswith("_total") else f"{name}_total")
        # The relay's and the consumers' counters are named in a table of (name, …) tuples.
        for name in re.findall(r"\"(flowers_(?:relay|consumer|dead)\w*)\"", source):
            if not name.endswith(("_positions", "_messages", "_seconds")):
                names.add(f"{name}_total")
    return names


def test_the_alert_rules_parse_and_watch_relay_lag_consumer_pending_and_dead_letters() -> None:
    rules_file = yaml.safe_load((DEPLOY / "monitoring" / "alerts.yaml").read_text("utf-8"))
    rules = [rule for group in rules_file["groups"] for rule in group["rules"]]
    assert all(group["name"] and group["rules"] for group in rules_file["groups"])
    exported = _exported_metrics()
    watched: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"Flowers[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        used = set(re.findall(r"\b(flowers_\w+|up)\b(?=\s*[{\[)]|\s*[<>=]|\s*$)", rule["expr"]))
        used |= set(re.findall(r"\b(flowers_\w+)\b", rule["expr"]))
        assert used <= exported, f"{rule['alert']}: {used - exported} is not a metric we export"
        watched |= used
    assert {
        "flowers_relay_lag_positions",
        "flowers_consumer_pending_messages",
        "flowers_dead_letters_total",
    } <= watched
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    services = set(_compose()["services"])
    assert {t.split(":")[0] for t in targets} == {
        f"{name}-{i}" for name in PROCESSES for i in (1, 2)
    }
    assert {t.split(":")[0] for t in targets} <= services


# --- `flowers serve`: the containers' command, against real servers -------------------------


def _serve(name: str, env: dict[str, str], *, inherit: bool = True) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "serve", name],
        env={**os.environ, **env} if inherit else env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _status(url: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            return (await client.get(url)).status_code
    except httpx.HTTPError:
        return None


@pytest.mark.parametrize("name", ["review", "gateway"])
async def test_serve_answers_its_probes_and_stops_being_ready_without_nats(
    name: str,
    nats_server: NatsServer | None,
    nats_url: str,
    pg_url: str,
    db_prefix: str,
    session_dir: Path,
) -> None:
    if nats_server is None:
        pytest.fail("this test stops the NATS server: it needs the session's own")
    health = free_port()
    env = {
        "FLOWERS_NATS_URL": nats_url,
        "FLOWERS_DATABASE_URL": with_login(pg_url, None),
        "FLOWERS_DATABASE_ADMIN_URL": pg_url,  # the process makes its own role and database
        "FLOWERS_DATABASE_PREFIX": db_prefix,
        "FLOWERS_DATA_DIR": str(session_dir),
        "FLOWERS_HEALTH_PORT": str(health),
        "FLOWERS_GATEWAY_PORT": str(free_port()),
        "FLOWERS_CONNECT_ATTEMPTS": "3",
    }
    process = _serve(name, env)
    base = f"http://127.0.0.1:{health}"
    try:
        await eventually(
            lambda: _ok(f"{base}/readyz"), timeout=60, interval=0.2, what=f"{name} ready"
        )
        assert await _status(f"{base}/livez") == 200
        assert await _status(f"{base}/nothing") == 404
        if name == "gateway":  # the gateway itself serves on its own port
            assert await _status(f"http://127.0.0.1:{env['FLOWERS_GATEWAY_PORT']}/metrics") == 200

        nats_server.stop()
        await eventually(
            lambda: _is(f"{base}/readyz", 503), timeout=30, interval=0.2, what="not ready"
        )
        assert await _status(f"{base}/livez") == 200  # alive: it waits for NATS to return
        nats_server.start()
        await eventually(lambda: _ok(f"{base}/readyz"), timeout=60, interval=0.2, what="ready")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    # A clean stop: FastStream exits 0; uvicorn re-raises the SIGTERM it handled once it
    # has shut down (as `uvicorn` itself does), so the gateway ends by that signal.
    clean = 0 if name != "gateway" else -signal.SIGTERM
    assert process.returncode == clean, stderr.decode(errors="replace")[-3000:]


async def _ok(url: str) -> bool:
    return await _status(url) == 200


async def _is(url: str, status: int) -> bool:
    return await _status(url) == status


# --- The compose topology's credentials and commands, on real servers ----------------------


def _compose_env(service: str, local: dict[str, str]) -> dict[str, str]:
    """`service`'s environment in compose.yaml, its /run/secrets/<name> files mapped to the
    suite's secrets (deploy/secrets.py's layout, as compose's ./secrets/), the addresses to
    the test's servers; nothing inherited names a credential (no FLOWERS_SECRETS_DIR)."""
    compose = _compose()
    files = {
        name: str(TEST_SECRETS / s["file"].removeprefix("./secrets/"))
        for name, s in compose["secrets"].items()
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWERS_", "SSL_", "PG"))}
    for key, value in compose["services"][service]["environment"].items():
        env[key] = re.sub(r"/run/secrets/([\w.-]+)", lambda m: files[m[1]], str(value))
    env.pop("SSL_CERT_FILE")  # the test's NATS speaks plain TCP (its TLS: nats-server -t above)
    return {**env, **local}


def _kubernetes_env(workload: str, local: dict[str, str]) -> dict[str, str]:
    """The environment of `workload`'s container (a Deployment `flowers-<name>` or a Job
    `flowers-<name>-`): flowers-settings, then its own env; every path under a mounted Secret
    or generated ConfigMap mapped to the suite's file that kustomization.yaml makes it from."""
    objects = {**_objects("Deployment"), **_objects("Job")}
    pod = objects.get(f"flowers-{workload}", objects.get(f"flowers-{workload}-"))
    assert pod is not None, workload
    spec = pod["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    sources = _generated("secretGenerator") | _generated("configMapGenerator")
    volumes = {v["name"]: v for v in spec["volumes"]}
    files: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        ref = volume.get("secret", {}).get("secretName") or volume.get("configMap", {}).get("name")
        for key, source in sources.get(ref, {}).items():
            if source.startswith("secrets/"):
                files[f"{mount['mountPath']}/{key}"] = str(TEST_SECRETS / source[8:])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWERS_", "SSL_", "PG"))}
    env |= _objects("ConfigMap")["flowers-settings"]["data"]
    env |= {e["name"]: e["value"] for e in container.get("env", [])}
    paths = re.compile(r"/(?:run/secrets|etc/flowers)/[\w./-]+")
    env = {k: paths.sub(lambda m: files.get(m[0], m[0]), v) for k, v in env.items()}
    env.pop("SSL_CERT_FILE")  # the test's NATS speaks plain TCP
    return {**env, **local}


def _run_flowers(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _postgres_init(pg_url: str, prefix: str) -> subprocess.CompletedProcess[str]:
    """deploy/compose/postgres-init.sh as the postgres image runs it, on the suite's server."""
    server = urlsplit(pg_url)
    return subprocess.run(
        ["sh", str(COMPOSE / "postgres-init.sh")],
        env={
            "PATH": f"{_pg_bin_dir()}:{os.environ['PATH']}",
            "POSTGRES_USER": server.username or "postgres",
            "PGHOST": server.hostname or "127.0.0.1",
            "PGPORT": str(server.port or 5432),
            "PGPASSWORD": (TEST_SECRETS / "postgres" / "postgres.password").read_text().strip(),
            "FLOWERS_DATABASE_PREFIX": prefix,
            "FLOWERS_PASSWORDS_DIR": str(TEST_SECRETS / "postgres"),
            "FLOWERS_ROLES_SQL": str(DEPLOY / "postgres-roles.sql"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ready_or_exited(process: subprocess.Popen[bytes], url: str) -> Any:
    async def check() -> bool:
        return process.poll() is not None or await _ok(url)

    return check


@pytest.mark.parametrize("where", ["compose", "kubernetes"])
async def test_each_container_works_with_only_its_own_credentials(
    where: str, nats_url: str, pg_url: str, db_prefix: str, session_dir: Path
) -> None:
    """The deployment's flow on the suite's servers: postgres-init.sh (compose) or
    postgres-roles.sql (Kubernetes: the same psql script) makes the roles, `migrate` and
    `streams` run with their secrets, every process starts and becomes ready with only its
    own (one instance each), and the operator toolbox's `flowers health` reaches them."""
    compose = where == "compose"

    def env_of(name: str, local: dict[str, str]) -> dict[str, str]:
        if compose:
            return _compose_env({"operator": "operator"}.get(name, name), local)
        return _kubernetes_env(name.removesuffix("-1"), local)

    init = _postgres_init(pg_url, db_prefix)
    assert init.returncode == 0, init.stdout + init.stderr

    local = {
        "FLOWERS_NATS_URL": nats_url,
        "FLOWERS_DATABASE_URL": with_login(pg_url, None),
        "FLOWERS_DATABASE_PREFIX": db_prefix,
        "FLOWERS_DATA_DIR": str(session_dir / f"compose-{db_prefix}"),
        "FLOWERS_STREAM_REPLICAS": "1",  # one test server (compose: 3 nodes, 3 replicas)
        "FLOWERS_CONNECT_ATTEMPTS": "5",
    }
    for job, args in (("migrate", ["db", "migrate"]), ("streams", ["nats-streams"])):
        done = _run_flowers(args, env_of(job, local))
        assert done.returncode == 0, f"{job}: {done.stdout}{done.stderr}"

    processes: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    gateway_port = free_port()
    try:
        for name in PROCESSES:
            health = free_port()
            env = env_of(f"{name}-1", local)
            env |= {"FLOWERS_HEALTH_PORT": str(health), "FLOWERS_GATEWAY_PORT": str(gateway_port)}
            env |= {"FLOWERS_GATEWAY_HOST": "127.0.0.1", "FLOWERS_METRICS_HOST": "127.0.0.1"}
            env |= {k: str(free_port()) for k in env if k.startswith("FLOWERS_METRICS_PORT_")}
            processes[name] = (_serve(name, env, inherit=False), health)
        for name, (process, health) in processes.items():
            await eventually(
                _ready_or_exited(process, f"http://127.0.0.1:{health}/readyz"),
                timeout=90,
                interval=0.2,
                what=f"{name} ready",
            )
            assert process.poll() is None, f"{name} exited: {process.communicate()[1]!r}"
        health_run = _run_flowers(["health"], env_of("operator", local))
        assert health_run.returncode == 0, health_run.stdout + health_run.stderr
        for service in SERVICES:
            assert re.search(rf"^{service}\s+\{{", health_run.stdout, flags=re.M), service
        gateway = f"http://127.0.0.1:{gateway_port}/healthz"
        assert await _status(gateway) == 200  # the gateway reaches every service as itself
        # The auditor's verification from the toolbox, the key store and the gateway's access
        # record included (the migration granted the auditor that table alone).
        verified = _run_flowers(["audit", "verify"], env_of("operator", local))
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "OK   access log  chain intact (0 records)" in verified.stdout
    finally:
        for process, _ in processes.values():
            process.send_signal(signal.SIGTERM)
        for process, _ in processes.values():
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
