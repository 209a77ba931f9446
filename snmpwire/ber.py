"""A lean BER codec for SNMP (v2c and v3 message framing, PDUs, varbinds).

Why hand-written: the simulator must answer thousands of requests per second for 2,300 agents on
one core; pysnmp's pyasn1-based path manages ~150/s (see bench/simulator_snmp.py). This codec
covers exactly the SNMP subset (RFC 3416 PDUs, RFC 3412 v3 header, RFC 3414 USM parameters),
rejects anything malformed with :class:`BERError`, and is checked against pysnmp's decoder
in tests/test_ber.py (including a fuzz test).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Universal / application tags
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IPADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
# PDU tags
GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP_V2, REPORT = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA6, 0xA7, 0xA8
PDU_TAGS = {GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP_V2, REPORT}

# error-status values
NO_ERROR, TOO_BIG, NO_SUCH_NAME, BAD_VALUE, READ_ONLY, GEN_ERR = 0, 1, 2, 3, 4, 5
NOT_WRITABLE = 17


class BERError(ValueError):
    """Malformed or unsupported BER input."""


# ---------------------------------------------------------------------------- encoding


def enc_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(b),)) + b


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + enc_len(n) + content


def int_content(v: int) -> bytes:
    return v.to_bytes(max(1, (v + (v < 0)).bit_length() // 8 + 1), "big", signed=True)


def enc_int(v: int, tag: int = INTEGER) -> bytes:
    return tlv(tag, int_content(v))


def enc_uint(v: int, tag: int) -> bytes:
    """Counter32/Gauge32/TimeTicks/Counter64: unsigned, minimal, with a leading 0 if the top bit is set."""
    if v < 0:
        raise BERError(f"negative value {v} for unsigned type 0x{tag:02x}")
    return tlv(tag, v.to_bytes(v.bit_length() // 8 + 1, "big"))


def enc_octets(v: bytes | str) -> bytes:
    if isinstance(v, str):
        v = v.encode()
    return tlv(OCTET_STRING, v)


def oid_content(oid: tuple[int, ...]) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] >= 40):
        raise BERError(f"invalid OID {oid}")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1],) + tuple(oid[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = []
        while arc:
            chunk.append(arc & 0x7F)
            arc >>= 7
        chunk.reverse()
        out += bytes(c | 0x80 for c in chunk[:-1]) + bytes((chunk[-1],))
    return bytes(out)


def enc_oid(oid: tuple[int, ...]) -> bytes:
    return tlv(OID, oid_content(oid))


def enc_ip(addr: str) -> bytes:
    return tlv(IPADDRESS, bytes(int(x) for x in addr.split(".")))


ENC_NULL = b"\x05\x00"
ENC_NO_SUCH_OBJECT = b"\x80\x00"
ENC_NO_SUCH_INSTANCE = b"\x81\x00"
ENC_END_OF_MIB = b"\x82\x00"


def enc_varbinds(varbinds: list[tuple[bytes, bytes]]) -> bytes:
    """varbinds: (encoded OID TLV, encoded value TLV)."""
    return tlv(SEQUENCE, b"".join(tlv(SEQUENCE, o + v) for o, v in varbinds))


def enc_pdu(
    tag: int, request_id: int, error_status: int, error_index: int, varbinds: list[tuple[bytes, bytes]]
) -> bytes:
    return tlv(tag, enc_int(request_id) + enc_int(error_status) + enc_int(error_index) + enc_varbinds(varbinds))


def enc_message_v2c(community: bytes, pdu: bytes) -> bytes:
    return tlv(SEQUENCE, b"\x02\x01\x01" + enc_octets(community) + pdu)


def encode_get_request_v2c(
    community: bytes | str,
    request_id: int,
    oids: list[tuple[int, ...]],
    tag: int = GET,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A v2c GET/GETNEXT/GETBULK request (used by readiness checks, benchmarks and tests)."""
    if isinstance(community, str):
        community = community.encode()
    es, ei = (non_repeaters, max_repetitions) if tag == GETBULK else (0, 0)
    pdu = enc_pdu(tag, request_id, es, ei, [(enc_oid(o), ENC_NULL) for o in oids])
    return enc_message_v2c(community, pdu)


# ---------------------------------------------------------------------------- decoding


def read_tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one TLV at ``pos``; return (tag, value_start, value_end). Bounds-checked."""
    if pos + 2 > end:
        raise BERError("truncated: no room for tag and length")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise BERError("multi-byte tags are not used by SNMP")
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4:
            raise BERError("unsupported length form (indefinite or > 4 bytes)")
        if pos + k > end:
            raise BERError("truncated length")
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    if pos + n > end:
        raise BERError(f"truncated: value of tag 0x{tag:02x} needs {n} bytes, {end - pos} left")
    return tag, pos, pos + n


def expect(buf: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    t, s, e = read_tlv(buf, pos, end)
    if t != tag:
        raise BERError(f"{what}: expected tag 0x{tag:02x}, found 0x{t:02x}")
    return s, e


def dec_int(buf: bytes, s: int, e: int) -> int:
    if s == e:
        raise BERError("empty INTEGER")
    if e - s > 9:
        raise BERError("INTEGER too long")
    return int.from_bytes(buf[s:e], "big", signed=True)


def dec_uint(buf: bytes, s: int, e: int) -> int:
    if s == e:
        raise BERError("empty unsigned value")
    if e - s > 9:
        raise BERError("unsigned value too long")
    return int.from_bytes(buf[s:e], "big", signed=False)


def dec_subids(raw: bytes) -> tuple[int, ...]:
    """Sub-identifiers of OID content octets, without the first-two-arcs packing (an OID's tail)."""
    arcs = []
    v = 0
    for b in raw:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    if raw and raw[-1] & 0x80:
        raise BERError("truncated OID sub-identifier")
    return tuple(arcs)


def dec_oid(raw: bytes) -> tuple[int, ...]:
    if not raw:
        raise BERError("empty OID")
    arcs = dec_subids(raw)
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return head + tuple(arcs[1:])


@dataclass(slots=True)
class VarBind:
    oid: tuple[int, ...]
    oid_raw: bytes  # the OID's content octets (hashable key for fast lookups)
    tag: int
    value_raw: bytes

    def value(self):
        return decode_value(self.tag, self.value_raw)


@dataclass(slots=True)
class Pdu:
    tag: int
    request_id: int
    error_status: int  # non-repeaters for GETBULK
    error_index: int  # max-repetitions for GETBULK
    varbinds: list[VarBind] = field(default_factory=list)


def decode_value(tag: int, raw: bytes):
    if tag == INTEGER:
        return int.from_bytes(raw, "big", signed=True)
    if tag in (COUNTER32, GAUGE32, TIMETICKS, COUNTER64):
        return int.from_bytes(raw, "big", signed=False)
    if tag == OCTET_STRING or tag == OPAQUE:
        return bytes(raw)
    if tag == OID:
        return dec_oid(raw)
    if tag == IPADDRESS:
        if len(raw) != 4:
            raise BERError("IpAddress must be 4 octets")
        return ".".join(str(b) for b in raw)
    if tag == NULL:
        return None
    if tag in (NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW):
        return {NO_SUCH_OBJECT: "noSuchObject", NO_SUCH_INSTANCE: "noSuchInstance", END_OF_MIB_VIEW: "endOfMibView"}[
            tag
        ]
    raise BERError(f"unknown value tag 0x{tag:02x}")


def decode_pdu(buf: bytes, pos: int, end: int, decode_oids: bool = True) -> Pdu:
    tag, s, e = read_tlv(buf, pos, end)
    if tag not in PDU_TAGS:
        raise BERError(f"unknown PDU type 0x{tag:02x}")
    s1, e1 = expect(buf, s, e, INTEGER, "request-id")
    s2, e2 = expect(buf, e1, e, INTEGER, "error-status")
    s3, e3 = expect(buf, e2, e, INTEGER, "error-index")
    vs, ve = expect(buf, e3, e, SEQUENCE, "varbind list")
    varbinds: list[VarBind] = []
    append = varbinds.append
    p = vs
    while p < ve:
        # Fast path: a varbind, its name and its value all with short-form lengths (every varbind
        # under 128 bytes: nearly all), checked against the same bounds; anything else (long forms,
        # truncation, a wrong tag, trailing bytes) takes the general path below, which names it.
        if p + 2 <= ve and buf[p] == SEQUENCE and buf[p + 1] < 0x80:
            bs = p + 2
            be = bs + buf[p + 1]
            if be <= ve and bs + 2 <= be and buf[bs] == OID and buf[bs + 1] < 0x80:
                os_ = bs + 2
                oe = os_ + buf[bs + 1]
                if oe + 2 <= be and buf[oe + 1] < 0x80 and buf[oe] & 0x1F != 0x1F and oe + 2 + buf[oe + 1] == be:
                    raw = bytes(buf[os_:oe])
                    append(VarBind(dec_oid(raw) if decode_oids else (), raw, buf[oe], bytes(buf[oe + 2 : be])))
                    p = be
                    continue
        bs, be = expect(buf, p, ve, SEQUENCE, "varbind")
        os_, oe = expect(buf, bs, be, OID, "varbind name")
        vt, vvs, vve = read_tlv(buf, oe, be)
        if vve != be:
            raise BERError("trailing bytes in varbind")
        raw = bytes(buf[os_:oe])
        append(VarBind(dec_oid(raw) if decode_oids else (), raw, vt, bytes(buf[vvs:vve])))
        p = be
    return Pdu(tag, dec_int(buf, s1, e1), dec_int(buf, s2, e2), dec_int(buf, s3, e3), varbinds)


@dataclass(slots=True)
class V3Header:
    msg_id: int
    max_size: int
    flags: int
    security_model: int
    engine_id: bytes
    engine_boots: int
    engine_time: int
    user: bytes
    auth_params: bytes
    priv_params: bytes
    auth_params_offset: int  # where auth params sit in the whole message (for HMAC)
    scoped_start: int  # msgData TLV start..end in the whole message
    scoped_end: int


@dataclass(slots=True)
class Message:
    version: int  # 1 = v2c, 3 = v3 (SNMP's own numbering: 0 v1, 1 v2c, 3 v3)
    community: bytes = b""
    pdu: Pdu | None = None
    v3: V3Header | None = None


def decode_message(data: bytes, decode_oids: bool = True) -> Message:
    """Decode a v2c message fully, or a v3 message's header (its scoped PDU may be encrypted)."""
    end = len(data)
    s, e = expect(data, 0, end, SEQUENCE, "message")
    if e != end:
        raise BERError("trailing bytes after message")
    vs, ve = expect(data, s, e, INTEGER, "version")
    version = dec_int(data, vs, ve)
    if version in (0, 1):
        cs, ce = expect(data, ve, e, OCTET_STRING, "community")
        if version == 0:
            raise BERError("SNMPv1 is not supported")
        return Message(1, bytes(data[cs:ce]), decode_pdu(data, ce, e, decode_oids))
    if version != 3:
        raise BERError(f"unsupported SNMP version {version}")
    hs, he = expect(data, ve, e, SEQUENCE, "msgGlobalData")
    a, b = expect(data, hs, he, INTEGER, "msgID")
    msg_id = dec_int(data, a, b)
    a, b = expect(data, b, he, INTEGER, "msgMaxSize")
    max_size = dec_int(data, a, b)
    a, b = expect(data, b, he, OCTET_STRING, "msgFlags")
    if b - a != 1:
        raise BERError("msgFlags must be one octet")
    flags = data[a]
    a, b = expect(data, b, he, INTEGER, "msgSecurityModel")
    model = dec_int(data, a, b)
    ss, se = expect(data, he, e, OCTET_STRING, "msgSecurityParameters")
    us, ue = expect(data, ss, se, SEQUENCE, "UsmSecurityParameters")
    a, b = expect(data, us, ue, OCTET_STRING, "msgAuthoritativeEngineID")
    engine_id = bytes(data[a:b])
    a, b = expect(data, b, ue, INTEGER, "msgAuthoritativeEngineBoots")
    boots = dec_int(data, a, b)
    a, b = expect(data, b, ue, INTEGER, "msgAuthoritativeEngineTime")
    etime = dec_int(data, a, b)
    a, b = expect(data, b, ue, OCTET_STRING, "msgUserName")
    user = bytes(data[a:b])
    a, b = expect(data, b, ue, OCTET_STRING, "msgAuthenticationParameters")
    auth, auth_off = bytes(data[a:b]), a
    a, b = expect(data, b, ue, OCTET_STRING, "msgPrivacyParameters")
    priv = bytes(data[a:b])
    _, ms, me = read_tlv(data, se, e)
    if me != e:
        raise BERError("trailing bytes after msgData")
    hdr = V3Header(msg_id, max_size, flags, model, engine_id, boots, etime, user, auth, priv, auth_off, se, me)
    return Message(3, v3=hdr)


def decode_scoped_pdu(buf: bytes, decode_oids: bool = True) -> tuple[bytes, bytes, Pdu]:
    """ScopedPDU ::= SEQUENCE { contextEngineID, contextName, PDU }. Trailing padding is allowed
    (block-cipher padding after decryption)."""
    s, e = expect(buf, 0, len(buf), SEQUENCE, "ScopedPDU")
    a, b = expect(buf, s, e, OCTET_STRING, "contextEngineID")
    ctx_engine = bytes(buf[a:b])
    c, d = expect(buf, b, e, OCTET_STRING, "contextName")
    return ctx_engine, bytes(buf[c:d]), decode_pdu(buf, d, e, decode_oids)
