"""A local broker that speaks SASL_SSL: a throwaway CA, the broker's certificate, SCRAM users.

Used by ``millstream kafka start --sasl-ssl`` (``millstream.broker``) so TLS and
SCRAM can be tried, and tested, on one machine.  Layout inside the data dir::

    security/ca.pem        the CA certificate clients trust (``ssl_cafile``)
    security/ca.key        the CA's key (0600): only used to sign broker.pem
    security/broker.p12    the broker's key, its certificate and the CA (PKCS#12 key store, 0600)
    security/secrets.json  key password, the broker's own SCRAM password, the client users (0600)
    security/client.env    MILLSTREAM_* settings of the first client user (0600), for ``set -a; . client.env``

Certificates come from ``openssl`` rather than the JDK's ``keytool``: keytool
needs one JVM start (about a second here) per step, six steps, while openssl
writes them in milliseconds.  The CA is PEM, which every party reads as it is
(Kafka's PEM trust store, librdkafka's ``ssl.ca.location``, Python's ``ssl``).
The broker's key goes into a PKCS#12 key store: Kafka's PEM key store would need
an encrypted PKCS#8 key, and Java 17 cannot read the PBES2 encryption openssl
writes (only weak PBES1 ciphers).  The broker certificate names ``127.0.0.1``
and ``localhost`` (clients verify host names).

SCRAM users are written into the cluster metadata when the storage is
formatted (``kafka-storage format --add-scram``, KIP-900), as salted passwords
computed here: the passwords themselves never appear on a command line (the
salted ones do, for the two seconds the format runs; they would let a local
user log in to this throwaway broker, which is why it is for one's own machine
or CI, not a shared host).  Every user gets a
SCRAM-SHA-256 and a SCRAM-SHA-512 credential, so either ``sasl_mechanism``
works.  The inter-broker listener is the SASL_SSL one (user ``broker``); the
controller listener stays PLAINTEXT on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BROKER_USER",
    "DEFAULT_USER",
    "SecurityError",
    "SecurityMaterial",
    "client_env",
    "ensure_material",
    "load_material",
    "sasl_ssl_properties",
    "scram_format_args",
    "secure_probe",
]

SECURITY_DIR = "security"
#: the SCRAM user the brokers use between themselves
BROKER_USER = "broker"
#: the client user created when none is named
DEFAULT_USER = "millstream"
#: SCRAM iterations (Kafka takes 4096 to 16384)
ITERATIONS = 8192
MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
#: days the throwaway certificates are valid
CA_DAYS, CERT_DAYS = 3650, 825
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class SecurityError(RuntimeError):
    """TLS material or SCRAM users could not be made, or do not match what the data dir holds."""


@dataclass(frozen=True)
class SecurityMaterial:
    """Where the TLS files are and the secrets the broker and its clients use."""

    directory: Path
    key_password: str
    broker_password: str
    users: dict[str, str]

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def env_file(self) -> Path:
        return self.directory / "client.env"

    def client(self) -> tuple[str, str]:
        """(user, password) of the first client user."""
        name = next(iter(self.users))
        return name, self.users[name]

    def __repr__(self) -> str:   # no secrets in tracebacks or logs
        return f"SecurityMaterial(directory={str(self.directory)!r}, users={sorted(self.users)!r})"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (created 0600, never world-readable for a moment)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _openssl(*args: str, env: Mapping[str, str] | None = None) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise SecurityError("openssl is not on PATH; it makes the local broker's throwaway certificates")
    proc = subprocess.run([tool, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SecurityError(f"openssl {args[0]} failed:\n{proc.stderr[-2000:]}")


def _make_certificates(directory: Path, key_password: str) -> None:
    """A CA, and a broker certificate for 127.0.0.1/localhost signed by it, as PEM."""
    with tempfile.TemporaryDirectory(dir=directory) as work_dir:
        work = Path(work_dir)
        _openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(CA_DAYS),
                 "-subj", "/CN=Millstream local broker CA", "-keyout", str(work / "ca.key"),
                 "-out", str(work / "ca.pem"), "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                 "-keyout", str(work / "broker.key"), "-out", str(work / "broker.csr"))
        (work / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                                      "extendedKeyUsage=serverAuth,clientAuth\n"
                                      "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _openssl("x509", "-req", "-sha256", "-days", str(CERT_DAYS), "-in", str(work / "broker.csr"),
                 "-CA", str(work / "ca.pem"), "-CAkey", str(work / "ca.key"), "-set_serial",
                 str(secrets.randbits(63)), "-extfile", str(work / "ext.cnf"), "-out", str(work / "broker.crt"))
        # the store's password goes through the environment, not the command line
        _openssl("pkcs12", "-export", "-name", "broker", "-in", str(work / "broker.crt"),
                 "-inkey", str(work / "broker.key"), "-certfile", str(work / "ca.pem"),
                 "-out", str(work / "broker.p12"), "-passout", "env:MILLSTREAM_KEY_PASSWORD",
                 env={"MILLSTREAM_KEY_PASSWORD": key_password})
        keystore = directory / "broker.p12"
        shutil.copyfile(work / "broker.p12", keystore)
        keystore.chmod(0o600)
        _write_private(directory / "ca.key", (work / "ca.key").read_text())
        (directory / "ca.pem").write_text((work / "ca.pem").read_text())


def load_material(data_dir: Path) -> SecurityMaterial | None:
    """The material of a data dir, if it has any."""
    directory = data_dir / SECURITY_DIR
    try:
        raw = json.loads((directory / "secrets.json").read_text())
    except (OSError, ValueError):
        return None
    return SecurityMaterial(directory, raw["key_password"], raw["broker_password"], dict(raw["users"]))


def ensure_material(data_dir: Path, users: Mapping[str, str] | None) -> SecurityMaterial:
    """Make (once) the certificates and secrets of a data dir; ``users`` (None: keep or a default user).

    SCRAM users exist from the format on: asking for other users later is refused
    rather than silently ignored.
    """
    if users is not None:
        for name, password in users.items():
            if not _NAME.fullmatch(name) or name == BROKER_USER:
                raise SecurityError(f"SCRAM user names are 1-64 of A-Z a-z 0-9 . _ - (not {BROKER_USER!r}): "
                                    f"{name!r}")
            if not password:
                raise SecurityError(f"SCRAM user {name!r} needs a password")
    found = load_material(data_dir)
    if found is not None:
        if users is not None and dict(users) != found.users:
            raise SecurityError(f"{data_dir} was formatted with SCRAM users {sorted(found.users)}; users are "
                                "created at format time: use another data dir or stop --wipe first")
        if found.ca_file.is_file() and found.keystore.is_file():
            return found
    directory = data_dir / SECURITY_DIR
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    material = found or SecurityMaterial(directory, secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                                         dict(users) if users else {DEFAULT_USER: secrets.token_urlsafe(24)})
    _make_certificates(directory, material.key_password)
    _write_private(directory / "secrets.json", json.dumps(
        {"key_password": material.key_password, "broker_password": material.broker_password,
         "users": material.users}, indent=2) + "\n")
    return material


def _scram_credential(mechanism: str, name: str, password: str) -> str:
    """One ``--add-scram`` value with a salted password (RFC 5802 ``Hi``), not the password itself."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac(MECHANISMS[mechanism], password.encode(), salt, ITERATIONS)
    return (f'{mechanism}=[name={name},iterations={ITERATIONS},salt="{base64.b64encode(salt).decode()}",'
            f'saltedpassword="{base64.b64encode(salted).decode()}"]')


def scram_format_args(material: SecurityMaterial) -> list[str]:
    """``--add-scram`` arguments of ``kafka-storage format``: the broker user and every client user."""
    args = []
    for name, password in [(BROKER_USER, material.broker_password), *material.users.items()]:
        for mechanism in MECHANISMS:
            args += ["--add-scram", _scram_credential(mechanism, name, password)]
    return args


def sasl_ssl_properties(host: str, port: int, controller_port: int, material: SecurityMaterial) -> dict[str, Any]:
    """server.properties entries of a SASL_SSL client and inter-broker listener and a PLAINTEXT controller one."""
    props: dict[str, Any] = {
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"SASL_SSL://{host}:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(material.keystore),
        "ssl.keystore.password": material.key_password,
        "ssl.key.password": material.key_password,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(material.ca_file),
        "ssl.client.auth": "none",
    }
    jaas = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
            f'username="{BROKER_USER}" password="{material.broker_password}";')
    for mechanism in MECHANISMS:   # the broker needs a login section for every mechanism it serves
        props[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = jaas
    return props


def client_env(material: SecurityMaterial, bootstrap: str) -> Path:
    """Write the MILLSTREAM_* settings a client of this broker needs (first user); returns the file."""
    user, password = material.client()
    values = {"MILLSTREAM_BOOTSTRAP": bootstrap, "MILLSTREAM_SECURITY_PROTOCOL": "SASL_SSL",
              "MILLSTREAM_SASL_MECHANISM": "SCRAM-SHA-512", "MILLSTREAM_SASL_USERNAME": user,
              "MILLSTREAM_SASL_PASSWORD": password, "MILLSTREAM_SSL_CAFILE": str(material.ca_file)}
    _write_private(material.env_file, "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))
    return material.env_file


def secure_probe(host: str, port: int, material: SecurityMaterial, timeout: float = 2.0) -> list[int] | None:
    """Alive broker ids as seen over SASL_SSL with the first client user, or None if it does not answer.

    librdkafka does the TLS handshake (CA and host name checked) and the SCRAM
    exchange: a broker that answers here answers the project's clients.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from .kafka_security import KafkaSecurity

    user, password = material.client()
    config = KafkaSecurity(f"{host}:{port}", "SASL_SSL", "SCRAM-SHA-512", user, password,
                           str(material.ca_file)).confluent()
    # quiet while the broker is still starting (refused connections are expected), and no long backoff
    config.update({"log_level": 0, "reconnect.backoff.max.ms": 500, "socket.connection.setup.timeout.ms": 2000})
    try:
        metadata = AdminClient(config).list_topics(timeout=timeout)
    except KafkaException:
        return None
    return sorted(metadata.brokers)
