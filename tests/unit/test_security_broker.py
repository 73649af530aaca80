"""The local SASL_SSL broker's material, without starting a JVM: certificates, secrets, SCRAM, server.properties.

The certificates are checked by a real TLS handshake: a server with the
broker's key store, a client with the project's own TLS context
(``millstream.kafka_security``).  That the broker takes them, and the SCRAM
users, is the integration test's part (tests/integration/test_security.py).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from millstream import broker
from millstream import broker_security as sec
from millstream.kafka_security import KafkaSecurity


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> sec.SecurityMaterial:
    return sec.ensure_material(tmp_path_factory.mktemp("kafka-data"), {"planner": "planner-secret-1"})


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_and_keys_are_readable_by_their_owner_only(material: sec.SecurityMaterial) -> None:
    assert stat.S_IMODE(material.directory.stat().st_mode) == 0o700
    for name in ("secrets.json", "ca.key", "broker.p12"):
        assert private(material.directory / name), name
    assert material.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "planner-secret-1" not in repr(material) and material.key_password not in repr(material)


def _server_pem(material: sec.SecurityMaterial, target: Path) -> Path:
    """The broker's key and certificate out of its PKCS#12 store, as a TLS server loads them."""
    subprocess.run(["openssl", "pkcs12", "-in", str(material.keystore), "-nodes", "-out", str(target),
                    "-passin", "env:P"], check=True, capture_output=True,
                   env={**os.environ, "P": material.key_password})
    return target


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> str:
    """One TLS handshake on loopback; the protocol version, or the client's error."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                    client.wrap_socket(raw, server_hostname=name) as tls:
                return tls.version() or ""
        except ssl.SSLError as exc:
            return f"refused: {exc.__class__.__name__}: {exc.reason}"
        finally:
            thread.join(10)


def test_the_broker_certificate_is_trusted_through_the_ca_for_loopback_names(
        material: sec.SecurityMaterial, tmp_path: Path) -> None:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(_server_pem(material, tmp_path / "server.pem"))
    client = KafkaSecurity("127.0.0.1:1", "SASL_SSL", "SCRAM-SHA-512", "u", "p", str(material.ca_file)).ssl_context
    assert client is not None
    assert _handshake(server, client, "127.0.0.1").startswith("TLS")
    assert _handshake(server, client, "localhost").startswith("TLS")
    assert _handshake(server, client, "kafka.example").startswith("refused: SSLCertVerificationError")
    system_only = KafkaSecurity("127.0.0.1:1", "SSL").ssl_context   # no ssl_cafile: the throwaway CA is unknown
    assert system_only is not None
    assert _handshake(server, system_only, "127.0.0.1").startswith("refused: SSLCertVerificationError")


def test_scram_users_are_salted_not_written(material: sec.SecurityMaterial) -> None:
    args = sec.scram_format_args(material)
    values = args[1::2]
    assert args[::2] == ["--add-scram"] * 4
    assert [v.split("=[")[0] for v in values] == ["SCRAM-SHA-256", "SCRAM-SHA-512"] * 2
    assert all("planner-secret-1" not in v and material.broker_password not in v for v in values)
    pattern = r'(SCRAM-SHA-(?:256|512))=\[name=([\w.-]+),iterations=8192,salt="([^"]+)",saltedpassword="([^"]+)"\]'
    by_user = {}
    for value in values:
        mechanism, name, salt, salted = re.fullmatch(pattern, value).groups()   # type: ignore[union-attr]
        by_user[(name, mechanism)] = (base64.b64decode(salt), base64.b64decode(salted))
    assert {name for name, _ in by_user} == {sec.BROKER_USER, "planner"}
    salt, salted = by_user[("planner", "SCRAM-SHA-512")]   # RFC 5802 Hi(password, salt, i)
    assert salted == hashlib.pbkdf2_hmac("sha512", b"planner-secret-1", salt, 8192)


def test_server_properties_of_a_sasl_ssl_node(material: sec.SecurityMaterial, tmp_path: Path) -> None:
    node = broker._node_infos(tmp_path, 1, 39500, 39501)[0]
    text = broker._server_properties(node, [node], material)
    props = dict(line.split("=", 1) for line in text.splitlines())
    assert props["listeners"] == "SASL_SSL://127.0.0.1:39500,CONTROLLER://127.0.0.1:39501"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:39500"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert props["inter.broker.listener.name"] == "SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256,SCRAM-SHA-512"
    for mechanism in ("scram-sha-256", "scram-sha-512"):
        assert f'username="broker" password="{material.broker_password}";' in \
            props[f"listener.name.sasl_ssl.{mechanism}.sasl.jaas.config"]
    assert props["ssl.keystore.location"] == str(material.keystore)
    assert "SASL_SSL" not in broker._server_properties(node, [node])   # the default stays PLAINTEXT
    Path(node.props_file).parent.mkdir(parents=True)
    broker._write_props(Path(node.props_file), text)   # it holds the broker's passwords
    assert private(Path(node.props_file))


def test_users_are_fixed_at_format_time(material: sec.SecurityMaterial) -> None:
    data_dir = material.directory.parent
    assert sec.ensure_material(data_dir, None).users == {"planner": "planner-secret-1"}   # kept
    assert sec.ensure_material(data_dir, {"planner": "planner-secret-1"}) == material
    with pytest.raises(sec.SecurityError, match="was formatted with SCRAM users"):
        sec.ensure_material(data_dir, {"planner": "another"})


@pytest.mark.parametrize("users", [{"broker": "x"}, {"a b": "x"}, {"ok": ""}, {"x" * 65: "p"}])
def test_bad_user_names_and_empty_passwords_are_refused(tmp_path: Path, users: dict[str, str]) -> None:
    with pytest.raises(sec.SecurityError):
        sec.ensure_material(tmp_path, users)
    assert not (tmp_path / "security").exists()


def test_client_env_names_the_settings_a_client_needs(material: sec.SecurityMaterial) -> None:
    path = sec.client_env(material, "127.0.0.1:39500")
    assert private(path)
    lines = dict(line.split("=", 1) for line in path.read_text().splitlines())
    assert lines == {"MILLSTREAM_BOOTSTRAP": "127.0.0.1:39500", "MILLSTREAM_SECURITY_PROTOCOL": "SASL_SSL",
                     "MILLSTREAM_SASL_MECHANISM": "SCRAM-SHA-512", "MILLSTREAM_SASL_USERNAME": "planner",
                     "MILLSTREAM_SASL_PASSWORD": "planner-secret-1", "MILLSTREAM_SSL_CAFILE": str(material.ca_file)}


def test_start_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(broker.BrokerError, match="security must be PLAINTEXT or SASL_SSL"):
        broker.start(port=39600, data_dir=tmp_path, security="SSL")
    with pytest.raises(broker.BrokerError, match="SCRAM users need security SASL_SSL"):
        broker.start(port=39600, data_dir=tmp_path, users={"planner": "x"})


def test_the_command_line_user(monkeypatch: pytest.MonkeyPatch, material: sec.SecurityMaterial) -> None:
    data_dir = str(material.directory.parent)
    monkeypatch.delenv("MILLSTREAM_SASL_PASSWORD", raising=False)
    monkeypatch.delenv("MILLSTREAM_SASL_USERNAME", raising=False)
    assert broker._cli_users(None, data_dir) is None   # keep the data dir's users
    assert broker._cli_users("planner", data_dir) == {"planner": "planner-secret-1"}   # its password is kept
    fresh = broker._cli_users("someone", data_dir)
    assert fresh is not None and len(fresh["someone"]) >= 24
    monkeypatch.setenv("MILLSTREAM_SASL_USERNAME", "app")
    monkeypatch.setenv("MILLSTREAM_SASL_PASSWORD", "from-the-settings")
    assert broker._cli_users(None, data_dir) == {"app": "from-the-settings"}
