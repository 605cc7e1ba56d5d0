"""The MQTT seam, over paho-mqtt: the network loop runs in paho's own thread
(``loop_start``), which puts every message received into a queue; the twin drains the queue in
batches, in its own time. Reconnecting is the client's job (``reconnect_delay_set``), keeping
what was missed the broker's: QoS 1 and a persistent session (``clean_start`` False, a session
expiry), so a subscriber that was away, or a broker that restarted with persistence on, delivers
what was published meanwhile. What is published while the broker is away waits in the client
and goes out when it is back.

With ``manual_ack``, a subscriber acknowledges each message itself (``receive``, then ``ack``:
paho's manual acknowledgements), once it has processed it: a twin that dies before that gets it
again from the broker. ``drain`` gives topics and payloads, acknowledged as they are drained.

The broker's URL may carry a user and password (``mqtt://USER:PASSWORD@HOST:PORT``; the
password may instead come from ``TWIN_MQTT_PASSWORD``); ``mqtts://`` connects over TLS (port
8883 by default), checking the broker's certificate against the system's authorities or
``TLS.ca``, with a client certificate where ``TLS.cert`` is given. ``redact`` gives the URL
without the password, as everything prints it. ``describe`` says why the client is not
connected."""

from __future__ import annotations

import os
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.errors import InputError

QOS = 1
PASSWORD_ENV = "TWIN_MQTT_PASSWORD"
"""Where the password comes from when the URL names a user without one."""


def take(inbox: queue.Queue[Any] | queue.SimpleQueue[Any], limit: int,
         timeout: float) -> list[Any]:
    """Up to ``limit`` items of ``inbox``, waiting up to ``timeout`` seconds for the first."""
    out: list[Any] = []
    try:
        out.append(inbox.get(timeout=timeout) if timeout > 0 else inbox.get_nowait())
        while len(out) < limit:
            out.append(inbox.get_nowait())
    except queue.Empty:
        pass
    return out


@dataclass(frozen=True)
class TLS:
    """TLS files: the authority that signed the broker's certificate (``ca``; the system's by
    default) and a client certificate and its key (``cert``, ``key``), where the broker asks
    for one."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        """The SSL context: the broker's certificate and host name are checked."""
        try:
            context = ssl.create_default_context(
                cafile=str(self.ca) if self.ca is not None else None)
            if self.cert is not None:
                context.load_cert_chain(str(self.cert),
                                        str(self.key) if self.key is not None else None)
        except (OSError, ssl.SSLError) as exc:
            raise InputError("--broker", [((), f"TLS files: {exc}", None)]) from None
        return context


class Endpoint(NamedTuple):
    """A broker URL taken apart."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def _url_error(url: str, why: str) -> InputError:
    return InputError("--broker", [((), f"{why}: {redact(url)!r} "
                                        "(mqtt://[USER[:PASSWORD]@]HOST[:PORT], or mqtts://)",
                                    None)])


def endpoint(url: str) -> Endpoint:
    """``mqtt://[USER[:PASSWORD]@]HOST[:PORT]`` (or ``mqtts://``, TLS; or ``HOST:PORT``, or
    ``HOST``; port 1883, 8883 with TLS, by default)."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not parsed.hostname:
        raise _url_error(url, "not a broker URL")
    tls = parsed.scheme in ("mqtts", "ssl")
    try:
        port = parsed.port or (8883 if tls else 1883)
    except ValueError:
        raise _url_error(url, "bad port") from None
    username = unquote(parsed.username) if parsed.username else None
    password = unquote(parsed.password) if parsed.password is not None else None
    if username is not None and password is None:
        password = os.environ.get(PASSWORD_ENV)
    return Endpoint(parsed.hostname, port, tls, username, password)


def broker_address(url: str) -> tuple[str, int]:
    """The host and port of a broker URL (``endpoint``)."""
    host, port, *_ = endpoint(url)
    return host, port


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (what may be printed or stored)."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    try:
        if parsed.password is None:
            return url
    except ValueError:
        return url
    netloc = parsed.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parsed._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


class Received(NamedTuple):
    """A message received: its topic and payload, paho's id to acknowledge it with (0: QoS 0,
    nothing to acknowledge) and when it arrived (``time.monotonic``)."""

    topic: str
    payload: bytes
    mid: int
    arrived: float


class Connector:
    """One MQTT client: ``publish`` (QoS 1), and what it subscribed to in ``drain()``, each to
    be acknowledged with ``ack`` once processed. ``will``: a (topic, payload) the broker
    publishes, retained, when the client vanishes without saying goodbye."""

    def __init__(self, url: str, client_id: str, subscribe: tuple[str, ...] = (), *,
                 session_expiry: int = 3600, keepalive: int = 5,
                 reconnect: tuple[float, float] = (0.2, 2.0), tls: TLS | None = None,
                 will: tuple[str, bytes] | None = None, manual_ack: bool = False) -> None:
        host, port, secure, username, password = endpoint(url)
        if not secure and tls is not None and (tls.ca or tls.cert or tls.key):
            raise InputError("--broker", [((), f"TLS files given for {redact(url)!r}, which "
                                              "is not TLS: use mqtts://", None)])
        self.url = redact(url)
        self.address = (host, port)
        self.tls = (tls or TLS()) if secure else None
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.topics = subscribe
        self.connected = threading.Event()
        self.connects = 0
        self.disconnects = 0
        self.failures = 0
        """Connection attempts that failed (the broker unreachable, or refusing)."""
        self.refused: str | None = None
        """The broker's reason for refusing the last attempt, if it refused."""
        self.sent = 0
        self.acked = 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5, manual_ack=manual_ack)
        self.manual_ack = manual_ack
        client.reconnect_delay_set(min_delay=reconnect[0], max_delay=reconnect[1])  # type: ignore[arg-type]
        if username is not None:
            client.username_pw_set(username, password)
        if self.tls is not None:
            client.tls_set_context(self.tls.context())
        if will is not None:
            client.will_set(will[0], will[1], qos=QOS, retain=True)
        client.max_queued_messages_set(0)  # no limit: nothing published is dropped
        client.max_inflight_messages_set(200)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
        client.connect_async(host, port, keepalive, clean_start=False, properties=properties)
        self.client = client
        client.loop_start()

    # -- paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            self.failures += 1
            self.refused = str(reason)
            return
        self.refused = None
        self.connects += 1
        for topic in self.topics:  # the session keeps them; asking again costs nothing
            client.subscribe(topic, qos=QOS)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.disconnects += 1
        self.connected.clear()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.failures += 1

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Received(message.topic, bytes(message.payload),
                                message.mid if message.qos > 0 else 0, time.monotonic()))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        self.acked += 1

    # -- the twin's thread
    def wait_connected(self, timeout: float) -> bool:
        """Whether the client is connected within ``timeout`` seconds."""
        return self.connected.wait(timeout)

    def describe(self, timeout: float = 1.0) -> str:
        """Why the client is not connected, in words (it tries the broker's address itself)."""
        if self.connected.is_set():
            return "connected"
        if self.refused is not None:
            return f"the broker refused the connection: {self.refused}"
        host, port = self.address
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if self.tls is not None:
                    with self.tls.context().wrap_socket(sock, server_hostname=host):
                        pass
        except ssl.SSLError as exc:
            return f"TLS with {host}:{port} fails: {exc.reason or exc}"
        except OSError as exc:
            return f"cannot reach {host}:{port}: {exc.strerror or exc}"
        except InputError as exc:
            return str(exc)
        return f"{host}:{port} answers, but no MQTT session yet"

    def ack(self, mid: int) -> None:
        """Acknowledge a message received (``Received.mid``) to the broker: it is processed."""
        if mid and self.manual_ack:
            self.client.ack(mid, QOS)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1; while the broker is away the message waits in the client."""
        self.client.publish(topic, payload, qos=QOS, retain=retain)
        self.sent += 1

    def unacknowledged(self) -> int:
        """Messages published that the broker has not acknowledged yet."""
        return self.sent - self.acked

    def backlog(self) -> int:
        """Messages received and not drained yet."""
        return self.inbox.qsize()

    def drain(self, limit: int = 5000, timeout: float = 0.05) -> list[tuple[str, bytes]]:
        """The topics and payloads of up to ``limit`` messages received (waiting up to
        ``timeout`` for the first), each acknowledged as it is drained."""
        received = self.receive(limit, timeout)
        for message in received:
            self.ack(message.mid)
        return [(message.topic, message.payload) for message in received]

    def receive(self, limit: int = 5000, timeout: float = 0.05) -> list[Received]:
        """Up to ``limit`` messages received, waiting up to ``timeout`` for the first; with
        ``manual_ack``, each to be acknowledged (``ack``) once processed."""
        return take(self.inbox, limit, timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until the broker has acknowledged everything published (or ``timeout``)."""
        end = time.monotonic() + timeout
        while self.unacknowledged() > 0 and time.monotonic() < end:
            time.sleep(0.02)
        return self.unacknowledged() <= 0

    def close(self) -> None:
        """Disconnect and stop the client's network thread."""
        self.client.disconnect()
        self.client.loop_stop()
