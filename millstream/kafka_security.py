"""How every Kafka client of the project reaches the brokers: plaintext, TLS, SASL/SCRAM, or both.

The settings (``security_protocol``, ``sasl_mechanism``, ``sasl_username``,
``sasl_password``, ``ssl_cafile``) are checked once, here, and turned into the
three shapes the project's clients take: confluent-kafka (librdkafka) config
keys, aiokafka keyword arguments (the worker's own transactional producers and
changelog readers) and Faust broker credentials.  Clients never read the
settings themselves, so a client cannot forget TLS or send the password in a
way the others do not.

The password is never logged: it is kept out of ``Settings``' repr, out of the
repr of ``KafkaSecurity`` and of Faust's ``SASLCredentials``, and librdkafka
masks ``sasl.password`` in its own logs.
"""

from __future__ import annotations

import functools
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from .settings import Settings

__all__ = [
    "MECHANISMS",
    "PROTOCOLS",
    "KafkaAccessError",
    "KafkaSecurity",
    "KafkaSecurityError",
    "aiokafka_config",
    "confluent_config",
    "connect_admin",
    "faust_credentials",
    "kafka_security",
]

#: what ``security_protocol`` may be (Kafka's own names)
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
#: SASL mechanisms taken: SCRAM never sends the password, so PLAIN is left out on purpose
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurityError(ValueError):
    """The security settings contradict each other or name a file that cannot be read."""


class KafkaAccessError(KafkaException):
    """The brokers refused this client (credentials, TLS) or did not answer: said in the settings' terms.

    A ``KafkaException`` (with a message instead of a ``KafkaError``), so callers that report Kafka's
    errors report these too.
    """


@dataclass(frozen=True)
class KafkaSecurity:
    """Checked security settings of one bootstrap address; one instance per ``Settings`` (cached).

    Not slotted: the TLS context is built once, on first use (``cached_property`` needs a ``__dict__``).
    """

    bootstrap: str
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    def confluent(self) -> dict[str, Any]:
        """librdkafka keys: ``bootstrap.servers`` and, if any, TLS and SASL (hostnames are verified)."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap}
        if self.protocol != "PLAINTEXT":
            config["security.protocol"] = self.protocol
        if self.sasl:
            config.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                           "sasl.password": self.password})
        if self.tls:
            config["ssl.endpoint.identification.algorithm"] = "https"   # librdkafka's default, stated
            if self.cafile:
                config["ssl.ca.location"] = self.cafile
        return config

    @functools.cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifying client context (CA file or the system's store, hostname checked); None without TLS."""
        if not self.tls:
            return None
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cafile or None)

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments of ``AIOKafkaProducer``/``AIOKafkaConsumer``."""
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.protocol}
        if self.tls:
            kwargs["ssl_context"] = self.ssl_context
        if self.sasl:
            kwargs.update({"sasl_mechanism": self.mechanism, "sasl_plain_username": self.username,
                           "sasl_plain_password": self.password})
        return kwargs

    def faust(self) -> Any:
        """Faust's ``broker_credentials``: SASL credentials (with the TLS context), a TLS context, or None."""
        if self.sasl:
            import faust

            return faust.SASLCredentials(username=self.username, password=self.password,
                                         ssl_context=self.ssl_context, mechanism=self.mechanism)
        return self.ssl_context


@functools.lru_cache(maxsize=64)
def kafka_security(settings: Settings) -> KafkaSecurity:
    """Check the security settings and say what is wrong in terms of the settings' names."""
    protocol = settings.security_protocol.strip().upper()
    if protocol not in PROTOCOLS:
        raise KafkaSecurityError(f"security_protocol must be one of {', '.join(PROTOCOLS)}, "
                                 f"not {settings.security_protocol!r}")
    sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
    mechanism = settings.sasl_mechanism.strip().upper()
    if sasl:
        if mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"sasl_mechanism must be one of {', '.join(MECHANISMS)}, "
                                     f"not {settings.sasl_mechanism!r}")
        missing = [name for name in ("sasl_username", "sasl_password") if not getattr(settings, name)]
        if missing:
            raise KafkaSecurityError(f"security_protocol {protocol} needs {' and '.join(missing)}")
    elif settings.sasl_username or settings.sasl_password:
        raise KafkaSecurityError(f"sasl_username/sasl_password are set but security_protocol {protocol} "
                                 "sends no credentials: use SASL_SSL (or SASL_PLAINTEXT)")
    cafile = settings.ssl_cafile.strip() or None
    if cafile is not None:
        if not tls:
            raise KafkaSecurityError(f"ssl_cafile is set but security_protocol {protocol} uses no TLS: "
                                     "use SASL_SSL or SSL")
        path = Path(cafile).expanduser()
        if not path.is_file():
            raise KafkaSecurityError(f"ssl_cafile {cafile!r} is not a readable file")
        cafile = str(path.resolve())
    return KafkaSecurity(settings.bootstrap, protocol, mechanism if sasl else None,
                         settings.sasl_username if sasl else None, settings.sasl_password if sasl else None, cafile)


def confluent_config(settings: Settings) -> dict[str, Any]:
    """A fresh confluent-kafka config dict (Producer, Consumer, AdminClient): add the client's own keys to it."""
    return kafka_security(settings).confluent()


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client: bootstrap servers, protocol, TLS context, SASL."""
    return kafka_security(settings).aiokafka()


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` of the Faust app (None on PLAINTEXT)."""
    return kafka_security(settings).faust()


def connect_admin(settings: Settings, timeout: float = 30.0) -> tuple[Any, Any]:
    """An AdminClient and the cluster's metadata, or a ``KafkaAccessError`` that says why not.

    librdkafka retries a refused login until the timeout and then reports a
    bare "transport failure"; this asks once a second and stops at the first
    authentication or TLS error, so a wrong password fails at once, by name.
    """
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    security = kafka_security(settings)
    errors: list[Any] = []
    admin = AdminClient({**security.confluent(), "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin, admin.list_topics(timeout=min(1.0, max(deadline - time.monotonic(), 0.1)))
        except KafkaException as exc:
            errors.append(exc.args[0])
        admin.poll(0)   # serves error_cb
        for error in errors:
            if error.code() == KafkaError._AUTHENTICATION:
                raise KafkaAccessError(f"Kafka at {security.bootstrap} refused user {security.username!r} "
                                       f"({security.mechanism} over {security.protocol}): {_reason(error)}")
            if error.code() == KafkaError._SSL:
                raise KafkaAccessError(f"TLS with Kafka at {security.bootstrap} failed: {_reason(error)} "
                                       f"(ssl_cafile: {security.cafile or 'the system trust store'})")
        if time.monotonic() >= deadline:
            hint = "" if security.tls else "; a TLS listener closes plaintext connections: is it SASL_SSL or SSL?"
            raise KafkaAccessError(f"no Kafka broker answered at {security.bootstrap} over {security.protocol} "
                                   f"within {timeout:.0f} s ({_reason(errors[-1]) if errors else 'no error'}){hint}")


def _reason(error: Any) -> str:
    """librdkafka's message without its ``<protocol>://<host>/<id>:`` prefix."""
    text = error.str()
    head, sep, rest = text.partition(": ")
    return rest if sep and "://" in head else text
