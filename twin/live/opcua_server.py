"""``twin emulate --opcua``: the emulated plant served as an OPC UA server (asyncua).

The address space (namespace ``urn:twin:plant``; every node's string id is its browse path, so
both are stable)::

    Objects/Plant/<plant>/
        Clock            Double    plant time up to which everything is published
        Origin           DateTime  the source timestamp of plant time 0
        EventLog         String    each of twin's event messages in turn (the MQTT ``events``
                                   payload: {"v", "seq", "clock", "events": [[time, node,
                                   event, part, product, order], ...]})
        EventLogSince(seq: Int64) -> String[]   the event messages from ``seq`` on (at most 500)
        Machines/<machine>/
            Identification/{Manufacturer, Model, SerialNumber}   (OPC UA for Machinery's ideas)
            State        String    working, starved, blocked, down, repair, maintenance, setup
            OperatingAge Double    operating time since the last renewal, at the state's start
            PartsMade    UInt64    parts finished
            Sensors/<sensor>  Double  each reading in turn
        Buffers/<buffer>/Contents  UInt32  parts waiting

Every value carries a source timestamp: ``Origin`` plus its plant time (in the time unit's
seconds): a state's is its start, a reading's the reading's time. The server runs in its own
thread and event loop; the emulator hands it each message (``publish``, the MQTT connector's
call) and it writes them in order. ``stop()`` and ``start()`` take the server down and up
again on the same port while the plant runs on: the values written meanwhile are there when
it is back, and the event log keeps every message."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager

from twin.errors import InputError
from twin.live.emulator import Emulation, Emulator, unit_seconds
from twin.live.opcua_map import NAMESPACE, path

if TYPE_CHECKING:
    from twin.language.schema import Scenario

log = logging.getLogger("twin.live.opcua")
QUEUE = 100_000
"""Most values one monitored item keeps between two publishes (a client slower than the plant
for a while loses none)."""
SINCE_LIMIT = 500
"""Most event messages one ``EventLogSince`` call returns."""


def opcua_address(url: str, option: str = "--opcua") -> tuple[str, int]:
    """``opc.tcp://HOST:PORT`` (port 4840 by default)."""
    parsed = urlparse(url)
    if parsed.scheme != "opc.tcp" or not parsed.hostname:
        raise InputError(option, [((), f"not an OPC UA URL: {url!r} (opc.tcp://HOST:PORT)",
                                   None)])
    try:
        port = parsed.port or 4840
    except ValueError:
        raise InputError(option, [((), f"bad port in {url!r}", None)]) from None
    return parsed.hostname, port


PASSWORD_ENV = "TWIN_OPCUA_PASSWORD"
"""The environment variable holding the password of ``--user`` (never an argument)."""


def serve_options(user: str | None, cert: Path | None, key: Path | None) -> dict[str, Any]:
    """The server's security from the command line's options (the password from
    ``TWIN_OPCUA_PASSWORD``), checked: ``InputError`` names what is missing."""
    password = None
    if user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise InputError("--user", [((), f"set the password in the environment variable "
                                              f"{PASSWORD_ENV}", None)])
    if (cert is None) != (key is None):
        raise InputError("--cert", [((), "give the certificate and its key together (--cert "
                                          "and --key)", None)])
    for option, given in (("--cert", cert), ("--key", key)):
        if given is not None and not Path(given).is_file():
            raise InputError(str(given), [((), f"no such file ({option})", None)])
    return {"user": user, "password": password, "cert": cert, "key": key}


def certificate_uri(cert: Path) -> str | None:
    """The application URI a certificate (PEM or DER) names, if any."""
    from cryptography import x509

    data = Path(cert).read_bytes()
    try:
        parsed = (x509.load_pem_x509_certificate(data) if data.startswith(b"-----")
                  else x509.load_der_x509_certificate(data))
    except ValueError:
        raise InputError(str(cert), [((), "not a certificate (PEM or DER)", None)]) from None
    try:
        names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def make_certificate(cert: Path, key: Path, uri: str, *, server: bool,
                     host: str = "localhost") -> None:
    """A self-signed application certificate (DER) and its key (PEM) for Basic256Sha256, for
    trying things out; a plant's certificates come from its own authority."""
    import ipaddress

    from asyncua.crypto.cert_gen import (
        dump_private_key_as_pem,
        generate_private_key,
        generate_self_signed_app_certificate,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import ExtendedKeyUsageOID

    private = generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri), x509.DNSName(host),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    made = generate_self_signed_app_certificate(private, uri, {"organizationName": "twin"}, names,
                                                use)
    Path(key).write_bytes(dump_private_key_as_pem(private))
    Path(cert).write_bytes(made.public_bytes(Encoding.DER))


def _id(key: str, ns: int) -> ua.NodeId:
    """The string node id ``key`` in namespace ``ns``."""
    return ua.NodeId(ua.String(key), ua.Int16(ns))


@dataclass
class Written(ua.DataValue):
    """A value as written, never changed afterwards: the copy each monitored item keeps of it
    (asyncua deep-copies it, the most part of a write's cost) is the value itself."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Written:
        return self


def datavalue(value: Any, kind: ua.VariantType, source: Any, server: Any) -> ua.DataValue:
    """A value with its source and server timestamps."""
    return Written(ua.Variant(value, kind), SourceTimestamp=source, ServerTimestamp=server)


class _Users(UserManager):
    """One user name and password; nothing else (anonymous included) gets in."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username == self.user and password == self.password:
            return User(role=UserRole.User, name=username)
        return None


class PlantServer:
    """An OPC UA server holding the plant's address space, fed the emulator's messages."""

    def __init__(self, scenario: Scenario, url: str, *, user: str | None = None,
                 password: str | None = None, cert: Path | None = None,
                 key: Path | None = None, origin: datetime | None = None) -> None:
        opcua_address(url)
        if (cert is None) != (key is None):
            raise InputError("--cert", [((), "give the server's certificate and its key "
                                             "together (--cert and --key)", None)])
        if (user is None) != (password is None):
            raise InputError("--user", [((), "a user needs a password (TWIN_OPCUA_PASSWORD)",
                                         None)])
        self.scenario = scenario
        self.plant = scenario.name
        self.url = url
        self.user, self.password = user, password
        self.cert, self.key = cert, key
        self.unit = unit_seconds(scenario.time_unit)
        self.origin = (origin or datetime.now(UTC)).replace(microsecond=0)
        self.values: dict[str, ua.DataValue] = {}
        """The latest value of every variable, by path (kept while the server is down)."""
        self.types: dict[str, ua.VariantType] = {}
        self.log: list[str] = []
        """Every event message, by seq."""
        self.finished: dict[str, int] = {}
        self.server: Server | None = None
        self.ns = 0
        self.connects = 1
        self.sent = 0
        self.written = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="opcua-server")
        self.thread.start()
        self.lock = asyncio.Lock()
        self._layout()
        self.start()

    # -- the address space
    def _layout(self) -> None:
        plant = self.plant
        now = datetime.now(UTC)
        self._set(path(plant, "Clock"), 0.0, ua.VariantType.Double, self.origin)
        self._set(path(plant, "Origin"), self.origin, ua.VariantType.DateTime, now)
        self._set(path(plant, "EventLog"), "", ua.VariantType.String, self.origin)
        for name, spec in self.scenario.plant.nodes.items():
            kind = getattr(spec, "kind", None)
            if kind == "machine":
                base = ("Machines", name)
                self._set(path(plant, *base, "State"), "starved", ua.VariantType.String,
                          self.origin)
                self._set(path(plant, *base, "OperatingAge"), 0.0, ua.VariantType.Double,
                          self.origin)
                self._set(path(plant, *base, "PartsMade"), 0, ua.VariantType.UInt64,
                          self.origin)
                for sensor in getattr(spec, "sensors", None) or {}:
                    self._set(path(plant, *base, "Sensors", sensor), None,
                              ua.VariantType.Double, None)
                self.finished[name] = 0
            elif kind == "buffer":
                self._set(path(plant, "Buffers", name, "Contents"), 0, ua.VariantType.UInt32,
                          self.origin)

    def _set(self, key: str, value: Any, kind: ua.VariantType, stamp: datetime | None) -> None:
        """A variable of the layout and its first value (None: waiting for its first)."""
        self.types[key] = kind
        self.values[key] = datavalue(value, kind, stamp, datetime.now(UTC)) if value is not None \
            else ua.DataValue(ua.Variant(None, ua.VariantType.Null), StatusCode=ua.StatusCode(
                ua.UInt32(ua.StatusCodes.BadWaitingForInitialData)))

    def stamp(self, time: float) -> datetime:
        """The source timestamp of plant time ``time``."""
        return self.origin + timedelta(seconds=time * self.unit)

    async def _build(self, server: Server) -> None:
        self.ns = await server.register_namespace(NAMESPACE)
        ns = self.ns
        objects = server.nodes.objects
        folders: dict[str, Any] = {}

        async def folder(key: str) -> Any:
            if key in folders:
                return folders[key]
            parent_key, _, name = key.rpartition("/")
            parent = objects if not parent_key else await folder(parent_key)
            node = await parent.add_object(_id(key, ns), ua.QualifiedName(name, ns))
            folders[key] = node
            return node

        for key, value in self.values.items():
            parent_key, _, name = key.rpartition("/")
            parent = await folder(parent_key)
            first = value.Value.Value if value.Value is not None else None
            await parent.add_variable(_id(key, ns), ua.QualifiedName(name, ns),
                                      0.0 if first is None else first, self.types[key])
            await server.write_attribute_value(_id(key, ns), value)
        for name, spec in self.scenario.plant.nodes.items():
            if getattr(spec, "kind", None) != "machine":
                continue
            ident = await folder(path(self.plant, "Machines", name, "Identification"))
            for field, text in (("Manufacturer", "twin emulator"),
                                ("Model", f"{spec.kind}: {name}"), ("SerialNumber", name)):
                key = path(self.plant, "Machines", name, "Identification", field)
                await ident.add_variable(_id(key, ns), ua.QualifiedName(field, ns), text)
        plant = await folder(path(self.plant))
        await plant.add_method(_id(path(self.plant, "EventLogSince"), ns),
                               ua.QualifiedName("EventLogSince", ns), self._since,
                               [ua.VariantType.Int64], [ua.VariantType.String])

    async def _since(self, parent: Any, seq: ua.Variant) -> list[ua.Variant]:
        start = max(0, int(seq.Value))
        return [ua.Variant(self.log[start:start + SINCE_LIMIT], ua.VariantType.String)]

    # -- up and down
    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> None:
        """Serve on the URL (again): a fresh server with every value as it is now."""
        self._call(self._start())

    async def _start(self) -> None:
        async with self.lock:
            server = Server(user_manager=_Users(self.user, self.password)
                            if self.user is not None and self.password is not None else None)
            await server.init()
            server.iserver.max_monitored_item_queue_size = QUEUE
            server.set_endpoint(self.url)
            server.set_server_name(f"twin emulator: {self.plant}")
            uri = certificate_uri(self.cert) if self.cert is not None else None
            await server.set_application_uri(uri or f"urn:twin:emulator:{self.plant}")
            if self.cert is not None and self.key is not None:
                await server.load_certificate(str(self.cert))
                await server.load_private_key(str(self.key))
                server.set_security_policy([
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            else:
                server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            if self.user is not None:
                server.set_identity_tokens([ua.UserNameIdentityToken])
            else:
                server.set_identity_tokens([ua.AnonymousIdentityToken])
            await self._build(server)
            await server.start()
            self.server = server

    def stop(self) -> None:
        """Take the server down (the plant runs on; what it publishes is kept)."""
        self._call(self._stop())

    async def _stop(self) -> None:
        async with self.lock:
            if self.server is not None:
                server, self.server = self.server, None
                await server.stop()

    # -- the emulator's messages
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Take one of the emulator's messages (``twin.live.schema``) into the address space."""
        kind = topic.rsplit("/plant/", 1)[1]
        data = json.loads(payload)
        writes: list[tuple[str, Any, datetime]] = []
        clock = float(data["clock"])
        if kind == "events":
            self.log.append(payload.decode())
            writes.append((path(self.plant, "EventLog"), payload.decode(), self.stamp(clock)))
            made: set[str] = set()
            for _time, node, event, *_ in data["events"]:
                if event == "finish" and node in self.finished:
                    self.finished[node] += 1
                    made.add(node)
            writes += [(path(self.plant, "Machines", m, "PartsMade"), self.finished[m],
                        self.stamp(clock)) for m in sorted(made)]
        elif kind == "machines":
            for name, entry in data["machines"].items():
                since = self.stamp(float(entry["since"]))
                writes.append((path(self.plant, "Machines", name, "OperatingAge"),
                               float(entry["age"]), since))
                writes.append((path(self.plant, "Machines", name, "State"), entry["state"],
                               since))
        elif kind.startswith("sensors/"):
            machine = kind[len("sensors/"):]
            for sensor, entry in data["readings"].items():
                key = path(self.plant, "Machines", machine, "Sensors", sensor)
                writes += [(key, float(v), self.stamp(float(t)))
                           for t, v in zip(entry["time"], entry["value"], strict=True)]
        self.sent += 1
        self.submit(writes)

    def write_buffers(self, contents: dict[str, int], clock: float) -> None:
        """The buffers' contents, then the clock: everything up to ``clock`` is published."""
        stamp = self.stamp(clock)
        self.submit([(path(self.plant, "Buffers", name, "Contents"), count, stamp)
                     for name, count in contents.items()]
                    + [(path(self.plant, "Clock"), float(clock), stamp)])

    def submit(self, writes: list[tuple[str, Any, datetime]]) -> None:
        """Write these values in order, after those submitted before."""
        asyncio.run_coroutine_threadsafe(self._write(writes), self.loop)

    async def _write(self, writes: list[tuple[str, Any, datetime]]) -> None:
        async with self.lock:
            now = datetime.now(UTC)
            server = self.server
            for k, (key, value, stamp) in enumerate(writes):
                kind = self.types[key]
                data = datavalue(value, kind, stamp, None if kind == ua.VariantType.Double
                                 and "/Sensors/" in key else now)
                self.values[key] = data
                if server is not None:
                    await server.write_attribute_value(_id(key, self.ns), data)
                    if k % 200 == 199:
                        await asyncio.sleep(0)  # let the subscriptions publish meanwhile
            self.written += len(writes)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every value submitted is written."""
        async def done() -> None:
            async with self.lock:
                pass
        try:
            self._call(done(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


class OpcuaEmulator(Emulator):
    """The emulator publishing into a ``PlantServer``: its messages, then the buffers'
    contents and the clock at each batch."""

    server: PlantServer

    def __init__(self, scenario: Scenario, server: PlantServer, **kwargs: Any) -> None:
        super().__init__(scenario, server, **kwargs)
        self.server = server

    def publish(self) -> None:
        super().publish()
        ctx = self.ctx
        contents = {}
        for name, channel in ctx.channels.items():
            if ctx.graph.nodes[name]["kind"] == "buffer":
                contents[name] = len(channel.items) + sum(
                    1 for request, _ in channel.putters if request is None)
        self.server.write_buffers(contents, self.env.now)


def emulate_opcua(scenario: Scenario, url: str, *, speed: float = 1.0,
                  until: float | None = None, replication: int = 0,
                  stop: threading.Event | None = None, server: PlantServer | None = None,
                  user: str | None = None, password: str | None = None,
                  cert: Path | None = None, key: Path | None = None,
                  hold: float = 0.0) -> Emulation:
    """Run ``scenario`` in real time ``speed`` times faster, serving it as an OPC UA server on
    ``url`` until plant time ``until`` (the horizon by default), then ``hold`` seconds more
    (for clients to read the end); a ``server`` given is fed and left running."""
    own = server is None
    plant = server or PlantServer(scenario, url, user=user, password=password, cert=cert,
                                  key=key)
    try:
        result = OpcuaEmulator(scenario, plant, speed=speed, replication=replication).run(
            scenario.horizon if until is None else until, stop)
        plant.flush()
        result.connects = plant.connects
        if hold > 0 and stop is not None:
            stop.wait(hold)
        return result
    finally:
        if own:
            plant.close()
