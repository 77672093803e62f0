"""deploy/ agrees with the code it runs.

There is no Docker or Kubernetes here, so nothing is started: each check reads the
manifests and compares them with what the code itself declares: the settings fields, the
receiver's routes, the worker's probe routes, the CLI, the Prometheus registry and the
RabbitMQ topology (recorded from ``declare_topology``).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import aio_pika
import pytest
import yaml
from aio_pika.abc import AbstractChannel
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from confirmhub import metrics
from confirmhub.broker import (
    DEAD_LETTER_EXCHANGE,
    DELIVERY_LIMIT,
    WORKER_QUEUES,
    declare_topology,
)
from confirmhub.settings import Settings
from receiver.app import create_app
from schemas.events import EVENTS_EXCHANGE
from schemas.inbound import INBOUND_EXCHANGE
from service import runtime
from service.cli import build_parser
from worker.app import _DRAIN_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "confirmhub.json"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"

Doc = dict[str, Any]

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
SETTINGS_ENV = frozenset(f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields)
SETTINGS_NAME = re.compile(ENV_PREFIX + r"[A-Z0-9_]+")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?[^}]*\}")
METRIC_NAME = re.compile(r"\bconfirmhub_[a-zA-Z0-9_:]*")
# What prometheus_client exposes for a family of each type.
EXPOSED_SUFFIXES: Mapping[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}


# --- loading ---------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])


def _load_yaml_all(path: Path) -> list[Doc]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} holds no document"
    assert all(isinstance(doc, dict) for doc in docs), f"{path}: a document is not a mapping"
    return cast(list[Doc], docs)


def _compose() -> Doc:
    return _load_yaml_all(COMPOSE_FILE)[0]


def _service(name: str) -> Doc:
    return cast(Doc, _compose()["services"][name])


def _k8s_docs() -> list[Doc]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in _load_yaml_all(path)]


def _k8s(kind: str) -> list[Doc]:
    return [doc for doc in _k8s_docs() if doc["kind"] == kind]


def _workloads() -> list[Doc]:
    return [*_k8s("Deployment"), *_k8s("Job")]


def _deployment(component: str) -> Doc:
    (found,) = [
        d
        for d in _k8s("Deployment")
        if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
        == component
    ]
    return found


def _containers(workload: Doc) -> list[Doc]:
    return cast(list[Doc], workload["spec"]["template"]["spec"]["containers"])


def _container_env(container: Doc) -> dict[str, str]:
    """The environment a container gets: ConfigMap and Secret via envFrom, then env."""
    sources = {
        (doc["kind"], doc["metadata"]["name"]): doc.get("data") or doc.get("stringData") or {}
        for doc in _k8s_docs()
        if doc["kind"] in {"ConfigMap", "Secret"}
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            if key in source:
                env.update(sources[(kind, source[key]["name"])])
    env.update(
        {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    )
    return env


def _port_number(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return cast(int, number)


def _settings(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings read from exactly ``env``, as a process with that environment reads them."""
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def _receiver_get_paths() -> set[str]:
    app = create_app(Settings())
    return {
        resource.canonical
        for resource in app.router.resources()
        if any(route.method == "GET" for route in resource)
    }


def _worker_probe_paths() -> set[str]:
    """The GET paths the worker's metrics server registers in service/runtime.py."""
    tree = ast.parse(inspect.getsource(runtime))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _cli_accepts(argv: list[str]) -> bool:
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


# --- every file ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    _load_yaml_all(path)


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_every_json_file_parses(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), dict)


def test_every_confirmhub_variable_is_a_setting() -> None:
    used: dict[str, set[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in SETTINGS_NAME.findall(path.read_text()):
            used.setdefault(name, set()).add(str(path.relative_to(DEPLOY)))
    unknown = {name: files for name, files in used.items() if name not in SETTINGS_ENV}
    assert not unknown, f"not fields of confirmhub.settings.Settings: {unknown}"
    assert "CONFIRMHUB_METRICS_PORT" in used


# --- Dockerfile ------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def _build_args() -> dict[str, str]:
    args: dict[str, str] = {}
    for op, value in _dockerfile_instructions():
        if op == "ARG" and "=" in value:
            name, default = value.split("=", 1)
            args[name] = default
    return args


def _expand(value: str) -> str:
    args = _build_args()
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), value)


def test_dockerfile_builds_from_slim_python_and_runs_as_non_root() -> None:
    bases = [_expand(value.split()[0]) for op, value in _dockerfile_instructions() if op == "FROM"]
    assert len(bases) >= 2, "a multi-stage build: wheels first, a clean runtime after"
    assert all(base.startswith("python:3.11-slim") for base in bases), bases
    users = [_expand(value) for op, value in _final_stage() if op == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric uid, so runAsNonRoot can verify it"
    assert int(uid) != 0


def test_dockerfile_runtime_stage_is_lean_and_unbuffered() -> None:
    final = _final_stage()
    env = " ".join(value for op, value in final if op == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    runs = " ".join(value for op, value in final if op == "RUN")
    for tool in ("gcc", "g++", "build-essential", "pip wheel", "--from=build /wheels"):
        assert tool not in runs, f"{tool} in the runtime stage"
    copies = " ".join(value for op, value in final if op == "COPY")
    assert "/wheels" not in copies, "wheels stay in the build stage"


def test_dockerfile_entrypoint_is_the_cli_with_receiver_by_default() -> None:
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["confirmhub"]
    command = json.loads(final["CMD"])
    assert command == ["receiver"]
    assert _cli_accepts(command)


def test_dockerfile_copies_every_package_the_wheel_needs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    copied = {
        source.rstrip("/")
        for op, value in _dockerfile_instructions()
        if op == "COPY" and not value.startswith("--from")
        for source in value.split()[:-1]
    }
    assert packages <= copied, f"not copied into the build stage: {packages - copied}"
    assert {"pyproject.toml", "README.md"} <= copied
    assert all((ROOT / path).exists() for path in copied), copied


# --- docker compose --------------------------------------------------------------------------


def test_compose_references_exist() -> None:
    compose = _compose()
    services: dict[str, Doc] = compose["services"]
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = (DEPLOY / build["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context}"
            assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: mounts missing {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared {source}"
        for config in service.get("configs", []):
            declared = compose["configs"][config["source"]]
            if "file" in declared:
                assert (DEPLOY / declared["file"]).is_file(), f"{name}: {declared['file']}"
        depends_on = service.get("depends_on", {})
        for target in depends_on:
            assert target in services, f"{name} depends on unknown {target}"
            condition = depends_on[target]["condition"] if isinstance(depends_on, dict) else None
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_compose_secrets_are_required_variables() -> None:
    secret = re.compile("PASSWORD|TOKEN|SECRET|KEY")
    found = list(INTERPOLATION.finditer(COMPOSE_FILE.read_text()))
    assert found
    for match in found:
        if secret.search(match["name"]):
            assert match["op"] == ":?", f"{match[0]}: a secret must be required (${{VAR:?msg}})"


def test_compose_runs_each_role_from_one_image() -> None:
    services = _compose()["services"]
    roles = {"migrate": "migrate", "receiver": "receiver", "worker": "worker"}
    images = {services[name]["image"] for name in roles}
    assert len(images) == 1
    for name, role in roles.items():
        assert services[name]["command"] == [role]
        assert _cli_accepts(services[name]["command"])
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["receiver"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def _compose_env(service: str) -> dict[str, str | None]:
    return cast(dict[str, str | None], _service(service)["environment"])


def test_compose_literal_settings_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("migrate", "receiver", "worker"):
        literal = {
            key: value
            for key, value in _compose_env(name).items()
            if value is not None and "${" not in value
        }
        _settings(literal, monkeypatch)


def _healthcheck_target(service: str) -> tuple[int, str]:
    command = " ".join(_service(service)["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", command)
    assert match, command
    return int(match[1]), match[2]


def test_compose_ports_and_health_checks_match_the_app() -> None:
    receiver_port = int(_compose_env("receiver")["CONFIRMHUB_PORT"] or 0)
    worker_port = int(_compose_env("worker")["CONFIRMHUB_METRICS_PORT"] or 0)
    assert f"127.0.0.1:{receiver_port}:{receiver_port}" in _service("receiver")["ports"]
    assert str(worker_port) in _service("worker")["expose"]

    port, path = _healthcheck_target("receiver")
    assert port == receiver_port
    assert path in _receiver_get_paths()
    port, path = _healthcheck_target("worker")
    assert port == worker_port
    assert path in _worker_probe_paths()


def test_prometheus_scrapes_the_receiver_and_every_worker() -> None:
    config = _load_yaml_all(DEPLOY / "prometheus" / "prometheus.yml")[0]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = {
        "receiver": int(_compose_env("receiver")["CONFIRMHUB_PORT"] or 0),
        "worker": int(_compose_env("worker")["CONFIRMHUB_METRICS_PORT"] or 0),
    }
    paths = {"receiver": _receiver_get_paths(), "worker": _worker_probe_paths()}
    for service, port in expected.items():
        (job,) = [
            j
            for j in jobs.values()
            if any(service in sd["names"] for sd in j.get("dns_sd_configs", []))
        ]
        assert [sd["port"] for sd in job["dns_sd_configs"]] == [port]
        assert job.get("metrics_path", "/metrics") in paths[service]
    assert "prometheus" in _compose()["services"]


def test_grafana_provisioning_loads_the_dashboard() -> None:
    grafana = _service("grafana")
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    dashboards_dir = mounts["./grafana/dashboards"]
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert mounts["./grafana/provisioning/dashboards"].endswith("/provisioning/dashboards")
    assert mounts["./grafana/provisioning/datasources"].endswith("/provisioning/datasources")
    providers = [
        provider
        for path in sorted((provisioning / "dashboards").glob("*.yml"))
        for provider in _load_yaml_all(path)[0]["providers"]
    ]
    assert [p["options"]["path"] for p in providers] == [dashboards_dir]
    datasources = [
        source
        for path in sorted((provisioning / "datasources").glob("*.yml"))
        for source in _load_yaml_all(path)[0]["datasources"]
    ]
    uids = {source["uid"] for source in datasources}
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        target["datasource"]["uid"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    assert used
    assert used <= uids
    assert any(source["url"].startswith("http://prometheus:") for source in datasources), (
        "the datasource is the compose Prometheus"
    )


# --- RabbitMQ --------------------------------------------------------------------------------


class _RecordedQueue:
    def __init__(self, recorder: _TopologyRecorder, name: str) -> None:
        self.name = name
        self._recorder = recorder

    async def bind(self, *args: Any, **kwargs: Any) -> None:
        call = inspect.signature(aio_pika.Queue.bind).bind(self, *args, **kwargs)
        call.apply_defaults()
        exchange = call.arguments["exchange"]
        routing_key = call.arguments["routing_key"]
        self._recorder.bindings.append(
            {
                "source": exchange if isinstance(exchange, str) else exchange.name,
                "vhost": "/",
                "destination": self.name,
                "destination_type": "queue",
                # aio_pika binds with the queue's name when no routing key is given.
                "routing_key": self.name if routing_key is None else routing_key,
                "arguments": call.arguments["arguments"] or {},
            }
        )


class _RecordedExchange:
    def __init__(self, name: str) -> None:
        self.name = name


class _TopologyRecorder:
    """A channel that records what ``declare_topology`` declares, with aio_pika's defaults."""

    def __init__(self) -> None:
        self.exchanges: list[Doc] = []
        self.queues: list[Doc] = []
        self.bindings: list[Doc] = []

    async def declare_exchange(self, *args: Any, **kwargs: Any) -> _RecordedExchange:
        call = inspect.signature(aio_pika.Channel.declare_exchange).bind(self, *args, **kwargs)
        call.apply_defaults()
        given = call.arguments
        exchange_type = given["type"]
        self.exchanges.append(
            {
                "name": given["name"],
                "vhost": "/",
                "type": getattr(exchange_type, "value", exchange_type),
                "durable": given["durable"],
                "auto_delete": given["auto_delete"],
                "internal": given["internal"],
                "arguments": given["arguments"] or {},
            }
        )
        return _RecordedExchange(given["name"])

    async def declare_queue(self, *args: Any, **kwargs: Any) -> _RecordedQueue:
        call = inspect.signature(aio_pika.Channel.declare_queue).bind(self, *args, **kwargs)
        call.apply_defaults()
        given = call.arguments
        assert not given["exclusive"], "an exclusive queue cannot be predeclared"
        self.queues.append(
            {
                "name": given["name"],
                "vhost": "/",
                "durable": given["durable"],
                "auto_delete": given["auto_delete"],
                "arguments": given["arguments"] or {},
            }
        )
        return _RecordedQueue(self, given["name"])


def _by_identity(items: Iterable[Doc]) -> list[Doc]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


async def test_rabbitmq_definitions_equal_the_declared_topology() -> None:
    recorder = _TopologyRecorder()
    await declare_topology(cast(AbstractChannel, recorder))
    definitions = json.loads(DEFINITIONS.read_text())

    assert {"name": "/"} in definitions["vhosts"]
    for kind in ("exchanges", "queues", "bindings"):
        assert _by_identity(definitions[kind]) == _by_identity(getattr(recorder, kind)), kind


def test_rabbitmq_definitions_hold_the_contract_names() -> None:
    definitions = json.loads(DEFINITIONS.read_text())
    exchanges = {x["name"]: x["type"] for x in definitions["exchanges"]}
    assert exchanges[INBOUND_EXCHANGE] == "topic"
    assert exchanges[EVENTS_EXCHANGE] == "topic"
    assert exchanges[DEAD_LETTER_EXCHANGE] == "fanout"
    queues = {q["name"]: q["arguments"] for q in definitions["queues"]}
    for name in WORKER_QUEUES:
        assert queues[name]["x-queue-type"] == "quorum"
        assert queues[name]["x-delivery-limit"] == DELIVERY_LIMIT
        assert queues[name]["x-dead-letter-exchange"] == DEAD_LETTER_EXCHANGE


def test_rabbitmq_loads_the_definitions_and_a_user_for_the_app() -> None:
    conf = {
        key.strip(): value.strip()
        for key, value in (
            line.split("=", 1)
            for line in (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
    }
    load_from = conf["load_definitions"]
    compose = _compose()
    topology = [
        n for n, c in compose["configs"].items() if c.get("file") == "./rabbitmq/definitions.json"
    ]
    nodes = rabbitmq_nodes()
    assert nodes
    for node in nodes:
        mounted = {c["source"]: c["target"] for c in _service(node)["configs"]}
        assert [mounted[name].rsplit("/", 1)[0] for name in topology] == [load_from]
        assert mounted["rabbitmq-conf"] == "/etc/rabbitmq/rabbitmq.conf"

        users_config = [name for name, target in mounted.items() if target.endswith("users.json")]
        (users_name,) = users_config
        users = json.loads(
            INTERPOLATION.sub("placeholder", compose["configs"][users_name]["content"])
        )
        amqp_urls = INTERPOLATION.sub(
            "placeholder", str(_compose_env("receiver")["CONFIRMHUB_AMQP_URL"])
        )
        for amqp_url in amqp_urls.split(","):
            amqp_user = urlsplit(amqp_url.strip()).username
            assert amqp_user
            assert amqp_user in {user["name"] for user in users["users"]}
            assert {"user": amqp_user, "vhost": "/"}.items() <= next(
                p for p in users["permissions"] if p["user"] == amqp_user
            ).items()


def rabbitmq_nodes() -> list[str]:
    """The compose services that are RabbitMQ nodes."""
    return sorted(
        name
        for name, service in _compose()["services"].items()
        if str(service.get("image", "")).startswith("rabbitmq:")
    )


# --- Kubernetes ------------------------------------------------------------------------------


def test_k8s_manifests_are_namespace_agnostic() -> None:
    for doc in _k8s_docs():
        assert "namespace" not in doc.get("metadata", {}), doc["kind"]
        assert "namespace" not in doc, "kustomization sets no namespace"


def test_kustomization_lists_existing_files_but_not_the_secret_template() -> None:
    (kustomization,) = _k8s("Kustomization")
    resources = kustomization["resources"]
    assert all((K8S / resource).is_file() for resource in resources), resources
    assert not any("secret" in resource for resource in resources)


def test_k8s_settings_are_valid_and_secrets_are_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (config,) = _k8s("ConfigMap")
    _settings(config["data"], monkeypatch)
    (secret,) = _k8s("Secret")
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} must be a clearly marked placeholder"
    secret_keys = set(secret["stringData"])
    assert not secret_keys & set(config["data"]), "a value is either secret or not"
    for required in ("ADMIN_TOKEN", "MCN_WEBHOOK_SECRET", "MCN_API_TOKEN", "SECRETS_KEY"):
        assert f"{ENV_PREFIX}{required}" in secret_keys
    assert {f"{ENV_PREFIX}AMQP_URL", f"{ENV_PREFIX}DATABASE_URL"} <= secret_keys


def test_k8s_workloads_use_the_config_secret_and_one_image() -> None:
    names = {(doc["kind"], doc.get("metadata", {}).get("name")) for doc in _k8s_docs()}
    images = set()
    for workload in _workloads():
        for container in _containers(workload):
            images.add(container["image"])
            assert _cli_accepts(container["args"]), container["args"]
            for source in container["envFrom"]:
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in names
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in names
    assert len(images) == 1
    roles = {c["args"][0] for w in _workloads() for c in _containers(w)}
    assert roles == {"migrate", "receiver", "worker"}


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_k8s_pods_are_hardened(kind: str) -> None:
    for workload in _k8s(kind):
        pod = workload["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False
        for container in pod["containers"]:
            name = f"{workload['metadata']['name']}/{container['name']}"
            security = {**pod_security, **container.get("securityContext", {})}
            assert security.get("runAsNonRoot") is True, name
            assert security.get("runAsUser", 1) != 0, name
            assert security.get("readOnlyRootFilesystem") is True, name
            assert security.get("allowPrivilegeEscalation") is False, name
            assert "ALL" in security.get("capabilities", {}).get("drop", []), name
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name}: {bound}"


def test_k8s_deployments_have_probes_and_outlive_the_graceful_shutdown() -> None:
    for deployment in _k8s("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["replicas"] >= 2
        assert pod["terminationGracePeriodSeconds"] > max(runtime._SHUTDOWN_TIMEOUT, _DRAIN_TIMEOUT)
        for container in pod["containers"]:
            assert "livenessProbe" in container, container["name"]
            assert "readinessProbe" in container, container["name"]


def _probe_targets(workload: Doc) -> list[tuple[int, str]]:
    (container,) = _containers(workload)
    return [
        (_port_number(container, probe["httpGet"]["port"]), probe["httpGet"]["path"])
        for key in ("startupProbe", "livenessProbe", "readinessProbe")
        if (probe := container.get(key)) is not None
    ]


def test_k8s_receiver_probes_hit_the_app_routes_on_its_port() -> None:
    receiver = _deployment("receiver")
    (container,) = _containers(receiver)
    port = int(_container_env(container)[f"{ENV_PREFIX}PORT"])
    routes = _receiver_get_paths()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe_port, path in _probe_targets(receiver):
        assert probe_port == port
        assert path in routes


def test_k8s_worker_probes_hit_the_metrics_server() -> None:
    worker = _deployment("worker")
    (container,) = _containers(worker)
    port = int(_container_env(container)[f"{ENV_PREFIX}METRICS_PORT"])
    routes = _worker_probe_paths()
    assert "/healthz" in routes
    for probe_port, path in _probe_targets(worker):
        assert probe_port == port
        assert path == "/healthz"


def test_k8s_prometheus_annotations_point_at_the_metrics_port() -> None:
    served = {"receiver": _receiver_get_paths(), "worker": _worker_probe_paths()}
    for component, paths in served.items():
        deployment = _deployment(component)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        (container,) = _containers(deployment)
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] in paths
        ports = {p["containerPort"] for p in container["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def test_k8s_selectors_match_pods() -> None:
    deployments = _k8s("Deployment")
    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)

    pdbs = _k8s("PodDisruptionBudget")
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        matched = [
            d
            for d in deployments
            if _selects(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(matched) == 1, pdb["metadata"]["name"]
    covered = {
        d["metadata"]["name"]
        for d in deployments
        for pdb in pdbs
        if _selects(
            pdb["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]
        )
    }
    assert covered == {d["metadata"]["name"] for d in deployments}, "a PDB for each Deployment"

    for service in _k8s("Service"):
        selector = service["spec"]["selector"]
        matched = [
            d
            for d in deployments
            if _selects(selector, d["spec"]["template"]["metadata"]["labels"])
        ]
        assert matched, service["metadata"]["name"]
        for deployment in matched:
            for port in service["spec"]["ports"]:
                (container,) = _containers(deployment)
                _port_number(container, port["targetPort"])


# --- Grafana ---------------------------------------------------------------------------------


def _exposed_metric_names() -> dict[str, str]:
    """Every sample name the registry exposes for a confirmhub family → that family."""
    exposed: dict[str, str] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("confirmhub_"):
            for suffix in EXPOSED_SUFFIXES.get(family.type, ("",)):
                exposed[family.name + suffix] = family.name
    return exposed


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_queries_only_real_metrics() -> None:
    exposed = _exposed_metric_names()
    exprs = _dashboard_exprs()
    assert exprs
    for expr in exprs:
        names = METRIC_NAME.findall(expr)
        assert names, expr
        unknown = [name for name in names if name not in exposed]
        assert not unknown, f"{unknown} in {expr}"
        if "histogram_quantile" in expr:
            assert all(name.endswith("_bucket") for name in names), expr
            assert "le" in re.findall(r"by \(([^)]*)\)", expr)[0].replace(" ", "").split(",")


def test_dashboard_covers_every_metric() -> None:
    exposed = _exposed_metric_names()
    charted = {exposed[name] for expr in _dashboard_exprs() for name in METRIC_NAME.findall(expr)}
    defined = {
        family.name
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    }
    assert defined, "confirmhub.metrics defines metrics"
    assert defined <= charted, f"no panel for {sorted(defined - charted)}"


def test_dashboard_panels_have_unique_ids() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
