"""The Kafka security settings: checked once, turned into each client's config, the password never shown.

The clients are built for real from the configs (librdkafka and aiokafka
check their keys when a client is made); connecting is left to the
integration test (tests/integration/test_security.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol

from millstream.kafka_security import (
    KafkaAccessError,
    KafkaSecurityError,
    aiokafka_config,
    confluent_config,
    connect_admin,
    faust_credentials,
    kafka_security,
)
from millstream.settings import Settings, load_settings

PASSWORD = "pa55-not-in-any-log"


@pytest.fixture()
def cafile(tmp_path: Path) -> str:
    """A real CA certificate (made by openssl), so TLS contexts can load it."""
    import subprocess

    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert)


def sasl_ssl(cafile: str, **extra: object) -> Settings:
    return Settings(bootstrap="127.0.0.1:19093", security_protocol="SASL_SSL", sasl_username="planner",
                    sasl_password=PASSWORD, ssl_cafile=cafile, **extra)   # type: ignore[arg-type]


def test_plaintext_adds_nothing_but_the_bootstrap_servers() -> None:
    settings = Settings(bootstrap="127.0.0.1:29092")
    assert confluent_config(settings) == {"bootstrap.servers": "127.0.0.1:29092"}
    assert aiokafka_config(settings) == {"bootstrap_servers": "127.0.0.1:29092", "security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings) is None


def test_sasl_ssl_gives_librdkafka_scram_over_verified_tls(cafile: str) -> None:
    config = confluent_config(sasl_ssl(cafile))
    assert config == {"bootstrap.servers": "127.0.0.1:19093", "security.protocol": "SASL_SSL",
                      "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "planner", "sasl.password": PASSWORD,
                      "ssl.endpoint.identification.algorithm": "https", "ssl.ca.location": cafile}
    config["group.id"] = "g"
    for client in (Producer, Consumer, AdminClient):   # librdkafka refuses unknown or contradictory keys here
        client(dict(config))


def test_faust_and_aiokafka_get_the_same_credentials(cafile: str) -> None:
    settings = sasl_ssl(cafile, sasl_mechanism="scram-sha-256")
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL and credentials.mechanism.value == "SCRAM-SHA-256"
    context = credentials.ssl_context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    # what Faust hands aiokafka for its own clients equals what the worker's own aiokafka clients get
    mine = aiokafka_config(settings)
    assert mine.pop("bootstrap_servers") == "127.0.0.1:19093"
    assert mine == credentials_to_aiokafka_auth(credentials)
    assert mine["ssl_context"] is context   # one context per settings, built once

    async def build() -> None:   # aiokafka checks protocol, mechanism and context when a client is made
        for client in (AIOKafkaProducer(**aiokafka_config(settings)),
                       AIOKafkaConsumer(**aiokafka_config(settings), group_id=None)):
            await client.stop()   # never started: nothing to close but the object

    asyncio.run(build())


def test_ssl_without_sasl_is_a_tls_context_alone(cafile: str) -> None:
    settings = Settings(security_protocol="ssl", ssl_cafile=cafile)
    assert confluent_config(settings)["security.protocol"] == "SSL"
    assert "sasl.username" not in confluent_config(settings)
    assert isinstance(faust_credentials(settings), ssl.SSLContext)
    assert aiokafka_config(settings)["security_protocol"] == "SSL"


@pytest.mark.parametrize(("fields", "reason"), [
    ({"security_protocol": "TLS"}, "security_protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ({"security_protocol": "SASL_SSL", "sasl_username": "u"}, "SASL_SSL needs sasl_password"),
    ({"security_protocol": "SASL_PLAINTEXT"}, "needs sasl_username and sasl_password"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "p"},
     "sasl_mechanism must be one of SCRAM-SHA-256, SCRAM-SHA-512, not 'PLAIN'"),
    ({"sasl_username": "u", "sasl_password": "p"}, "security_protocol PLAINTEXT sends no credentials"),
    ({"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p", "ssl_cafile": "/etc/hosts"},
     "ssl_cafile is set but security_protocol SASL_PLAINTEXT uses no TLS"),
    ({"security_protocol": "SSL", "ssl_cafile": "/no/such/ca.pem"}, "ssl_cafile '/no/such/ca.pem' is not a readable"),
])
def test_contradictions_are_refused_by_name(fields: dict[str, str], reason: str) -> None:
    with pytest.raises(KafkaSecurityError, match=reason.replace("(", r"\(")):
        confluent_config(Settings(**fields))   # type: ignore[arg-type]


def test_the_password_is_in_no_repr_and_no_log(cafile: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(environ={"MILLSTREAM_SECURITY_PROTOCOL": "SASL_SSL", "MILLSTREAM_SASL_USERNAME": "planner",
                                      "MILLSTREAM_SASL_PASSWORD": PASSWORD, "MILLSTREAM_SSL_CAFILE": cafile,
                                      "MILLSTREAM_API_TOKEN": "tok-" + PASSWORD})
    assert settings.sasl_password == PASSWORD
    security = kafka_security(settings)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("millstream").info("settings %r %s; security %r; credentials %r",
                                            settings, settings, security, faust_credentials(settings))
    shown = caplog.text
    assert "planner" in shown and "SASL_SSL" in shown   # the record was written, with the user
    assert PASSWORD not in shown


def test_settings_from_a_file_and_the_environment(tmp_path: Path, cafile: str) -> None:
    config = tmp_path / "millstream.toml"
    config.write_text(f'[millstream]\nsecurity_protocol = "SASL_SSL"\nsasl_username = "planner"\n'
                      f'ssl_cafile = "{cafile}"\nmetrics_auth = true\n')
    settings = load_settings(config, environ={"MILLSTREAM_SASL_PASSWORD": PASSWORD})
    assert confluent_config(settings)["sasl.password"] == PASSWORD
    assert settings.metrics_auth is True and settings.api_token == ""


def test_no_broker_is_said_in_the_settings_terms() -> None:
    """Nothing listens on the port: the error names the address and the protocol, and is a KafkaException."""
    import socket

    from confluent_kafka import KafkaException

    with socket.socket() as sock:   # a port that was free a moment ago: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KafkaAccessError, match=f"no Kafka broker answered at 127.0.0.1:{port} over PLAINTEXT "
                                               r"within 2 s \(.*\); a TLS listener closes") as caught:
        connect_admin(Settings(bootstrap=f"127.0.0.1:{port}"), timeout=2)
    assert isinstance(caught.value, KafkaException)   # `millstream publish` reports Kafka's errors as such
