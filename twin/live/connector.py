"""The MQTT seam, over paho-mqtt: the network loop runs in paho's own thread
(``loop_start``), which puts every message received into a queue; the twin drains the queue in
batches, in its own time. Reconnecting is the client's job (``reconnect_delay_set``), keeping
what was missed the broker's: QoS 1 and a persistent session (``clean_start`` False, a session
expiry), so a subscriber that was away, or a broker that restarted with persistence on, delivers
what was published meanwhile. What is published while the broker is away waits in the client
and goes out when it is back."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from twin.errors import InputError

QOS = 1


def broker_address(url: str) -> tuple[str, int]:
    """``mqtt://HOST:PORT`` (or ``HOST:PORT``, or ``HOST``; port 1883 by default)."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp") or not parsed.hostname:
        raise InputError("--broker", [((), f"not a broker URL: {url!r} (mqtt://HOST:PORT)",
                                       None)])
    try:
        port = parsed.port or 1883
    except ValueError:
        raise InputError("--broker", [((), f"bad port in {url!r}", None)]) from None
    return parsed.hostname, port


class Connector:
    """One MQTT client: ``publish`` (QoS 1), and what it subscribed to in ``drain()``."""

    def __init__(self, url: str, client_id: str, subscribe: tuple[str, ...] = (), *,
                 session_expiry: int = 3600, keepalive: int = 5,
                 reconnect: tuple[float, float] = (0.2, 2.0)) -> None:
        host, port = broker_address(url)
        self.inbox: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        self.topics = subscribe
        self.connected = threading.Event()
        self.connects = 0
        self.disconnects = 0
        self.sent = 0
        self.acked = 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.reconnect_delay_set(min_delay=reconnect[0], max_delay=reconnect[1])  # type: ignore[arg-type]
        client.max_queued_messages_set(0)  # no limit: nothing published is dropped
        client.max_inflight_messages_set(200)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = session_expiry
        client.connect_async(host, port, keepalive, clean_start=False, properties=properties)
        self.client = client
        client.loop_start()

    # -- paho's thread
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            return
        self.connects += 1
        for topic in self.topics:  # the session keeps them; asking again costs nothing
            client.subscribe(topic, qos=QOS)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.disconnects += 1
        self.connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put((message.topic, bytes(message.payload)))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        self.acked += 1

    # -- the twin's thread
    def wait_connected(self, timeout: float) -> bool:
        """Whether the client is connected within ``timeout`` seconds."""
        return self.connected.wait(timeout)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1; while the broker is away the message waits in the client."""
        self.client.publish(topic, payload, qos=QOS, retain=retain)
        self.sent += 1

    def unacknowledged(self) -> int:
        """Messages published that the broker has not acknowledged yet."""
        return self.sent - self.acked

    def drain(self, limit: int = 5000, timeout: float = 0.05) -> list[tuple[str, bytes]]:
        """Up to ``limit`` messages received, waiting up to ``timeout`` for the first."""
        out: list[tuple[str, bytes]] = []
        try:
            out.append(self.inbox.get(timeout=timeout) if timeout > 0 else
                       self.inbox.get_nowait())
            while len(out) < limit:
                out.append(self.inbox.get_nowait())
        except queue.Empty:
            pass
        return out

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
