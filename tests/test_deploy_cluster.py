"""deploy/ runs on clusters: compose's 3 RabbitMQ nodes and the Kubernetes operators' path.

Nothing is started (there is no Docker or Kubernetes here): the manifests are read and
checked against each other and against what the code accepts.
"""

from __future__ import annotations

import re
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from tests.test_deploy import (
    DEPLOY,
    INTERPOLATION,
    K8S,
    Doc,
    _compose_env,
    _k8s_docs,
    _load_yaml_all,
    _service,
    _settings,
    rabbitmq_nodes,
)

CLUSTER = K8S / "cluster"
RABBITMQ_CONF = DEPLOY / "rabbitmq" / "rabbitmq.conf"
APP_SERVICES = ("migrate", "receiver", "worker")
K8S_REFERENCE = re.compile(r"\$\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\)")


def _conf() -> dict[str, str]:
    lines = RABBITMQ_CONF.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _amqp_urls(value: str) -> list[Any]:
    return [urlsplit(url.strip()) for url in value.split(",")]


# --- compose ---------------------------------------------------------------------------------


def test_compose_runs_three_rabbitmq_nodes_that_find_each_other() -> None:
    nodes = rabbitmq_nodes()
    assert len(nodes) == 3
    conf = _conf()
    assert conf["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {value for key, value in conf.items() if key.startswith("cluster_formation.classic")}
    assert listed == {f"rabbit@{_service(node)['hostname']}" for node in nodes}
    cookies = {_service(node)["environment"]["RABBITMQ_ERLANG_COOKIE"] for node in nodes}
    (cookie,) = cookies  # one cookie, shared
    assert INTERPOLATION.fullmatch(cookie)["op"] == ":?"  # type: ignore[index]
    volumes = [_service(node)["volumes"][0].split(":")[0] for node in nodes]
    assert len(set(volumes)) == 3, "each node keeps its own data"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_app_urls_list_every_node(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _compose_env(service)
    raw = str(env["CONFIRMHUB_AMQP_URL"])
    urls = _amqp_urls(INTERPOLATION.sub("placeholder", raw))
    assert {url.hostname for url in urls} == {
        _service(node)["hostname"] for node in rabbitmq_nodes()
    }
    assert {url.port for url in urls} == {5672}
    assert len({url.username for url in urls}) == 1
    _settings({"CONFIRMHUB_AMQP_URL": INTERPOLATION.sub("placeholder", raw)}, monkeypatch)
    depends_on = _service(service).get("depends_on", {})
    if service != "migrate":
        for node in rabbitmq_nodes():
            assert depends_on[node]["condition"] == "service_healthy"


# --- Kubernetes: the operators' path ---------------------------------------------------------


def _cluster_docs() -> dict[str, list[Doc]]:
    return {path.name: _load_yaml_all(path) for path in sorted(CLUSTER.glob("*.yaml"))}


def _one(kind: str) -> Doc:
    (found,) = [doc for docs in _cluster_docs().values() for doc in docs if doc["kind"] == kind]
    return found


def _patches() -> list[Doc]:
    kustomization = _one("Kustomization")
    return [doc for p in kustomization["patches"] for doc in _load_yaml_all(CLUSTER / p["path"])]


def _env_of(patch: Doc) -> list[Doc]:
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    return cast(list[Doc], container["env"])


def test_cluster_kustomization_builds_on_the_small_option() -> None:
    kustomization = _one("Kustomization")
    for resource in kustomization["resources"]:
        target = (CLUSTER / resource).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), resource
    assert "../" in kustomization["resources"]
    listed = {p["path"] for p in kustomization["patches"]} | set(kustomization["resources"])
    assert {path.name for path in CLUSTER.glob("*.yaml")} - listed == {"kustomization.yaml"}


def test_cluster_runs_three_rabbitmq_nodes_and_a_postgresql_standby() -> None:
    rabbitmq = _one("RabbitmqCluster")
    assert rabbitmq["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rabbitmq["spec"]["replicas"] == 3
    postgres = _one("Cluster")
    assert postgres["apiVersion"] == "postgresql.cnpg.io/v1"
    assert postgres["spec"]["instances"] == 2


def test_cluster_patches_every_workload_of_the_small_option() -> None:
    workloads = {
        (doc["kind"], doc["metadata"]["name"], container["name"])
        for doc in _k8s_docs()
        if doc["kind"] in {"Deployment", "Job"}
        for container in doc["spec"]["template"]["spec"]["containers"]
    }
    patched = {
        (patch["kind"], patch["metadata"]["name"], c["name"])
        for patch in _patches()
        for c in patch["spec"]["template"]["spec"]["containers"]
    }
    assert patched == workloads


def test_cluster_urls_lead_to_the_operators_services_with_their_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rabbitmq = _one("RabbitmqCluster")
    postgres = _one("Cluster")
    broker, database = rabbitmq["metadata"]["name"], postgres["metadata"]["name"]
    expected_nodes = {
        f"{broker}-server-{n}.{broker}-nodes" for n in range(rabbitmq["spec"]["replicas"])
    }
    for patch in _patches():
        env = _env_of(patch)
        defined: list[str] = []
        values: dict[str, str] = {}
        for item in env:
            if "valueFrom" in item:
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref["name"] in {f"{broker}-default-user", f"{database}-app"}, ref
                assert ref["key"] in {"username", "password"}
            else:
                # Kubernetes expands $(NAME) only for variables defined above.
                for name in K8S_REFERENCE.findall(item["value"]):
                    assert name in defined, f"{item['name']} uses $({name}) before it is set"
                values[item["name"]] = K8S_REFERENCE.sub("placeholder", item["value"])
            defined.append(item["name"])

        amqp = _amqp_urls(values["CONFIRMHUB_AMQP_URL"])
        assert {url.hostname for url in amqp} == expected_nodes
        assert {url.port for url in amqp} == {5672}
        db = urlsplit(values["CONFIRMHUB_DATABASE_URL"])
        assert db.scheme == "postgresql+asyncpg"
        assert db.hostname == f"{database}-rw"
        assert db.path == "/" + postgres["spec"]["bootstrap"]["initdb"]["database"]
        _settings(values, monkeypatch)


def test_cluster_path_is_namespace_agnostic() -> None:
    for docs in _cluster_docs().values():
        for doc in docs:
            assert "namespace" not in doc.get("metadata", {}), doc["kind"]
            assert "namespace" not in doc


def test_the_cluster_paths_are_documented() -> None:
    readme = (DEPLOY / "README.md").read_text()
    assert "deploy/k8s/cluster" in readme
    assert "RABBITMQ_ERLANG_COOKIE" in readme
