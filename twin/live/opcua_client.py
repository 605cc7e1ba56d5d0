"""``twin live --opcua``: the OPC UA seam (asyncua), beside the MQTT connector and with its
calls (``drain``, ``publish``, ``connected``, ``connects``, ``close``), so the live twin runs
the same on either.

Its own thread runs an asyncio loop holding one client session: it resolves the mapping's
nodes (``twin.live.opcua_map``), subscribes to them (monitored items reporting every value and
every source timestamp, queued on the server between publishes; event notifications where the
mapping names events) and turns each publish response into the twin's messages
(``twin.live.schema``: events, machine states, sensor readings), put in a queue in a fixed
order: the event log, states, counters and events, readings, then the clock. Source
timestamps are plant time counted from the plant's origin in its time unit.

Reliability: a server gone (restarted, unreachable, a session lost) is noticed within a second
(a read of the server's status every ``watch`` seconds), and the client connects again with a
growing delay and subscribes again; the first notification of every monitored item is its
current value, so the states, ages and counters are read back (a counter's increments
meanwhile become finish events then), and the event log's messages missed meanwhile are read
with ``EventLogSince``. A value that is malformed (not a number, not text) or unmapped (a state
code the mapping does not name) is counted and dropped. A server that refuses the connection by
its security policy or the credentials raises ``InputError`` (exit status 2) from ``drain`` and
``wait_connected``; nothing secret is logged or kept in the status."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

from asyncua import Client, ua
from asyncua.common.subscription import Subscription
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from twin.errors import InputError
from twin.live.connector import Received, take
from twin.live.opcua_map import Mapping
from twin.live.opcua_server import PASSWORD_ENV, certificate_uri, opcua_address
from twin.live.schema import STATE_NAMES, encode, plant_topic

if TYPE_CHECKING:
    from twin.language.schema import Scenario
    from twin.live.twin import LiveTwin

log = logging.getLogger("twin.live.opcua")
QUEUE = 100_000
"""Values a monitored item asks the server to keep between two publishes (the server may keep
fewer)."""
OWN_SEQ = 1 << 40
"""Where the numbers of the event messages this client makes itself begin (the plant's event
log numbers its own from 0)."""
REFUSALS = ("BadUserAccessDenied", "BadIdentityToken", "BadSecurity", "BadCertificate",
            "BadNoValidCertificates", "BadApplicationSignatureInvalid", "BadUserSignatureInvalid",
            "BadNotSupported", "BadRequestTypeInvalid")


@dataclass(frozen=True)
class Security:
    """How to connect: anonymous, a user and password, and/or Basic256Sha256 with the client's
    certificate and key (``mode``: ``Sign`` or ``SignAndEncrypt``)."""

    user: str | None = None
    password: str | None = None
    cert: Path | None = None
    key: Path | None = None
    server_cert: Path | None = None
    mode: str = "SignAndEncrypt"

    def __repr__(self) -> str:  # never the password
        return (f"Security(user={self.user!r}, cert={self.cert}, server_cert="
                f"{self.server_cert}, mode={self.mode!r})")

    @classmethod
    def from_options(cls, user: str | None, cert: Path | None, key: Path | None,
                     server_cert: Path | None, mode: str = "SignAndEncrypt") -> Security:
        """The options of the command line; the password from ``TWIN_OPCUA_PASSWORD``."""
        password = None
        if user is not None:
            password = os.environ.get(PASSWORD_ENV)
            if password is None:
                raise InputError("--user", [((), f"set the password in the environment "
                                                  f"variable {PASSWORD_ENV}", None)])
        if (cert is None) != (key is None):
            raise InputError("--cert", [((), "give the certificate and its key together "
                                              "(--cert and --key)", None)])
        for option, given in (("--cert", cert), ("--key", key), ("--server-cert", server_cert)):
            if given is not None and not Path(given).is_file():
                raise InputError(str(given), [((), f"no such file ({option})", None)])
        if mode not in ("Sign", "SignAndEncrypt"):
            raise InputError("--security-mode", [((), f"{mode!r}: Sign or SignAndEncrypt",
                                                  None)])
        return cls(user, password, cert, key, server_cert, mode)


def public_url(url: str) -> str:
    """The URL without any user or password in it."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url
    host = parsed.hostname or ""
    return urlunparse(parsed._replace(netloc=f"{host}:{parsed.port}" if parsed.port else host))


def _refusal(exc: BaseException) -> str | None:
    """What the server refused, if ``exc`` is a refusal by policy or credentials."""
    if isinstance(exc, ua.UaStatusCodeError):
        name = type(exc).__name__
        if any(name.startswith(r) for r in REFUSALS):
            return f"{name}: {exc}"
        return None
    if isinstance(exc, ua.UaError):
        text = str(exc)
        if any(w in text.lower() for w in ("endpoint", "security", "certificate", "identity",
                                           "policy", "token", "user")):
            return text
    if isinstance(exc, ValueError) and "certificate" in str(exc).lower():
        return str(exc)
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, ua.LocalizedText):
        return value.Text
    return value


def _code(value: Any) -> str:
    """A state variable's value as the mapping's key."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, ua.LocalizedText):
        value = value.Text
    return str(value)


class _Feed(Subscription):
    """A subscription handing each whole publish response to the connector."""

    connector: OpcuaConnector

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        data = publish_result.NotificationMessage.NotificationData
        if not data:
            return
        changes: list[ua.MonitoredItemNotification] = []
        events: list[ua.EventFieldList] = []
        for notification in data:
            if isinstance(notification, ua.DataChangeNotification):
                changes += notification.MonitoredItems
            elif isinstance(notification, ua.EventNotificationList):
                events += notification.Events
        await self.connector._take(changes, events)


class OpcuaConnector:
    """One OPC UA client mirroring a plant's server into the twin's messages (``drain()``)."""

    def __init__(self, url: str, plant: str, mapping: Mapping, time_unit_seconds: float, *,
                 security: Security | None = None, publishing_ms: float = 50.0,
                 reconnect: tuple[float, float] = (0.2, 2.0), watch: float = 0.5,
                 request_timeout: float = 10.0) -> None:
        opcua_address(url)
        self.url = url
        self.plant = plant
        self.mapping = mapping
        self.unit = mapping.time_unit_seconds or time_unit_seconds
        self.security = security or Security()
        self.publishing_ms = publishing_ms
        self.reconnect = reconnect
        self.watch = watch
        self.request_timeout = request_timeout
        self.inbox: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.settled = threading.Event()
        """Set once the first connection is made or refused."""
        self.refused: str | None = None
        self.connects = 0
        self.disconnects = 0
        self.failures = 0
        """Connection attempts that failed (the server unreachable, or refusing)."""
        self.sent = 0
        self.counts = {"opcua_values": 0, "opcua_malformed": 0, "opcua_unmapped": 0,
                       "opcua_bad_quality": 0, "opcua_log_gaps": 0,
                       "opcua_log_read_back": 0, "opcua_resubscribed": 0}
        self.origin: datetime | None = mapping.origin
        self.clock = 0.0
        self.clock_read = -math.inf
        """The clock variable's latest value: everything the server wrote before it is in."""
        self.log_next = 0
        """The next event message of the plant's log expected."""
        self.own_seq = OWN_SEQ
        self.seq: dict[str, int] = defaultdict(int)
        self.items: dict[int, tuple[str, str, str]] = {}
        """Client handle -> (what, machine or buffer, sensor)."""
        self.states: dict[str, tuple[str, float]] = {}
        self.ages: dict[str, tuple[float, float]] = {}
        self.counters: dict[str, int] = {}
        self.last_reading: dict[tuple[str, str], float] = {}
        self.buffers: dict[str, int] = {}
        self.client: Client | None = None
        self._stop = False
        self._event_fields: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="opcua-client")
        self.thread.start()
        self.task: Future[None] = asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    # -- the twin's thread
    def wait_connected(self, timeout: float) -> bool:
        """Whether connected within ``timeout``; ``InputError`` if the server refused."""
        self.settled.wait(timeout)
        self._check()
        return self.connected.is_set()

    def _check(self) -> None:
        if self.refused is not None:
            raise InputError(public_url(self.url), [((), f"the server refused the "
                                                          f"connection: {self.refused}", None)])

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """The twin's own messages (forecasts, alarms, status) stay in its status files over
        OPC UA: counted, not sent."""
        self.sent += 1

    def receive(self, limit: int = 5000, timeout: float = 0.05) -> list[Received]:
        """Up to ``limit`` messages, waiting up to ``timeout`` for the first (as the MQTT
        connector's ``receive``; there is nothing to acknowledge: values are state)."""
        self._check()
        return take(self.inbox, limit, timeout)

    def drain(self, limit: int = 5000, timeout: float = 0.05) -> list[tuple[str, bytes]]:
        """The topics and payloads of up to ``limit`` messages, waiting up to ``timeout``."""
        return [(m.topic, m.payload) for m in self.receive(limit, timeout)]

    def ack(self, mid: int) -> None:
        """Nothing to acknowledge to an OPC UA server (the MQTT connector's call)."""

    def backlog(self) -> int:
        """Messages read from the server and not taken yet."""
        return self.inbox.qsize()

    def describe(self) -> str:
        """Why the client is not connected, in words."""
        if self.connected.is_set():
            return "connected"
        if self.refused is not None:
            return f"the server refused the connection: {self.refused}"
        return f"no connection to the OPC UA server {public_url(self.url)} yet"

    def close(self) -> None:
        self._stop = True
        if not self.task.done():
            try:
                self.task.result(timeout=10)
            except Exception:  # noqa: BLE001 - closing: nothing more to do with it
                self.task.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.loop.is_running():
            self.loop.close()

    # -- the loop's thread
    async def _run(self) -> None:
        delay = self.reconnect[0]
        while not self._stop:
            # asyncua's own health probe waits as long as ours: a server busy sending a large
            # publish response is not gone
            client = Client(self.url, timeout=self.request_timeout,
                            watchdog_intervall=self.request_timeout)
            try:
                await self._configure(client)
                await client.connect()
            except Exception as exc:  # noqa: BLE001 - sorted below: refused, or try again
                self.failures += 1
                why = _refusal(exc)
                if why is not None:
                    self.refused = why
                    log.error("OPC UA server %s refused the connection: %s",
                              public_url(self.url), why)
                    self.settled.set()
                    return
                log.info("OPC UA server %s unreachable (%s); retrying", public_url(self.url),
                         type(exc).__name__)
                await self._sleep(delay)
                delay = min(delay * 2, self.reconnect[1])
                continue
            delay = self.reconnect[0]
            self.client = client
            try:
                await self._session(client)
            except Exception as exc:  # noqa: BLE001 - the session ended: connect again
                why = _refusal(exc)
                if why is not None and not self.connected.is_set():
                    self.refused = why
                    self.settled.set()
                    return
                log.warning("OPC UA session with %s ended: %s", public_url(self.url),
                            type(exc).__name__)
            finally:
                if self.connected.is_set():
                    self.disconnects += 1
                    self.connected.clear()
                try:
                    await asyncio.wait_for(client.disconnect(), 2.0)
                except Exception:  # noqa: BLE001,S110 - the server is gone already
                    client.disconnect_socket()
            if not self._stop:
                await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop and time.monotonic() < end:
            await asyncio.sleep(min(0.05, seconds))

    async def _configure(self, client: Client) -> None:
        sec = self.security
        if sec.user is not None:
            client.set_user(sec.user)
            client.set_password(sec.password or "")
        if sec.cert is not None and sec.key is not None:
            uri = certificate_uri(sec.cert)
            if uri is not None:
                client.application_uri = uri
            mode = (ua.MessageSecurityMode.Sign if sec.mode == "Sign"
                    else ua.MessageSecurityMode.SignAndEncrypt)
            await client.set_security(
                SecurityPolicyBasic256Sha256, certificate=str(sec.cert),
                private_key=str(sec.key),
                server_certificate=None if sec.server_cert is None else str(sec.server_cert),
                mode=mode)

    async def _resolve(self, client: Client, ref: str) -> Any:
        """The node a mapping names: a node id, or a browse path from Objects."""
        if ref.startswith("nsu="):
            uri, _, rest = ref[4:].partition(";")
            index = await client.get_namespace_index(uri)
            return client.get_node(f"ns={index};{rest}")
        if ref.startswith(("ns=", "i=", "s=", "g=", "b=")):
            return client.get_node(ref)
        parts = [p for p in ref.split("/") if p]
        if parts and parts[0] == "Objects":
            parts = parts[1:]
        default = (await client.get_namespace_index(self.mapping.namespace)
                   if self.mapping.namespace else 0)
        names = [p if ":" in p.split("/")[0] and p.split(":")[0].isdigit() else f"{default}:{p}"
                 for p in parts]
        return await client.nodes.objects.get_child(names)

    async def _session(self, client: Client) -> None:
        mapping = self.mapping
        if self.origin is None:
            if mapping.origin_node is not None:
                value = await (await self._resolve(client, mapping.origin_node)).read_value()
                self.origin = value if value.tzinfo else value.replace(tzinfo=UTC)
            else:
                self.origin = datetime.now(UTC)
        if mapping.log_since is not None and mapping.log is not None:
            await self._read_back(client)
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = self.publishing_ms
        params.RequestedLifetimeCount = 1000
        params.RequestedMaxKeepAliveCount = 20
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        params.Priority = 0
        feed = _Feed(client.uaclient.session, params, None)
        feed.connector = self
        await feed.init()
        self.items = {}
        requests = []
        trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)

        async def watch(ref: str, what: str, owner: str = "", name: str = "") -> None:
            node = await self._resolve(client, ref)
            requests.append(self._monitored(node.nodeid, ua.AttributeIds.Value, trigger,
                                            (what, owner, name)))

        if mapping.log is not None:
            await watch(mapping.log, "log")
        for name, machine in mapping.machines.items():
            if machine.state is not None:
                await watch(machine.state.node, "state", name)
            if machine.age is not None:
                await watch(machine.age.node, "age", name)
            if machine.finished is not None:
                await watch(machine.finished, "finished", name)
            for sensor, ref in machine.sensors.items():
                await watch(ref, "sensor", name, sensor)
        for name, ref in mapping.buffers.items():
            await watch(ref, "buffer", name)
        if mapping.clock is not None:
            await watch(mapping.clock, "clock")
        if mapping.events is not None:
            await self._watch_events(client, requests)
        results = await feed.create_monitored_items(requests)
        bad = [r for r in results if isinstance(r, ua.StatusCode)]
        if bad:
            raise ua.UaError(f"monitored items refused: {bad[0]}")
        self.connects += 1
        if self.connects > 1:
            self.counts["opcua_resubscribed"] += 1
        self.connected.set()
        self.settled.set()
        status = client.get_node(ua.ObjectIds.Server_ServerStatus_State)
        while not self._stop:
            await asyncio.sleep(self.watch)
            await asyncio.wait_for(status.read_value(), self.request_timeout)

    async def _watch_events(self, client: Client, requests: list[Any]) -> None:
        events = self.mapping.events
        assert events is not None
        notifier = await self._resolve(client, events.notifier)
        self._event_fields = [events.source_field, events.kind_field, events.time_field]
        clauses = []
        for field in self._event_fields:
            op = ua.SimpleAttributeOperand()
            op.TypeDefinitionId = ua.NodeId(ua.Int32(ua.ObjectIds.BaseEventType))
            op.BrowsePath = [ua.QualifiedName(field, 0)]
            op.AttributeId = ua.AttributeIds.Value
            clauses.append(op)
        requests.append(self._monitored(notifier.nodeid, ua.AttributeIds.EventNotifier,
                                        ua.EventFilter(SelectClauses=clauses),
                                        ("event", "", "")))

    async def _read_back(self, client: Client) -> None:
        """The plant's event messages from the next expected one on (``EventLogSince``)."""
        assert self.mapping.log_since is not None and self.mapping.log is not None
        method = await self._resolve(client, self.mapping.log_since)
        parent = await method.get_parent()
        while True:
            got = await parent.call_method(method.nodeid, ua.Variant(self.log_next,
                                                                     ua.VariantType.Int64))
            messages = list(got or [])
            for text in messages:
                self._log_message(text, read_back=True)
            if len(messages) < 500:
                return

    # -- one publish response
    def _monitored(self, nodeid: Any, attribute: Any, filter: Any,
                   item: tuple[str, str, str]) -> ua.MonitoredItemCreateRequest:
        """The request to monitor ``attribute`` of ``nodeid`` (a value or an event notifier)
        with ``filter``, its client handle standing for ``item`` (what, owner, name)."""
        handle = len(self.items) + 1
        self.items[handle] = item
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(NodeId=nodeid, AttributeId=attribute)
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = ua.MonitoringParameters(
            ClientHandle=handle, SamplingInterval=0, QueueSize=QUEUE, DiscardOldest=False,
            Filter=filter)
        return request

    def _time(self, stamp: datetime | None) -> float | None:
        if stamp is None or self.origin is None:
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return (stamp - self.origin).total_seconds() / self.unit

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.inbox.put(Received(plant_topic(self.plant, kind), encode(payload), 0,
                                time.monotonic()))

    def _next(self, kind: str) -> int:
        seq = self.seq[kind]
        self.seq[kind] = seq + 1
        return seq

    def _log_message(self, text: Any, read_back: bool = False) -> None:
        if not isinstance(text, str) or not text:
            return
        try:
            data = json.loads(text)
            seq = int(data["seq"])
            clock = float(data["clock"])
        except (ValueError, KeyError, TypeError):
            self.counts["opcua_malformed"] += 1
            log.warning("malformed event log message on %s", self.mapping.log)
            return
        if seq < self.log_next:
            return  # had it already (the subscription's first value after reading back)
        self.log_next = seq + 1
        self.clock = max(self.clock, clock)
        if read_back:
            self.counts["opcua_log_read_back"] += 1
        self.inbox.put(Received(plant_topic(self.plant, "events"), text.encode(), 0,
                                time.monotonic()))

    def _malformed(self, what: str, value: Any) -> None:
        self.counts["opcua_malformed"] += 1
        log.warning("malformed OPC UA value for %s: %r", what, value)

    async def _take(self, changes: list[ua.MonitoredItemNotification],
                    events: list[ua.EventFieldList]) -> None:
        by_kind: dict[str, list[tuple[str, str, Any, float | None]]] = defaultdict(list)
        for change in changes:
            what = self.items.get(change.ClientHandle)
            if what is None:
                continue
            value = change.Value
            good = value.StatusCode is None or value.StatusCode.is_good()
            data = value.Value.Value if value.Value is not None else None
            if not good:
                if value.StatusCode.value != ua.StatusCodes.BadWaitingForInitialData:
                    self.counts["opcua_bad_quality"] += 1  # no value to take
                continue
            self.counts["opcua_values"] += 1
            by_kind[what[0]].append((what[1], what[2], data,
                                     self._time(value.SourceTimestamp)))
        for _, _, text, _ in by_kind.get("log", []):
            try:
                seq = int(json.loads(text)["seq"]) if text else -1
            except (ValueError, KeyError, TypeError):
                seq = -1
            if seq > self.log_next and self.mapping.log_since is not None:
                await self._fill_gap()
            self._log_message(text)
        if self.mapping.clock is None:
            times = [t for rows in by_kind.values() for *_, t in rows if t is not None]
            if times:
                self.clock = max(self.clock, max(times))
        self._machines(by_kind.get("state", []), by_kind.get("age", []))
        rows: list[list[Any]] = []
        for machine, _, value, t in by_kind.get("finished", []):
            rows += self._finished(machine, value, t)
        rows += self._events(events)
        if rows:
            rows.sort(key=lambda r: r[0])
            self.own_seq += 1
            self._emit("events", {"seq": self.own_seq, "clock": self.clock, "events": rows})
        self._readings(by_kind.get("sensor", []))
        for buffer, _, value, _ in by_kind.get("buffer", []):
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.buffers[buffer] = value
            else:
                self._malformed(f"buffer {buffer}", value)
        for _, _, value, _ in by_kind.get("clock", []):
            if isinstance(value, int | float) and math.isfinite(value):
                self.clock = max(self.clock, float(value))
                self.clock_read = max(self.clock_read, float(value))
            else:
                self._malformed("clock", value)
        if "clock" in by_kind or (self.mapping.log is None and by_kind):
            # the clock moved: an empty events message says everything up to it is sent
            self.own_seq += 1
            self._emit("events", {"seq": self.own_seq, "clock": self.clock, "events": []})

    async def _fill_gap(self) -> None:
        """Messages of the log were missed (the server's queue overflowed): read them."""
        self.counts["opcua_log_gaps"] += 1
        if self.client is not None:
            await self._read_back(self.client)

    def _machines(self, states: list[tuple[str, str, Any, float | None]],
                  ages: list[tuple[str, str, Any, float | None]]) -> None:
        at: dict[tuple[str, float | None], float] = {}
        for machine, _, value, t in ages:
            scaled = self.mapping.machines[machine].age
            scale = scaled.scale if scaled is not None else 1.0
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value < 0 or t is None:
                self._malformed(f"{machine} age", value)
                continue
            at[(machine, t)] = float(value) * scale
            self.ages[machine] = (float(value) * scale, t)
        changed: list[dict[str, dict[str, Any]]] = []
        done: set[tuple[str, float]] = set()
        for machine, _, value, t in states:
            spec = self.mapping.machines[machine].state
            assert spec is not None
            code = _code(value)
            state = code if spec.values is None else spec.values.get(code)
            if state not in STATE_NAMES or t is None:
                self.counts["opcua_unmapped"] += 1
                log.warning("unmapped state of %s: %r", machine, value)
                continue
            previous = self.states.get(machine)
            age = at.get((machine, t))
            if age is None:
                age = self._age(machine, previous, state, t)
            self.states[machine] = (state, t)
            if self.mapping.machines[machine].age is None:
                self.ages[machine] = (age, t)
            changed.append({machine: {"state": state, "since": t, "age": age}})
            done.add((machine, t))
        for machine, _t in at:
            known = self.states.get(machine)
            if known is None or (machine, known[1]) in done:
                continue
            state, since = known
            changed.append({machine: {"state": state, "since": since,
                                      "age": self._age(machine, None, state, since)}})
        for entry in changed:  # the plant's clock has reached a state's change, at least
            since = max(m["since"] for m in entry.values())
            self._emit("machines", {"seq": self._next("machines"),
                                    "clock": max(self.clock, since), "machines": entry})

    def _age(self, machine: str, previous: tuple[str, float] | None, state: str,
             since: float) -> float:
        """The operating age at ``since``, when the machine went from ``previous`` into
        ``state``: from the latest age read, or (without an age variable) counted from the
        time worked in the states seen."""
        known = self.ages.get(machine)
        if known is None:
            return 0.0
        age, when = known
        if self.mapping.machines[machine].age is None:
            worked = since - previous[1] if previous is not None and previous[0] == "working" \
                else 0.0
            age += max(0.0, worked)
            self.ages[machine] = (age, since)
            return age
        if when > since:  # read after the state began
            return max(0.0, age - (when - since)) if state == "working" else age
        if when < since and previous is not None and previous[0] == "working":
            return age + (since - when)
        return age

    def _finished(self, machine: str, value: Any, t: float | None) -> list[list[Any]]:
        if isinstance(value, bool) or not isinstance(value, int | float) or t is None \
                or not math.isfinite(value):
            self._malformed(f"{machine} counter", value)
            return []
        count = int(value)
        before = self.counters.get(machine)
        self.counters[machine] = count
        if before is None or count <= before:
            return []  # the first reading, or the counter was reset
        return [[t, machine, "finish", None, None, None] for _ in range(count - before)]

    def _events(self, events: list[ua.EventFieldList]) -> list[list[Any]]:
        spec = self.mapping.events
        if spec is None:
            return []
        rows = []
        for event in events:
            fields = [_plain(f.Value) for f in event.EventFields]
            if len(fields) < 3:
                self._malformed("event", fields)
                continue
            source, kind, stamp = fields[:3]
            machine = spec.sources.get(str(source))
            name = spec.kinds.get(str(kind))
            t = self._time(stamp) if isinstance(stamp, datetime) else None
            if machine is None or name is None or t is None:
                self.counts["opcua_unmapped"] += 1
                log.warning("unmapped OPC UA event: %s %s", source, kind)
                continue
            self.clock = max(self.clock, t) if self.mapping.clock is None else self.clock
            rows.append([t, machine, name, None, None, None])
        return rows

    def _readings(self, values: list[tuple[str, str, Any, float | None]]) -> None:
        machines: dict[str, dict[str, dict[str, list[float]]]] = {}
        for machine, sensor, value, t in values:
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or t is None:
                self._malformed(f"{machine}/{sensor}", value)
                continue
            key = (machine, sensor)
            if t <= self.last_reading.get(key, -math.inf):
                continue  # read again on subscribing: had it
            self.last_reading[key] = t
            entry = machines.setdefault(machine, {}).setdefault(sensor, {"time": [],
                                                                         "value": []})
            entry["time"].append(t)
            entry["value"].append(float(value))
        for machine, readings in machines.items():
            self._emit(f"sensors/{machine}", {"seq": self._next(f"sensors/{machine}"),
                                              "clock": self.clock, "readings": readings})


def opcua_twin(scenario: Scenario, url: str, *, mapping: str | Path | None = None,
               security: Security | None = None, publishing_ms: float = 50.0,
               **options: Any) -> LiveTwin:
    """The live twin of ``scenario``'s plant on the OPC UA server at ``url``: read through the
    mapping file ``mapping`` (twin's own layout without one); ``options`` are ``LiveTwin``'s."""
    from twin.language.plant import plant_graph
    from twin.live.emulator import unit_seconds
    from twin.live.opcua_map import load_mapping, twin_layout
    from twin.live.twin import LiveTwin

    nodes = dict(plant_graph(scenario).nodes(data="kind"))
    chosen = twin_layout(scenario) if mapping is None else load_mapping(mapping, nodes)
    connector = OpcuaConnector(url, scenario.name, chosen, unit_seconds(scenario.time_unit),
                               security=security, publishing_ms=publishing_ms)
    return LiveTwin(scenario, public_url(url), connector=connector, **options)
