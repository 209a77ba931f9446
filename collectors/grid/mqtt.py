"""paho-mqtt (2.x, callback API v2) driven from the asyncio loop.

:class:`AsyncioPaho` is the driver: paho's external-loop API with the socket registered on the
asyncio loop (epoll), reconnect with backoff. paho's own network thread uses ``select()``, which
cannot watch descriptors above 1024 (the simulator holds ~2,400 sockets), and running paho on the
loop means ``on_message`` never has to cross threads.

:class:`MqttSession` is Pantau's subscriber on top of it:
- MQTT 5, fixed client id, ``clean_start=False`` and a Session Expiry Interval, so QoS 1 messages
  published while Pantau is away are kept by the broker and delivered when it returns (without
  the expiry interval an MQTT 5 session ends at disconnect: measured, 0 of 50 arrived);
- Receive Maximum raised (default 20,000) so the broker may keep more than ~20 messages in flight
  while we batch acknowledgements;
- ``manual_ack``: messages are acknowledged only by :meth:`ack`, which the ingest calls after the
  reading is spooled to disk; acknowledgements for a previous connection are dropped (the broker
  redelivers those);
- bounded: received-but-unprocessed messages above ``max_pending`` pause reading the socket
  (TCP back-pressure to the broker) until the ingest catches up;
- TLS and username/password; shared subscriptions are plain filters (``$share/group/…``).

Two measured fixes to paho's receive path (``bench/mqtt_ingest.py``; a profile showed ~60% of a
subscriber's CPU inside paho): :class:`FastClient` reads the socket in 256 KiB chunks instead of
paho's three ``recv`` calls per packet, and the reader drains every complete packet per wake-up
(paho's ``loop_read`` handles one); :func:`install_fast_properties` gives paho's MQTT 5
``Properties`` shared lookup tables instead of rebuilding them for every received PUBLISH
(~27% of the time). Both keep paho's behaviour (checked at install and in tests).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("pantau.mqtt")

_PRIVATE = ("packetType", "types", "names", "properties")


class FastProperties(Properties):
    """paho's Properties with its name/type tables built once per class, not once per packet."""

    _shared: tuple | None = None

    def __init__(self, packetType):
        sh = FastProperties._shared
        if sh is None:
            base = Properties(packetType)
            sh = FastProperties._shared = (
                base.types,
                base.names,
                base.properties,
                {n.replace(" ", ""): i for n, i in base.names.items()},
            )
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", sh[0])
        object.__setattr__(self, "names", sh[1])
        object.__setattr__(self, "properties", sh[2])

    def getIdentFromName(self, compressedName):
        return FastProperties._shared[3].get(compressedName, -1)

    def clear(self):
        for k in [k for k in self.__dict__ if k not in _PRIVATE]:
            delattr(self, k)


# paho-mqtt minor versions whose internals (``_packet.Properties``, ``Client._sock_recv``) the two
# patches were checked against; pyproject.toml pins paho to these, tests/test_deps.py checks the pin.
CHECKED_PAHO = ("2.2",)


def paho_checked() -> bool:
    """True if the installed paho-mqtt is a minor version the patches know; logs loudly if not."""
    from importlib.metadata import version

    v = version("paho-mqtt")
    if ".".join(v.split(".")[:2]) in CHECKED_PAHO:
        return True
    log.error(
        "paho-mqtt %s is not a version FastClient/FastProperties were checked against %s; using stock paho",
        v,
        CHECKED_PAHO,
    )
    return False


def install_fast_properties() -> bool:
    """Use :class:`FastProperties` for packets paho decodes, if it decodes exactly like paho's own."""
    if not paho_checked():
        return False
    from paho.mqtt import _packet

    if getattr(_packet, "Properties", None) is FastProperties:
        return True
    if getattr(_packet, "Properties", None) is not Properties:
        log.info("paho internals changed; keeping paho's own Properties")
        return False
    sample = Properties(PacketTypes.PUBLISH)
    sample.UserProperty = ("k", "v")
    sample.ContentType = "application/json"
    sample.MessageExpiryInterval = 60
    buf = sample.pack()
    a, b = Properties(PacketTypes.PUBLISH), FastProperties(PacketTypes.PUBLISH)
    a.unpack(buf)
    b.unpack(buf)
    if a.json() != b.json() or FastProperties(PacketTypes.PUBLISH).json() != {}:
        log.warning("FastProperties disagrees with paho; keeping paho's own Properties")
        return False
    _packet.Properties = FastProperties
    return True


class FastClient(mqtt.Client):
    """paho Client reading the socket in large chunks (its own reader asks for 1, 1, then n bytes)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._rbuf = b""
        self._rpos = 0
        self.would_block = False

    def reset_buffer(self) -> None:
        self._rbuf, self._rpos = b"", 0

    def buffered(self) -> bool:
        return self._rpos < len(self._rbuf)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            try:
                data = super()._sock_recv(262144)
            except BlockingIOError:
                self.would_block = True
                raise
            if not data:
                return data
            self._rbuf, self._rpos = data, 0
        chunk = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(chunk)
        return chunk


@dataclass(frozen=True)
class BrokerConf:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __str__(self) -> str:
        who = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{who}{self.host}:{self.port}"


def configure_auth(client: mqtt.Client, broker: BrokerConf) -> None:
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(
            ca_certs=broker.ca_file,
            certfile=broker.cert_file,
            keyfile=broker.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )


class AsyncioPaho:
    """Drives a paho client from the running asyncio loop; connects and reconnects with backoff."""

    def __init__(
        self,
        client: mqtt.Client,
        broker: BrokerConf,
        keepalive: int = 15,
        clean_start: bool | int = mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        properties: Properties | None = None,
    ):
        self.client, self.broker = client, broker
        self.keepalive, self.clean_start, self.properties = keepalive, clean_start, properties
        self.loop = asyncio.get_running_loop()
        self._sock = None
        self._paused = False
        client.on_socket_open = self._open
        client.on_socket_close = self._close
        client.on_socket_register_write = lambda c, u, sock: self.loop.add_writer(sock, c.loop_write)
        client.on_socket_unregister_write = lambda c, u, sock: self.loop.remove_writer(sock)
        self._task: asyncio.Task | None = None
        self.connects = 0
        self.connect_failures = 0

    def _open(self, client, userdata, sock):
        self._sock = sock
        if isinstance(client, FastClient):
            client.reset_buffer()
        if not self._paused:
            self.loop.add_reader(sock, self._readable)

    def _readable(self) -> None:
        c = self.client
        fast = isinstance(c, FastClient)
        for _ in range(1000):
            if fast:
                c.would_block = False
            rc = c.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS or not fast or c.would_block or self._paused or self._sock is None:
                return
            if not c.buffered() and self._sock is None:
                return
        self.loop.call_soon(self._readable)  # more buffered: yield to other work, then go on

    def _close(self, client, userdata, sock):
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)
        self._sock = None

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            if self._sock is not None:
                self.loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._sock is not None:
                self.loop.add_reader(self._sock, self._readable)
                self.loop.call_soon(self._readable)  # packets may wait in FastClient's buffer

    def start(self) -> None:
        self._task = self.loop.create_task(self._misc())

    def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._sock is not None:
            self._close(self.client, None, self._sock)

    async def _misc(self) -> None:
        backoff = 0.25
        warned = False
        while True:
            if not self.client.is_connected() and self._sock is None:
                try:
                    self.client.connect(
                        self.broker.host,
                        self.broker.port,
                        keepalive=self.keepalive,
                        clean_start=self.clean_start,
                        properties=self.properties,
                    )
                    self.connects += 1
                    backoff = 0.25
                    warned = False
                except (OSError, ssl.SSLError) as exc:
                    self.connect_failures += 1
                    if not warned:
                        log.warning("MQTT broker %s unreachable (%s); retrying with backoff", self.broker, exc)
                        warned = True
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
            self.client.loop_misc()
            await asyncio.sleep(0.25)


@dataclass(slots=True)
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int
    gen: int
    dup: bool = False


class MqttSession:
    """A persistent MQTT 5 subscriber session handing messages to the asyncio side in batches."""

    def __init__(
        self,
        broker: BrokerConf,
        client_id: str,
        subscriptions: list[tuple[str, int]],
        session_expiry_s: int = 604800,
        receive_maximum: int = 20000,
        keepalive: int = 15,
        max_pending: int = 20000,
        will: tuple[str, bytes, int, bool] | None = None,
        on_connected=None,
    ):
        self.broker = broker
        self.client_id = client_id
        self.subscriptions = subscriptions
        self.max_pending = max_pending
        self.on_connected = on_connected
        install_fast_properties()
        client_cls = FastClient if paho_checked() else mqtt.Client
        c = client_cls(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        c.max_queued_messages_set(0)
        c.max_inflight_messages_set(1000)
        configure_auth(c, broker)
        if will:
            c.will_set(*will)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        props.ReceiveMaximum = receive_maximum
        self._props = props
        self.keepalive = keepalive
        self.gen = 0
        self.pending: list[Msg] = []
        self._wake = asyncio.Event()
        self._io: AsyncioPaho | None = None
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.session_present: bool | None = None
        self.received = 0
        self.acked = 0
        self.stale_acks = 0
        self.disconnects = 0
        self.last_error: str | None = None

    # --- paho callbacks (run on the loop) -------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, props):
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("MQTT %s refused %s: %s", self.broker, self.client_id, reason)
            return
        self.gen += 1
        self.session_present = bool(flags.session_present)
        log.info(
            "MQTT connected to %s as %s (session %s)",
            self.broker,
            self.client_id,
            "resumed" if self.session_present else "new",
        )
        if self.subscriptions:
            client.subscribe([(f, mqtt.SubscribeOptions(qos=q)) for f, q in self.subscriptions])
        self.connected.set()
        if self.on_connected:
            self.on_connected(self)

    def _on_subscribe(self, client, userdata, mid, reason_codes, props):
        ok = True
        for rc, (f, _) in zip(reason_codes, self.subscriptions):
            if rc.is_failure:
                ok = False
                self.last_error = f"subscription {f!r} refused: {rc}"
                log.error("MQTT broker refused subscription %r: %s", f, rc)
        if ok:
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason, props):
        self.connected.clear()
        self.disconnects += 1
        if reason.is_failure or reason.value != 0:
            log.warning(
                "MQTT %s disconnected from %s: %s (will resume the session)", self.client_id, self.broker, reason
            )

    def _on_message(self, client, userdata, msg):
        self.received += 1
        self.pending.append(Msg(msg.topic, msg.payload, msg.qos, msg.retain, msg.mid, self.gen, msg.dup))
        if len(self.pending) >= self.max_pending and self._io:
            self._io.pause_reading()
        self._wake.set()

    # --- asyncio side ---------------------------------------------------------------------------
    def start(self) -> None:
        self._io = AsyncioPaho(
            self.client, self.broker, keepalive=self.keepalive, clean_start=False, properties=self._props
        )
        self._io.start()

    async def take(self, timeout: float = 0.25) -> list[Msg]:
        if not self.pending:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                return []
        batch, self.pending = self.pending, []
        if self._io:
            self._io.resume_reading()
        return batch

    def ack(self, batch: list[Msg]) -> None:
        for m in batch:
            if m.qos == 0:
                continue
            if m.gen != self.gen or not self.client.is_connected():
                self.stale_acks += 1  # from an earlier connection: the broker will redeliver it
                continue
            self.client.ack(m.mid, m.qos)
            self.acked += 1

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain)

    async def stop(self, disconnect: bool = True) -> None:
        if disconnect and self.client.is_connected():
            self.client.disconnect()
            await asyncio.sleep(0.05)
        if self._io:
            self._io.stop()

    def stats(self) -> dict:
        return {
            "client_id": self.client_id,
            "connected": self.client.is_connected(),
            "received": self.received,
            "acked": self.acked,
            "pending": len(self.pending),
            "disconnects": self.disconnects,
            "stale_acks": self.stale_acks,
            "connects": self._io.connects if self._io else 0,
            "session_present": self.session_present,
            "subscribed": self.subscribed.is_set(),
            "last_error": self.last_error,
        }
