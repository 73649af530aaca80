"""Fetch and run a real Apache Kafka 4.x broker (KRaft, no ZooKeeper) on 127.0.0.1.

Tests and benchmarks need the real broker (Kafka-protocol clones mis-report offsets and break
exactly-once), but no Kafka distribution can be downloaded here: the broker's jars come from the
Maven project in ``tools/kafka`` and run with a plain ``java -cp '<lib>/*' kafka.Kafka``.

Layout of a data dir (default ``<cache>/data``)::

    cluster.json                 state: cluster id, ports, pids (only these pids are ever signalled)
    node-<id>/server.properties  written on every start
    node-<id>/server.log         log4j output plus the JVM's stdout/stderr
    node-<id>/data/              log.dirs (KRaft metadata and topic data)

With ``--sasl-ssl`` (``start(security="SASL_SSL")``) the client and inter-broker listener speaks
SASL_SSL with SCRAM users made at format time, the controller listener stays PLAINTEXT on loopback,
and ``security/`` holds the throwaway CA, the broker's key store and the clients' settings
(``millstream.broker_security``).

Linux only (pids are checked through /proc). Every node is a combined broker+controller with a
static quorum (``controller.quorum.voters``). Topic auto-creation keeps Kafka's default (enabled):
tools and Faust may rely on it, while code that cares about partition counts creates its topics
explicitly.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import broker_security as sec

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = REPO_ROOT / "tools" / "kafka"
POM = TOOLS_DIR / "pom.xml"
LOG4J_CONFIG = TOOLS_DIR / "log4j2.properties"
HOST = "127.0.0.1"
MIN_JAVA = 17
STATE_FILE = "cluster.json"
MARKER = ".complete"
# Popen objects of nodes started by this process: kept so they are reaped (no zombies) and never
# garbage-collected while running (that warns, and the test suite turns warnings into errors).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """A broker could not be fetched, started, checked or stopped."""


@dataclass
class NodeInfo:
    """One combined broker+controller process."""

    node_id: int
    port: int
    controller_port: int
    node_dir: str
    props_file: str
    log_file: str
    log_dir: str
    pid: int | None = None


@dataclass
class ClusterInfo:
    """What callers need to reach (and later stop) a running cluster."""

    bootstrap_servers: str
    cluster_id: str
    data_dir: str
    nodes: list[NodeInfo] = field(default_factory=list)
    kafka_version: str = ""
    #: PLAINTEXT or SASL_SSL (the client listener; the controller listener is always PLAINTEXT)
    security_protocol: str = "PLAINTEXT"
    #: with SASL_SSL: the CA clients trust, and the file with the first client user's MILLSTREAM_* settings
    ssl_cafile: str = ""
    client_env: str = ""
    already_running: bool = False

    @property
    def log_files(self) -> list[str]:
        return [n.log_file for n in self.nodes]


# --------------------------------------------------------------------------- paths and jars


def kafka_home() -> Path:
    """Cache root; ``MILLSTREAM_KAFKA_HOME`` overrides so CI or users can share one copy of the jars."""
    env = os.environ.get("MILLSTREAM_KAFKA_HOME")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".cache" / "kafka"


def default_data_dir() -> Path:
    return kafka_home() / "data"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise fetch/start/stop between processes (e.g. parallel test workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pom_hash() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def fetch_jars(cache_dir: Path | str | None = None) -> Path:
    """Copy the broker's runtime jars into ``<cache>/lib`` once per version of the pom.

    The marker file holds the pom's hash and is written last, so an interrupted download is
    redone instead of leaving a half-filled classpath behind.
    """
    cache = Path(cache_dir) if cache_dir else kafka_home()
    lib = cache / "lib"
    want = _pom_hash()
    with _locked(cache / ".fetch.lock"):
        marker = lib / MARKER
        if marker.is_file() and marker.read_text().strip() == want and any(lib.glob("*.jar")):
            return lib
        if not POM.is_file():
            raise BrokerError(f"{POM} not found: run from a source checkout (pip install -e .)")
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (mvn) is not on PATH; it is needed once to fetch the Kafka jars")
        partial = cache / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
            out = (proc.stdout + proc.stderr)[-4000:]
            raise BrokerError(f"fetching Kafka jars failed ({' '.join(cmd)}):\n{out}")
        (partial / MARKER).write_text(want + "\n")
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)
    return lib


def kafka_version(lib: Path) -> str:
    """The broker version, read from the jar name so it always matches what runs."""
    for jar in lib.glob("kafka_2.13-*.jar"):
        m = re.fullmatch(r"kafka_2\.13-(.+)\.jar", jar.name)
        if m:
            return m.group(1)
    return "unknown"


# --------------------------------------------------------------------------- java


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError(f"java not found: Kafka 4.x needs a Java {MIN_JAVA}+ runtime on PATH or JAVA_HOME")
    return found


def check_java() -> int:
    """Return the Java major version; raise early because Kafka 4.x refuses to run below 17."""
    java = _java()
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise BrokerError(f"cannot run {java} -version: {exc}") from exc
    text = proc.stderr + proc.stdout
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        raise BrokerError(f"cannot parse the output of {java} -version:\n{text}")
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_x" style
        major = int(m.group(2))
    if major < MIN_JAVA:
        raise BrokerError(f"{java} is Java {major}; Kafka 4.x needs Java {MIN_JAVA} or newer")
    return major


def _random_cluster_id() -> str:
    """Same format as ``StorageTool random-uuid`` (URL-safe base64, no padding) without a JVM start."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka avoids ids that look like command-line flags
            return cid


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [p.decode(errors="replace") for p in raw.split(b"\0") if p]


def _alive(pid: int | None) -> bool:
    """True for a running (not zombie) process; our own children are reaped through Popen."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _is_our_kafka(pid: int | None, props_file: str) -> bool:
    """Only signal a pid that still is a kafka.Kafka JVM for this node: pids get reused."""
    if not _alive(pid):
        return False
    args = _cmdline(pid or 0)
    return bool(args) and Path(args[0]).name.startswith("java") and "kafka.Kafka" in args and props_file in args


def _log_tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------- Kafka protocol probe


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    client = b"millstream-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    data = _recv_exact(sock, size)
    if struct.unpack(">i", data[:4])[0] != corr:
        raise ConnectionError("unexpected correlation id")
    return data[4:]


def _read_str(data: bytes, pos: int) -> tuple[str | None, int]:
    (n,) = struct.unpack_from(">h", data, pos)
    pos += 2
    if n < 0:
        return None, pos
    return data[pos : pos + n].decode(), pos + n


def probe(port: int, host: str = HOST, timeout: float = 2.0) -> list[int] | None:
    """Ask a broker which brokers it sees as alive (ApiVersions, then Metadata v4).

    A TCP connect alone is not enough: KRaft brokers bind their port long before they serve
    requests. Returns the alive (unfenced) broker ids, or None if the broker does not answer.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = _request(sock, 18, 0, 1, b"")  # ApiVersions v0
            error, count = struct.unpack_from(">hi", data, 0)
            if error != 0:
                return None
            ranges = {}
            for i in range(count):
                key, lo, hi = struct.unpack_from(">hhh", data, 6 + 6 * i)
                ranges[key] = (lo, hi)
            lo, hi = ranges.get(3, (0, -1))
            if not lo <= 4 <= hi:  # no non-flexible Metadata version we can parse: answering suffices
                return []
            data = _request(sock, 3, 4, 2, struct.pack(">ib", 0, 0))  # no topics, no auto-create
            (n_brokers,) = struct.unpack_from(">i", data, 4)
            pos, ids = 8, []
            for _ in range(n_brokers):
                (node_id,) = struct.unpack_from(">i", data, pos)
                _, pos = _read_str(data, pos + 4)  # host
                _, pos = _read_str(data, pos + 4)  # port, then rack
                ids.append(node_id)
            return ids
    except (OSError, ConnectionError, struct.error):
        return None


# --------------------------------------------------------------------------- configuration


def _node_infos(data_dir: Path, nodes: int, port: int, controller_port: int) -> list[NodeInfo]:
    infos = []
    for i in range(nodes):
        node_dir = data_dir / f"node-{i + 1}"
        infos.append(
            NodeInfo(
                node_id=i + 1,
                port=port + i,
                controller_port=controller_port + i,
                node_dir=str(node_dir),
                props_file=str(node_dir / "server.properties"),
                log_file=str(node_dir / "server.log"),
                log_dir=str(node_dir / "data"),
            )
        )
    return infos


def _server_properties(node: NodeInfo, all_nodes: list[NodeInfo], material: sec.SecurityMaterial | None = None) -> str:
    """Combined broker+controller config; internal topics sized to the cluster so one node works.

    With ``material`` the client listener is SASL_SSL (the file then holds secrets: written 0600).
    """
    n = len(all_nodes)
    rf, min_isr = (1, 1) if n == 1 else (min(3, n), min(2, n))
    voters = ",".join(f"{x.node_id}@{HOST}:{x.controller_port}" for x in all_nodes)
    props = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{node.port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": node.log_dir,
        "num.partitions": 1,
        # Kafka's default, stated so nobody wonders: auto-created topics get num.partitions.
        "auto.create.topics.enable": "true",
        "default.replication.factor": rf,
        # On 3 nodes acks=all survives one node down (RF 3, min ISR 2); explicit RF-1 topics then
        # need acks=1 or a topic-level min.insync.replicas=1.
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": min_isr,
        # Tests and demos would otherwise wait 3 s for every first consumer-group rebalance.
        "group.initial.rebalance.delay.ms": 0,
    }
    if material is not None:
        props.update(sec.sasl_ssl_properties(HOST, node.port, node.controller_port, material))
    return "".join(f"{k}={v}\n" for k, v in props.items())


def _read_meta_cluster_id(log_dir: str) -> str | None:
    try:
        text = (Path(log_dir) / "meta.properties").read_text()
    except OSError:
        return None
    m = re.search(r"^cluster\.id=(\S+)", text, re.M)
    return m.group(1) if m else None


def _format(lib: Path, nodes: list[NodeInfo], cluster_id: str, scram: list[str] | None = None) -> None:
    """Format every unformatted node's log dir in parallel (one JVM start each, ~2 s); ``scram``: users."""
    java = _java()
    procs = []
    for node in nodes:
        if (Path(node.log_dir) / "meta.properties").is_file():
            continue
        cmd = [
            java,
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dmillstream.kafka.logfile={node.log_file}",
            "-cp",
            f"{lib}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            node.props_file,
            "--ignore-formatted",
            *(scram or []),
        ]
        procs.append((node, cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for node, cmd, proc in procs:
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            shown = " ".join(cmd[: len(cmd) - len(scram or [])])   # never the SCRAM credentials
            raise BrokerError(f"formatting node {node.node_id} failed ({shown}):\n{out}")


# --------------------------------------------------------------------------- state


def _resolve(data_dir: Path | str | None) -> Path:
    return Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()


def _load(data_dir: Path) -> ClusterInfo | None:
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    raw["nodes"] = [NodeInfo(**n) for n in raw.get("nodes", [])]
    raw["already_running"] = False
    return ClusterInfo(**raw)


def _save(info: ClusterInfo) -> None:
    path = Path(info.data_dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    data = asdict(info)
    data.pop("already_running")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _launch(lib: Path, node: NodeInfo, heap: str) -> int:
    """Start one node detached (own session) so it outlives the caller, e.g. a CLI invocation."""
    Path(node.node_dir).mkdir(parents=True, exist_ok=True)
    cmd = [
        _java(),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dmillstream.kafka.logfile={node.log_file}",
        "-cp",
        f"{lib}/*",
        "kafka.Kafka",
        node.props_file,
    ]
    with open(node.log_file, "ab") as log:
        log.write(f"# millstream: starting {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node.node_dir,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    node.pid = proc.pid
    return proc.pid


def _prober(info: ClusterInfo) -> Callable[[int], list[int] | None]:
    """How to ask a node of this cluster which brokers are alive: plain Kafka protocol, or over SASL_SSL."""
    if info.security_protocol != "SASL_SSL":
        return lambda port: probe(port, timeout=1.0)
    material = sec.load_material(Path(info.data_dir))
    if material is None:
        raise BrokerError(f"{info.data_dir} runs SASL_SSL but its security/secrets.json is missing")
    return lambda port: sec.secure_probe(HOST, port, material, timeout=2.0)


def _wait_ready(nodes: list[NodeInfo], timeout: float, prober: Callable[[int], list[int] | None] = probe) -> None:
    """Wait until every node serves requests and sees itself as an alive broker."""
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending:
        for node in list(pending):
            if not _alive(node.pid):
                raise BrokerError(
                    f"Kafka node {node.node_id} (pid {node.pid}) exited during startup; "
                    f"see {node.log_file}:\n{_log_tail(node.log_file)}"
                )
            seen = prober(node.port)
            if seen is not None and (not seen or node.node_id in seen):
                pending.remove(node)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"node {n.node_id} on port {n.port} (log {n.log_file})" for n in pending)
            raise BrokerError(f"Kafka did not become ready within {timeout:.0f} s: {names}")
        time.sleep(0.25)


def _wait_or_terminate(
    info: ClusterInfo, launched: list[NodeInfo], timeout: float, wait_for: list[NodeInfo] | None = None
) -> None:
    """Wait for readiness; on failure stop what this call launched so no half-started JVM lingers."""
    try:
        _wait_ready(wait_for if wait_for is not None else info.nodes, timeout, _prober(info))
    except BrokerError:
        _terminate(launched, 10.0)
        for n in launched:
            n.pid = None
        _save(info)
        raise


def _heap(nodes: int) -> str:
    return "512m" if nodes == 1 else "384m"


# --------------------------------------------------------------------------- public API


def start(
    nodes: int = 1,
    port: int = 9092,
    controller_port: int | None = None,
    data_dir: Path | str | None = None,
    timeout: float = 90.0,
    security: str = "PLAINTEXT",
    users: Mapping[str, str] | None = None,
) -> ClusterInfo:
    """Start (or find already running) a KRaft cluster of 1 or 3 combined nodes on loopback.

    Broker ports are ``port .. port+nodes-1``; controller ports default to the ``nodes`` ports
    right after them (9093 for a single node on 9092). Nodes that are down are (re)started.
    ``security="SASL_SSL"``: the broker ports speak SASL_SSL; ``users`` (name -> password) are the
    SCRAM users made at the first format (default: one user ``millstream`` with a random password,
    see ``ClusterInfo.client_env``).
    """
    if nodes not in (1, 3):
        raise BrokerError("nodes must be 1 or 3 (a 2-voter quorum cannot survive any failure)")
    if security not in ("PLAINTEXT", "SASL_SSL"):
        raise BrokerError(f"security must be PLAINTEXT or SASL_SSL, not {security!r}")
    if users is not None and security != "SASL_SSL":
        raise BrokerError("SCRAM users need security SASL_SSL")
    cport = controller_port if controller_port is not None else port + nodes
    ddir = _resolve(data_dir)
    ddir.mkdir(parents=True, exist_ok=True)
    with _locked(ddir / ".lock"):
        old = _load(ddir)
        if old is not None and len(old.nodes) != nodes:
            if any(_is_our_kafka(n.pid, n.props_file) for n in old.nodes):
                raise BrokerError(f"{ddir} runs a {len(old.nodes)}-node cluster; stop it first")
            raise BrokerError(
                f"{ddir} holds data of a {len(old.nodes)}-node cluster; use another "
                f"data dir or `python -m millstream.broker stop --wipe` first"
            )
        if old is not None and old.security_protocol != security:
            raise BrokerError(
                f"{ddir} holds a {old.security_protocol} cluster, not {security}; use another data dir "
                f"or `python -m millstream.broker stop --wipe` first"
            )
        if old is not None:
            live = [n for n in old.nodes if _is_our_kafka(n.pid, n.props_file)]
            if live and (old.nodes[0].port, old.nodes[0].controller_port) != (port, cport):
                raise BrokerError(f"{ddir} already runs a cluster on {old.bootstrap_servers}; stop it first")
            if len(live) == nodes:
                if users is not None:
                    _security_material(ddir, security, users)   # refuses users other than the formatted ones
                _wait_ready(old.nodes, timeout, _prober(old))
                old.already_running = True
                return old
        check_java()
        lib = fetch_jars()
        infos = _node_infos(ddir, nodes, port, cport)
        if old is not None:  # keep pids of nodes still running
            for new, prev in zip(infos, old.nodes, strict=True):
                if _is_our_kafka(prev.pid, new.props_file):
                    new.pid = prev.pid
        to_start = [n for n in infos if n.pid is None]
        for n in to_start:
            for p in (n.port, n.controller_port):
                if not _port_free(p):
                    raise BrokerError(f"port {HOST}:{p} is in use; choose another --port/--controller-port")
        cluster_id = (
            (old.cluster_id if old else None)
            or next((c for c in (_read_meta_cluster_id(n.log_dir) for n in infos) if c), None)
            or _random_cluster_id()
        )
        material = _security_material(ddir, security, users)
        for n in infos:
            Path(n.log_dir).mkdir(parents=True, exist_ok=True)
            _write_props(Path(n.props_file), _server_properties(n, infos, material))
        _format(lib, to_start, cluster_id, sec.scram_format_args(material) if material else None)
        bootstrap = ",".join(f"{HOST}:{n.port}" for n in infos)
        info = ClusterInfo(
            bootstrap_servers=bootstrap,
            cluster_id=cluster_id,
            data_dir=str(ddir),
            nodes=infos,
            kafka_version=kafka_version(lib),
            security_protocol=security,
            ssl_cafile=str(material.ca_file) if material else "",
            client_env=str(sec.client_env(material, bootstrap)) if material else "",
        )
        for n in to_start:
            _launch(lib, n, _heap(nodes))
        _save(info)
        _wait_or_terminate(info, to_start, timeout)
        return info


def _security_material(ddir: Path, security: str, users: Mapping[str, str] | None) -> sec.SecurityMaterial | None:
    if security != "SASL_SSL":
        return None
    try:
        return sec.ensure_material(ddir, users)
    except sec.SecurityError as exc:
        raise BrokerError(str(exc)) from None


def _write_props(path: Path, text: str) -> None:
    """server.properties, readable by its owner only (with SASL_SSL it holds the broker's passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _terminate(nodes: list[NodeInfo], timeout: float) -> list[int]:
    """SIGTERM (controlled shutdown), then SIGKILL whatever is left after ``timeout``."""
    targets = [n for n in nodes if _is_our_kafka(n.pid, n.props_file)]
    for n in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(n.pid or 0, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(n.pid) for n in targets) and time.monotonic() < deadline:
        time.sleep(0.2)
    for n in targets:
        if _is_our_kafka(n.pid, n.props_file):
            with contextlib.suppress(ProcessLookupError):
                os.kill(n.pid or 0, signal.SIGKILL)
    while any(_alive(n.pid) for n in targets):
        time.sleep(0.05)
    return [n.pid or 0 for n in targets]


def stop(data_dir: Path | str | None = None, timeout: float = 30.0, wipe: bool = False) -> list[int]:
    """Stop the nodes recorded in the data dir; returns the pids that were signalled.

    ``wipe`` also deletes the data dir (topics, cluster id) for a clean next start.
    """
    ddir = _resolve(data_dir)
    if not ddir.exists():
        return []
    with _locked(ddir / ".lock"):
        info = _load(ddir)
        stopped = _terminate(info.nodes, timeout) if info else []
        if info:
            for n in info.nodes:
                n.pid = None
            _save(info)
    if wipe:
        shutil.rmtree(ddir, ignore_errors=True)
    return stopped


def _node(ddir: Path, node_id: int) -> tuple[ClusterInfo, NodeInfo]:
    info = _load(ddir)
    if info is None:
        raise BrokerError(f"no cluster recorded in {ddir}")
    for n in info.nodes:
        if n.node_id == node_id:
            return info, n
    raise BrokerError(f"node ids in {ddir} are {[n.node_id for n in info.nodes]}, not {node_id}")


def stop_node(node_id: int, data_dir: Path | str | None = None, timeout: float = 30.0) -> list[int]:
    """Stop one node (``node.id``, 1-based) of a running cluster, e.g. to test failover."""
    ddir = _resolve(data_dir)
    with _locked(ddir / ".lock"):
        info, node = _node(ddir, node_id)
        stopped = _terminate([node], timeout)
        node.pid = None
        _save(info)
    return stopped


def start_node(node_id: int, data_dir: Path | str | None = None, timeout: float = 90.0) -> ClusterInfo:
    """Restart one stopped node with its recorded config and wait until it is an alive broker again."""
    ddir = _resolve(data_dir)
    with _locked(ddir / ".lock"):
        info, node = _node(ddir, node_id)
        started = []
        if not _is_our_kafka(node.pid, node.props_file):
            _launch(fetch_jars(), node, _heap(len(info.nodes)))
            _save(info)
            started.append(node)
        _wait_or_terminate(info, started, timeout, [node])
        return info


def status(data_dir: Path | str | None = None) -> dict:
    """Pids, ports, liveness and log files of the recorded cluster (empty ``nodes`` if none)."""
    ddir = _resolve(data_dir)
    info = _load(ddir)
    if info is None:
        return {"data_dir": str(ddir), "running": False, "nodes": []}
    try:
        prober = _prober(info)
    except BrokerError:
        prober = lambda port: None  # noqa: E731 - its secrets are gone: nobody can log in to check
    nodes = []
    for n in info.nodes:
        alive = _is_our_kafka(n.pid, n.props_file)
        nodes.append(
            {
                "node_id": n.node_id,
                "pid": n.pid if alive else None,
                "alive": alive,
                "answering": alive and prober(n.port) is not None,
                "port": n.port,
                "controller_port": n.controller_port,
                "log_file": n.log_file,
                "log_dir": n.log_dir,
            }
        )
    return {
        "data_dir": str(ddir),
        "cluster_id": info.cluster_id,
        "kafka_version": info.kafka_version,
        "bootstrap_servers": info.bootstrap_servers,
        "security_protocol": info.security_protocol,
        "ssl_cafile": info.ssl_cafile,
        "client_env": info.client_env,
        "running": any(n["alive"] for n in nodes),
        "nodes": nodes,
    }


# --------------------------------------------------------------------------- command line


def _cli_users(name: str | None, data_dir: str | None) -> dict[str, str] | None:
    """The SCRAM user of ``start --sasl-ssl``: named, with the settings' password if there is one.

    None (keep what the data dir has, or one random user) when neither a name nor a password is given;
    a named user without a password keeps the one the data dir has for it, else gets a random one.
    """
    password = os.environ.get("MILLSTREAM_SASL_PASSWORD", "")
    name = name or os.environ.get("MILLSTREAM_SASL_USERNAME") or None
    if name is None and not password:
        return None
    name = name or sec.DEFAULT_USER
    if not password:
        found = sec.load_material(_resolve(data_dir))
        password = (found.users.get(name) if found else None) or secrets.token_urlsafe(24)
    return {name: password}


def main(argv: list[str] | None = None) -> int:
    """``python -m millstream.broker fetch|start|stop|status``; the ``millstream kafka`` CLI wraps these.

    Exit codes: 0 ok, 1 error (message on stderr), 3 ``status`` found no running node.
    """
    parser = argparse.ArgumentParser(prog="python -m millstream.broker", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache")
    p_start = sub.add_parser("start", help="start a cluster (no-op if it runs)")
    p_start.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    p_start.add_argument("--port", type=int, default=9092)
    p_start.add_argument("--controller-port", type=int, default=None)
    p_start.add_argument("--timeout", type=float, default=90.0)
    p_start.add_argument("--sasl-ssl", action="store_true",
                         help="clients connect over SASL_SSL (SCRAM users, throwaway CA); see docs/security.md")
    p_start.add_argument("--user", default=None,
                         help="SCRAM user made at the first format (default MILLSTREAM_SASL_USERNAME or millstream); "
                              "its password is MILLSTREAM_SASL_PASSWORD, else a random one")
    p_stop = sub.add_parser("stop", help="stop the recorded cluster")
    p_stop.add_argument("--wipe", action="store_true", help="also delete the data dir")
    p_status = sub.add_parser("status", help="show pids, ports and logs")
    p_status.add_argument("--json", action="store_true")
    for p in (p_start, p_stop, p_status):
        p.add_argument("--data-dir", default=None, help=f"default {default_data_dir()}")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            t0 = time.monotonic()
            lib = fetch_jars()
            print(f"Kafka {kafka_version(lib)} jars in {lib} ({time.monotonic() - t0:.1f} s)")
        elif args.cmd == "start":
            t0 = time.monotonic()
            security = "SASL_SSL" if args.sasl_ssl else "PLAINTEXT"
            info = start(args.nodes, args.port, args.controller_port, args.data_dir, args.timeout,
                         security=security, users=_cli_users(args.user, args.data_dir) if args.sasl_ssl else None)
            verb = "already running" if info.already_running else f"started in {time.monotonic() - t0:.1f} s"
            print(f"Kafka {info.kafka_version} ({len(info.nodes)} node(s)) {verb}")
            print(f"bootstrap servers: {info.bootstrap_servers} ({info.security_protocol})")
            if info.client_env:
                print(f"CA certificate: {info.ssl_cafile}")
                print(f"client settings (user and password; readable by you only): set -a; . {info.client_env}; set +a")
            for n in info.nodes:
                print(f"node {n.node_id}: pid {n.pid}, log {n.log_file}")
        elif args.cmd == "stop":
            pids = stop(args.data_dir, wipe=args.wipe)
            print(f"stopped pid(s) {', '.join(map(str, pids))}" if pids else "no running Kafka node recorded")
            if args.wipe:
                print(f"deleted {_resolve(args.data_dir)}")
        else:
            st = status(args.data_dir)
            if args.json:
                print(json.dumps(st, indent=2))
            elif not st["nodes"]:
                print(f"no cluster recorded in {st['data_dir']}")
            else:
                print(
                    f"Kafka {st['kafka_version']}, bootstrap servers {st['bootstrap_servers']} "
                    f"({st['security_protocol']}): "
                    f"{'running' if st['running'] else 'stopped'}"
                )
                for n in st["nodes"]:
                    state = "answering" if n["answering"] else "alive" if n["alive"] else "down"
                    print(f"node {n['node_id']}: {state}, pid {n['pid']}, port {n['port']}, log {n['log_file']}")
            return 0 if st["running"] else 3
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
