"""Sparkplug B (``spBv1.0``) as a second grid format: what SCADA and utility gateways speak.

Pantau is a Sparkplug *host application*:
- on connect it publishes ``spBv1.0/STATE/<host_id>`` = ``{"online": true, "timestamp": ms}``
  (retained, QoS 1) with the same topic ``online: false`` as its last will (Sparkplug 3.0);
- NBIRTH starts an edge node session: ``seq`` must be 0 and a ``bdSeq`` metric present; metric
  aliases are learned from NBIRTH/DBIRTH;
- every later NDATA/DBIRTH/DDATA/DDEATH must carry ``seq`` = previous + 1 (mod 256); a gap, or
  data from a node or device whose birth we never saw, is recorded and answered with a rebirth
  request (NCMD ``Node Control/Rebirth`` = true);
- NDEATH (the node's last will) whose ``bdSeq`` matches the current birth ends the session: the
  node's and all its devices' metrics are marked **stale** and their elements lose telemetry
  (``unknown``); a death with an older ``bdSeq`` is ignored. DDEATH marks one device stale.

Devices map to grid elements by inventory id (``SRD-04`` → ``feeder:SRD-04``; ``SRD-04-T01`` →
``transformer:SRD-04-T01``); metric names map to reading fields through ``collectors/grid.yaml``.
Devices report by exception, so each DDATA is merged with the device's last known values.

Payloads are decoded with Google's protobuf runtime and the Sparkplug B schema
(``org.eclipse.tahu.protobuf.Payload``), built here as a descriptor so no ``protoc`` step is needed.
Unknown fields (templates, datasets, properties) are skipped by protobuf itself.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from collectors.grid.payloads import Rejected
from collectors.grid.state import Reading

log = logging.getLogger("pantau.sparkplug")

# Sparkplug B data types (subset Pantau reads; others are carried as unknown).
INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, FLOAT, DOUBLE, BOOLEAN, STRING = range(1, 13)


def _build_payload_class():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="sparkplug_b.proto", package="org.eclipse.tahu.protobuf", syntax="proto2"
    )
    payload = fdp.message_type.add(name="Payload")
    F = descriptor_pb2.FieldDescriptorProto
    opt = F.LABEL_OPTIONAL

    def add(msg, name, number, ftype, label=opt, type_name=None, oneof=None):
        f = msg.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if oneof is not None:
            f.oneof_index = oneof

    metric = payload.nested_type.add(name="Metric")
    add(metric, "name", 1, F.TYPE_STRING)
    add(metric, "alias", 2, F.TYPE_UINT64)
    add(metric, "timestamp", 3, F.TYPE_UINT64)
    add(metric, "datatype", 4, F.TYPE_UINT32)
    add(metric, "is_historical", 5, F.TYPE_BOOL)
    add(metric, "is_transient", 6, F.TYPE_BOOL)
    add(metric, "is_null", 7, F.TYPE_BOOL)
    metric.oneof_decl.add(name="value")
    add(metric, "int_value", 10, F.TYPE_UINT32, oneof=0)
    add(metric, "long_value", 11, F.TYPE_UINT64, oneof=0)
    add(metric, "float_value", 12, F.TYPE_FLOAT, oneof=0)
    add(metric, "double_value", 13, F.TYPE_DOUBLE, oneof=0)
    add(metric, "boolean_value", 14, F.TYPE_BOOL, oneof=0)
    add(metric, "string_value", 15, F.TYPE_STRING, oneof=0)
    add(metric, "bytes_value", 16, F.TYPE_BYTES, oneof=0)
    add(payload, "timestamp", 1, F.TYPE_UINT64)
    add(
        payload,
        "metrics",
        2,
        F.TYPE_MESSAGE,
        label=F.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    add(payload, "seq", 3, F.TYPE_UINT64)
    add(payload, "uuid", 4, F.TYPE_STRING)
    add(payload, "body", 5, F.TYPE_BYTES)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload"))


Payload = _build_payload_class()

_SIGNED = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}


def metric_value(m):
    """A metric's value as Python (Sparkplug stores signed ints two's-complement in unsigned fields)."""
    if m.is_null:
        return None
    which = m.WhichOneof("value")
    if which is None:
        return None
    v = getattr(m, which)
    bits = _SIGNED.get(m.datatype)
    if bits and which in ("int_value", "long_value") and v >= 1 << (bits - 1):
        v -= 1 << (32 if which == "int_value" and bits <= 32 else 64)
    return v


def encode(
    metrics: list[tuple[str, int, object]],
    seq: int | None,
    ts_ms: int | None = None,
    aliases: dict[str, int] | None = None,
    with_names: bool = True,
) -> bytes:
    """Build a payload (used by tests, the bench and the simulator's Sparkplug mode)."""
    p = Payload()
    p.timestamp = ts_ms if ts_ms is not None else int(time.time() * 1000)
    if seq is not None:
        p.seq = seq
    for name, dtype, value in metrics:
        m = p.metrics.add()
        if with_names or not aliases or name not in aliases:
            m.name = name
        if aliases and name in aliases:
            m.alias = aliases[name]
        m.datatype = dtype
        m.timestamp = p.timestamp
        if value is None:
            m.is_null = True
        elif dtype == BOOLEAN:
            m.boolean_value = bool(value)
        elif dtype == FLOAT:
            m.float_value = float(value)
        elif dtype == DOUBLE:
            m.double_value = float(value)
        elif dtype in (INT64, UINT64):
            m.long_value = int(value) & ((1 << 64) - 1)
        elif dtype == STRING:
            m.string_value = str(value)
        else:
            m.int_value = int(value) & 0xFFFFFFFF
    return p.SerializeToString()


@dataclass
class DeviceSession:
    element: str | None
    aliases: dict[int, str] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    stale: bool = False


@dataclass
class NodeSession:
    bd_seq: int | None = None
    seq: int | None = None
    online: bool = False
    born_at: float | None = None
    aliases: dict[int, str] = field(default_factory=dict)
    devices: dict[str, DeviceSession] = field(default_factory=dict)


@dataclass
class SpOutcome:
    readings: list[Reading] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # elements whose telemetry ended
    rebirth: tuple[str, str] | None = None  # (group, node) to ask for a rebirth
    rejected: Rejected | None = None


class SparkplugHost:
    def __init__(
        self,
        inv,
        metric_map: dict[str, str],
        host_id: str,
        namespace: str = "spBv1.0",
        max_payload_bytes: int = 65536,
        validator=None,
    ):
        self.inv = inv
        self.metric_map = metric_map
        self.host_id = host_id
        self.ns = namespace
        self.max_payload_bytes = max_payload_bytes
        self.validator = validator
        self.nodes: dict[tuple[str, str], NodeSession] = {}
        self.sequence_gaps = 0
        self.rebirths_requested = 0

    # --- topics ---------------------------------------------------------------------------------
    @property
    def subscription(self) -> str:
        return f"{self.ns}/#"

    @property
    def state_topic(self) -> str:
        return f"{self.ns}/STATE/{self.host_id}"

    def state_payload(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": int(time.time() * 1000)}).encode()

    def rebirth_request(self, group: str, node: str) -> tuple[str, bytes]:
        return (f"{self.ns}/{group}/NCMD/{node}", encode([("Node Control/Rebirth", BOOLEAN, True)], seq=None))

    def element_of(self, device: str) -> str | None:
        if device in self.inv.feeders:
            return f"feeder:{device}"
        if device in self.inv.transformers:
            return f"transformer:{device}"
        return None

    # --- messages -------------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> SpOutcome:
        """Decide what one Sparkplug message means: readings, stale elements, a rebirth request or a rejection."""
        out = SpOutcome()
        msg = self._decode(topic, payload, out)
        if msg is None:
            return out
        group, mtype, node, device, p = msg
        key = (group, node)
        if mtype == "NBIRTH":
            self._node_birth(key, p, out)
        elif mtype == "NDEATH":
            self._node_death(key, p, out)
        else:
            ns = self._in_sequence(key, mtype, p, out)
            if ns is not None:
                self._node_message(ns, key, mtype, device, topic, p, out)
        return out

    def _decode(self, topic: str, payload: bytes, out: SpOutcome) -> tuple | None:
        """Decide whether a message is telemetry to decode (not state or a command, a sane topic and size)."""
        parts = topic.split("/")
        if len(parts) >= 3 and parts[1] == "STATE":
            return None  # host application state (ours or another host's)
        if len(parts) not in (4, 5) or parts[0] != self.ns:
            out.rejected = Rejected("bad_topic", f"not a Sparkplug B topic: {topic!r}")
            return None
        group, mtype, node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) == 5 else None
        if mtype in ("NCMD", "DCMD"):
            return None  # commands (ours included) are not telemetry
        if len(payload) > self.max_payload_bytes:
            out.rejected = Rejected("oversize", f"{len(payload)} bytes > {self.max_payload_bytes}")
            return None
        p = Payload()
        try:
            p.ParseFromString(payload)
        except (DecodeError, ValueError) as exc:
            out.rejected = Rejected("sparkplug_decode", f"{mtype} from {group}/{node}: {exc}")
            return None
        return group, mtype, node, device, p

    def _node_birth(self, key: tuple[str, str], p, out: SpOutcome) -> None:
        """Decide whether an NBIRTH starts a node session (bdSeq given, seq 0); the old one's devices go stale."""
        group, node = key
        bd = next((metric_value(m) for m in p.metrics if m.name == "bdSeq"), None)
        if bd is None:
            out.rejected = Rejected("schema", f"NBIRTH from {group}/{node} without bdSeq")
            return
        if p.HasField("seq") and p.seq != 0:
            out.rejected = Rejected("sparkplug_sequence", f"NBIRTH from {group}/{node} with seq {p.seq} (must be 0)")
            out.rebirth = key
            return
        old = self.nodes.get(key)
        ns = NodeSession(bd_seq=bd, seq=0, online=True, born_at=time.time())
        if old:  # devices survive a node rebirth only by being born again
            out.stale += [d.element for d in old.devices.values() if d.element and not d.stale]
        self.nodes[key] = ns
        ns.aliases = {m.alias: m.name for m in p.metrics if m.HasField("alias") and m.name}
        log.info("Sparkplug node %s/%s born (bdSeq %s)", group, node, bd)

    def _node_death(self, key: tuple[str, str], p, out: SpOutcome) -> None:
        """Decide whether an NDEATH ends the live node session (not an older one's); its devices go stale."""
        group, node = key
        ns = self.nodes.get(key)
        bd = next((metric_value(m) for m in p.metrics if m.name == "bdSeq"), None)
        if ns is None or not ns.online:
            return
        if bd is not None and ns.bd_seq is not None and bd != ns.bd_seq:
            log.info("Sparkplug NDEATH from %s/%s with old bdSeq %s (current %s): ignored", group, node, bd, ns.bd_seq)
            return
        ns.online = False
        for d in ns.devices.values():
            d.stale = True
            if d.element:
                out.stale.append(d.element)
        log.warning("Sparkplug node %s/%s died: %d devices stale", group, node, len(ns.devices))

    def _in_sequence(self, key: tuple[str, str], mtype: str, p, out: SpOutcome) -> NodeSession | None:
        """Decide whether a message belongs to a live node session (else None); a seq gap asks for a rebirth."""
        group, node = key
        ns = self.nodes.get(key)
        # Everything else belongs to a live node session with a seq.
        if ns is None or not ns.online:
            out.rejected = Rejected("sparkplug_sequence", f"{mtype} from {group}/{node} without a node birth")
            out.rebirth = key
            return None
        seq = p.seq if p.HasField("seq") else None
        expected = (ns.seq + 1) % 256
        if seq != expected:
            self.sequence_gaps += 1
            log.warning("Sparkplug %s/%s: seq %s, expected %s: requesting a rebirth", group, node, seq, expected)
            out.rebirth = key
        if seq is not None:
            ns.seq = seq
        return ns

    def _node_message(
        self, ns: NodeSession, key: tuple[str, str], mtype: str, device: str | None, topic: str, p, out: SpOutcome
    ) -> None:
        """Decide what an in-session message yields: nothing for NDATA, else by device message type."""
        if mtype == "NDATA":
            return  # node-level metrics (gateway health) are not grid readings
        if device is None:
            out.rejected = Rejected("bad_topic", f"{mtype} without a device id: {topic!r}")
            return
        if mtype == "DBIRTH":
            self._device_birth(ns, device, key, p, out)
        elif mtype == "DDEATH":
            self._device_death(ns, device, out)
        elif mtype == "DDATA":
            self._device_data(ns, device, key, p, out)
        else:
            out.rejected = Rejected("bad_topic", f"unknown Sparkplug message type {mtype!r}")

    def _unknown_device(self, device: str) -> Rejected:
        """The rejection of a device that is no feeder or transformer of the city."""
        return Rejected(
            "unknown_element", f"Sparkplug device {device!r} is no feeder or transformer of {self.inv.city}"
        )

    def _device_birth(self, ns: NodeSession, device: str, key: tuple[str, str], p, out: SpOutcome) -> None:
        """Decide a DBIRTH: a new device session (its aliases), and a reading when it is a known element."""
        el = self.element_of(device)
        ds = DeviceSession(el, {m.alias: m.name for m in p.metrics if m.HasField("alias") and m.name})
        ns.devices[device] = ds
        if el is None:
            out.rejected = self._unknown_device(device)
            return
        self._merge(ds, p, out)
        out.readings += self._reading(ds, p, *key)

    def _device_death(self, ns: NodeSession, device: str, out: SpOutcome) -> None:
        """Decide a DDEATH: a live device's element goes stale."""
        ds = ns.devices.get(device)
        if ds and not ds.stale:
            ds.stale = True
            if ds.element:
                out.stale.append(ds.element)

    def _device_data(self, ns: NodeSession, device: str, key: tuple[str, str], p, out: SpOutcome) -> None:
        """Decide a DDATA: a reading of a born, known device whose metric aliases all resolve."""
        group, node = key
        ds = ns.devices.get(device)
        if ds is None:
            out.rejected = Rejected("sparkplug_sequence", f"DDATA from {group}/{node}/{device} without DBIRTH")
            out.rebirth = key
            return
        if ds.element is None:
            out.rejected = self._unknown_device(device)
            return
        ds.stale = False
        if not self._merge(ds, p, out):
            return
        out.readings += self._reading(ds, p, group, node)

    def _merge(self, ds: DeviceSession, p, out: SpOutcome) -> bool:
        for m in p.metrics:
            name = m.name if m.name else ds.aliases.get(m.alias)
            if name is None:
                out.rejected = Rejected("sparkplug_unknown_alias", f"alias {m.alias} was not in the device's DBIRTH")
                return False
            field_name = self.metric_map.get(name)
            if field_name:
                ds.values[field_name] = metric_value(m)
        return True

    def _reading(self, ds: DeviceSession, p, group: str, node: str) -> list[Reading]:
        v = ds.values
        ts = (p.timestamp / 1000.0) if p.HasField("timestamp") else time.time()
        r = Reading(
            ds.element,
            ts,
            _num(v.get("voltage_v")),
            _num(v.get("current_a")),
            _num(v.get("frequency_hz")),
            v.get("breaker_closed") if isinstance(v.get("breaker_closed"), bool) else None,
            p.seq if p.HasField("seq") else None,
            f"{group}/{node}",
            "sparkplug",
        )
        if self.validator is not None:
            self.validator.check_time(r.ts)
            self.validator.check_values(r.element, r.voltage_v, r.current_a, r.frequency_hz)
        return [r]


def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    return float(v)
