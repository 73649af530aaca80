"""docker-compose.yml and the Dockerfile agree with the app, without a Docker engine.

Every container setting must be one Millstream really reads (a ``Settings``
field, a valid value), point at services that exist on the ports they listen
on, and mount files that are in the repository; the image is installed the way
CI installs (``scripts/install.sh``).
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from millstream import cli
from millstream.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
KAFKA = sorted(name for name, s in SERVICES.items() if str(s.get("image", "")).startswith("apache/kafka:"))
MILLSTREAM = sorted(name for name, s in SERVICES.items() if s.get("build") == ".")
WORKERS = [name for name in MILLSTREAM if SERVICES[name]["command"][1:] == ["worker"]]
FIELDS = {f.name for f in dataclasses.fields(Settings)}


def listeners(service: str) -> dict[str, int]:
    """Listener name -> port of a broker service."""
    spec = SERVICES[service]["environment"]["KAFKA_LISTENERS"]
    return {name: int(port) for name, port in re.findall(r"(\w+)://[^:,]*:(\d+)", spec)}


def settings_of(service: str) -> Settings:
    environment = {k: str(v) for k, v in SERVICES[service].get("environment", {}).items()}
    return load_settings(environ=environment)


def mounted(service: str, container_path: str) -> Path | None:
    """The repository file a bind mount of ``service`` puts at ``container_path``."""
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./") and (container_path == target or container_path.startswith(target + "/")):
            return ROOT / source / container_path[len(target):].lstrip("/")
    return None


def host_ports() -> list[str]:
    return [port.split(":")[0] for s in SERVICES.values() for port in s.get("ports", [])]


def test_the_deployment_has_its_services() -> None:
    assert len(KAFKA) == 3
    assert len(WORKERS) == 2
    assert SERVICES["topics"]["command"] == ["millstream", "topics"]
    assert SERVICES["topics"]["restart"] == "no"
    assert {"prometheus", "grafana"} <= set(SERVICES)
    assert len(host_ports()) == len(set(host_ports()))


def test_kafka_is_a_three_node_kraft_cluster_of_the_project_version() -> None:
    pom = (ROOT / "tools" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)[1]
    ids, cluster_ids, voters = {}, set(), set()
    for name in KAFKA:
        service = SERVICES[name]
        env = service["environment"]
        assert service["image"] == f"apache/kafka:{version}"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        ids[name] = int(env["KAFKA_NODE_ID"])
        cluster_ids.add(env["CLUSTER_ID"])
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        ports = listeners(name)
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in ports
        advertised = dict(re.findall(r"(\w+)://([^,]+)", env["KAFKA_ADVERTISED_LISTENERS"]))
        internal = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
        assert advertised[internal] == f"{name}:{ports[internal]}"   # peers and workers reach it by service name
        assert f"--bootstrap-server localhost:{ports[internal]}" in service["healthcheck"]["test"][1]
        for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                    "KAFKA_DEFAULT_REPLICATION_FACTOR"):
            assert int(env[key]) == len(KAFKA)
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert sorted(ids.values()) == [1, 2, 3]
    assert len(cluster_ids) == 1 and len(base64.urlsafe_b64decode(cluster_ids.pop() + "==")) == 16
    expected = ",".join(f"{ids[name]}@{name}:{listeners(name)['CONTROLLER']}" for name in KAFKA)
    assert voters == {expected}


def test_every_millstream_variable_is_a_setting_with_a_valid_value() -> None:
    for name in MILLSTREAM:
        environment = SERVICES[name].get("environment", {})
        for key in environment:
            assert key.startswith("MILLSTREAM_") and key[len("MILLSTREAM_"):].lower() in FIELDS, (name, key)
        settings_of(name)   # raises on a value of the wrong type
    for key in re.findall(r"\b(MILLSTREAM_\w+)=", (ROOT / "Dockerfile").read_text()):
        assert key[len("MILLSTREAM_"):].lower() in FIELDS, key


def test_every_container_uses_one_cluster_and_one_topic_layout() -> None:
    internal = {f"{name}:{listeners(name)[SERVICES[name]['environment']['KAFKA_INTER_BROKER_LISTENER_NAME']]}"
                for name in KAFKA}
    layouts = set()
    for name in MILLSTREAM:
        settings = settings_of(name)
        assert set(settings.bootstrap.split(",")) == internal, name
        assert settings.replication == len(KAFKA), name   # and min.insync.replicas 2 (streams/topics.py)
        layouts.add((settings.topic_prefix, settings.partitions, settings.replication, settings.web_port))
    assert len(layouts) == 1


def test_every_command_is_a_millstream_command() -> None:
    parser = cli.build_parser()
    for name in MILLSTREAM:
        command = SERVICES[name]["command"]
        assert command[0] == "millstream"
        args = parser.parse_args(command[1:])
        if command[1] == "publish":
            assert (ROOT / args.events).is_file()


def test_workers_are_reachable_by_name_and_keep_their_state() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name in WORKERS:
        service = SERVICES[name]
        settings = settings_of(name)
        assert settings.web_host == name            # the canonical URL peers forward requests to
        assert settings.web_bind == "0.0.0.0"       # Prometheus and peers come from other containers
        assert [int(p.split(":")[1]) for p in service["ports"]] == [settings.web_port]
        volumes = dict(v.split(":")[:2] for v in service["volumes"])
        assert set(volumes.values()) == {settings.data_dir}
        assert set(volumes) <= declared
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert SERVICES["topics"]["depends_on"] == {name: {"condition": "service_healthy"} for name in KAFKA}


def test_prometheus_scrapes_the_workers_and_loads_the_rules() -> None:
    service = SERVICES["prometheus"]
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in service["command"])
    config_path = mounted("prometheus", flags["config.file"])
    assert config_path is not None and config_path.is_file()
    config = yaml.safe_load(config_path.read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:{settings_of(name).web_port}" for name in WORKERS}
    for rules in config["rule_files"]:
        path = mounted("prometheus", rules)
        assert path is not None and path.is_file(), rules


def test_grafana_is_provisioned_from_the_repository() -> None:
    service = SERVICES["grafana"]
    for volume in service["volumes"]:
        assert (ROOT / volume.split(":")[0]).is_dir(), volume
    provisioning = mounted("grafana", "/etc/grafana/provisioning")
    assert provisioning is not None
    providers = yaml.safe_load((provisioning / "dashboards" / "millstream.yml").read_text())["providers"]
    for provider in providers:
        folder = mounted("grafana", provider["options"]["path"])
        assert folder is not None and list(folder.glob("*.json")), provider
    home = mounted("grafana", service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home is not None and home.is_file()
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    prometheus_port = int(SERVICES["prometheus"]["ports"][0].split(":")[1])
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def test_the_image_is_installed_the_way_ci_installs() -> None:
    steps = dockerfile()
    python = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())[1]
    assert steps[0] == ("FROM", f"python:{python}-slim")
    runs = [args for kind, args in steps if kind == "RUN"]
    assert "scripts/install.sh" in runs
    assert "scripts/install.sh" in (ROOT / ".ci" / "run").read_text()
    assert (ROOT / "scripts" / "install.sh").stat().st_mode & 0o111
    for kind, args in steps:
        if kind == "COPY":
            *sources, _target = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".cache", ".git"} <= set(ignored)   # the host's venv, broker jars and history stay out
    command = [json_arg for kind, args in steps if kind == "CMD" for json_arg in yaml.safe_load(args)]
    assert command[0] == "millstream"
    cli.build_parser().parse_args(command[1:])
    assert [int(args) for kind, args in steps if kind == "EXPOSE"] == [Settings().web_port]


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_every_setting_is_documented(field: str) -> None:
    assert f"| `{field}` |" in (ROOT / "docs" / "settings.md").read_text()


def test_pyproject_ships_every_package_and_subpackage() -> None:
    from setuptools import find_packages

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = set(find_packages(str(ROOT), include=project["tool"]["setuptools"]["packages"]["find"]["include"]))
    on_disk = {str(init.parent.relative_to(ROOT)).replace("/", ".")
               for top in ("core", "schemas", "streams", "connectors", "monitoring", "millstream")
               for init in (ROOT / top).rglob("__init__.py")}
    assert on_disk <= shipped and {"monitoring", "connectors.importers"} <= shipped
    assert "prometheus-client" in " ".join(project["project"]["dependencies"])
