"""Architecture rules that keep the code simple, checked rather than hoped for."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = ("faust", "aiokafka", "confluent_kafka", "kafka", "mode", "rocksdict",
                     "streams", "connectors", "monitoring", "prometheus_client")


def _imports(path: Path) -> set[str]:
    if path.suffix == ".pyx":  # Cython: read the import lines, ast cannot parse cdef
        return {line.split()[1].split(".")[0] for line in path.read_text().splitlines()
                if line.startswith(("import ", "from ", "cimport "))}
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_faust_kafka_or_adapters() -> None:
    offenders = {}
    files = [*ROOT.joinpath("core").rglob("*.py"), *ROOT.joinpath("core").glob("*.pyx")]
    assert len(files) > 5
    for path in files:
        bad = _imports(path) & set(FORBIDDEN_IN_CORE)
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_importing_the_engine_loads_no_kafka_client() -> None:
    code = ("import sys, core.engine, core.reports, connectors.replay; "
            "print(','.join(m for m in ('faust', 'aiokafka', 'confluent_kafka') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""


def test_compiled_kernel_is_loaded_when_required() -> None:
    from core import netting

    if os.environ.get("MILLSTREAM_REQUIRE_COMPILED") == "1":
        assert netting.COMPILED
        assert netting.load("cython").CYTHON_MODULE == 1
    assert netting.load("python").CYTHON_MODULE == 0


def test_docker_compose_parses_and_builds_with_the_ci_install_script() -> None:
    """The details (settings, ports, mounts) are checked in test_deploy.py."""
    services = yaml.safe_load(ROOT.joinpath("docker-compose.yml").read_text())["services"]
    assert all(services[f"kafka-{n}"]["image"].startswith("apache/kafka:") for n in (1, 2, 3))
    assert services["worker-1"]["build"] == services["worker-2"]["build"] == "."
    dockerfile = ROOT.joinpath("Dockerfile").read_text()
    ci = ROOT.joinpath(".ci/run").read_text()
    assert "scripts/install.sh" in dockerfile
    assert "scripts/install.sh" in ci


def test_ci_runs_the_readme_test_command() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    ci = ROOT.joinpath(".ci/run").read_text()
    assert "make test" in readme
    assert ci.strip().splitlines()[-1] == "make test"
