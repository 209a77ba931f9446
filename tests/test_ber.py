"""The hand-written BER codec against pysnmp's decoder (the reference), and fuzzed."""

import random

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from simulator.devices import device_macs, hotspot_template
from simulator.snmp_agent import Device, Security
from simulator.state import DeviceState
from snmpwire import ber

V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def _device(vendor="mikrotik"):
    st = DeviceState("AP-9999", 99, "AP-9999", "Testkelurahan", device_macs(99))
    return Device("AP-9999", "127.0.0.1", 0, hotspot_template(vendor, "x"), st, Security(community=b"public"))


def _pysnmp_decode(data: bytes):
    msg, rest = decoder.decode(data, asn1Spec=V2.Message())
    assert not rest
    pdu = V2.apiMessage.get_pdu(msg)
    return msg, pdu, [(tuple(o), v) for o, v in V2.apiPDU.get_varbinds(pdu)]


@pytest.mark.parametrize("vendor", ["mikrotik", "ubiquiti", "cisco", "ruckus"])
def test_walk_of_every_vendor_decodes_identically_with_pysnmp(vendor):
    dev = _device(vendor)
    oid, seen = (1, 3, 6), 0
    while True:
        req = ber.encode_get_request_v2c("public", 7, [oid], tag=ber.GETBULK, max_repetitions=25)
        resp = dev.handle(req)
        ours = ber.decode_message(resp)
        _, pdu, theirs = _pysnmp_decode(resp)
        assert int(V2.apiPDU.get_request_id(pdu)) == 7
        assert [vb.oid for vb in ours.pdu.varbinds] == [o for o, _ in theirs]
        for vb, (_, v) in zip(ours.pdu.varbinds, theirs):
            if vb.tag == ber.END_OF_MIB_VIEW:
                continue
            val = vb.value()
            ref = v.asOctets() if isinstance(val, bytes) else (tuple(v) if isinstance(val, tuple) else int(v))
            assert val == ref
        last = ours.pdu.varbinds[-1]
        if last.tag == ber.END_OF_MIB_VIEW:
            break
        oid = last.oid
        seen += len(ours.pdu.varbinds)
        assert seen < 1000
    assert seen > 60


def test_request_built_by_pysnmp_is_answered():
    pdu = V2.GetRequestPDU()
    V2.apiPDU.set_defaults(pdu)
    V2.apiPDU.set_request_id(pdu, 4242)
    V2.apiPDU.set_varbinds(
        pdu,
        [
            ((1, 3, 6, 1, 2, 1, 1, 5, 0), V2.Null("")),
            ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), V2.Null("")),
            ((1, 3, 6, 1, 2, 1, 1, 5, 1), V2.Null("")),
        ],
    )
    msg = V2.Message()
    V2.apiMessage.set_defaults(msg)
    V2.apiMessage.set_community(msg, "public")
    V2.apiMessage.set_pdu(msg, pdu)
    resp = _device().handle(encoder.encode(msg))
    _, rpdu, vbs = _pysnmp_decode(resp)
    assert int(V2.apiPDU.get_request_id(rpdu)) == 4242
    assert bytes(vbs[0][1]) == b"AP-9999"
    assert int(vbs[1][1]) >= 0
    assert vbs[2][1].__class__.__name__ == "NoSuchInstance"


def test_counter32_is_counter64_modulo_2_32():
    dev = _device()
    req = ber.encode_get_request_v2c(
        "public", 1, [(1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1), (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1)]
    )
    dev.state.acc[0][0] = 2**32 * 3 + 12345.0
    dev.state.last = dev.state.clock() + 3600  # freeze accumulation for this read
    vbs = ber.decode_message(dev.handle(req)).pdu.varbinds
    assert vbs[0].value() == 12345 and vbs[1].value() == 2**32 * 3 + 12345


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, -1, -128, -129, 2**31 - 1, -(2**31)])
def test_integer_encoding_matches_pyasn1(value):
    from pyasn1.type.univ import Integer

    ours = ber.enc_int(value)
    decoded, rest = decoder.decode(ours, asn1Spec=Integer())
    assert int(decoded) == value and not rest
    assert len(ours) <= len(encoder.encode(Integer(value)))  # minimal (pyasn1 pads -128 to ff 80)
    assert ber.decode_value(ber.INTEGER, ours[2:]) == value


@pytest.mark.parametrize(
    "oid", [(1, 3, 6, 1), (1, 3, 6, 1, 4, 1, 41112, 1, 6, 1, 2, 1, 8, 1), (2, 999, 3), (0, 39, 2**32 - 1)]
)
def test_oid_encoding_matches_pyasn1(oid):
    from pyasn1.type.univ import ObjectIdentifier

    enc = ber.enc_oid(oid)
    assert enc == encoder.encode(ObjectIdentifier(oid))
    assert ber.dec_oid(enc[2:]) == oid


def test_fuzzed_requests_never_crash_the_agent():
    dev = _device()
    rnd = random.Random(1234)
    seeds = [
        ber.encode_get_request_v2c("public", 1, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]),
        ber.encode_get_request_v2c("public", 2, [(1, 3, 6, 1, 2, 1, 2)], tag=ber.GETBULK, max_repetitions=50),
    ]
    answered = 0
    for _ in range(20000):
        data = bytearray(rnd.choice(seeds))
        op = rnd.random()
        if op < 0.4:
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
        elif op < 0.7:
            data = data[: rnd.randrange(len(data))]
        elif op < 0.85:
            data += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 20)))
        else:
            data = bytearray(rnd.randbytes(rnd.randint(0, 60)))
        out = dev.handle(bytes(data))  # must never raise
        if out is not None:
            answered += 1
            ber.decode_message(out)  # what we answer is always well-formed
    assert dev.stats["bad"] > 10000
    assert answered > 0


def test_decoder_rejects_malformed_input_clearly():
    good = ber.encode_get_request_v2c("public", 1, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
    for bad in (
        good[:-3],
        good + b"\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"\x30\x80\x00\x00",
        b"",
        good.replace(b"\x02\x01\x01", b"\x02\x01\x00", 1),
    ):
        with pytest.raises(ber.BERError):
            ber.decode_message(bad)


def _reference_pdu(buf: bytes, pos: int, end: int):
    """decode_pdu without its short-form fast path: every TLV through read_tlv/expect."""
    tag, s, e = ber.read_tlv(buf, pos, end)
    if tag not in ber.PDU_TAGS:
        raise ber.BERError("unknown PDU type")
    s1, e1 = ber.expect(buf, s, e, ber.INTEGER, "request-id")
    s2, e2 = ber.expect(buf, e1, e, ber.INTEGER, "error-status")
    s3, e3 = ber.expect(buf, e2, e, ber.INTEGER, "error-index")
    vs, ve = ber.expect(buf, e3, e, ber.SEQUENCE, "varbind list")
    out, p = [], vs
    while p < ve:
        bs, be = ber.expect(buf, p, ve, ber.SEQUENCE, "varbind")
        os_, oe = ber.expect(buf, bs, be, ber.OID, "varbind name")
        vt, vvs, vve = ber.read_tlv(buf, oe, be)
        if vve != be:
            raise ber.BERError("trailing bytes in varbind")
        out.append((bytes(buf[os_:oe]), vt, bytes(buf[vvs:vve])))
        p = be
    return (tag, ber.dec_int(buf, s1, e1), ber.dec_int(buf, s2, e2), ber.dec_int(buf, s3, e3), out)


def test_varbind_fast_path_decodes_exactly_like_the_general_path():
    """decode_pdu reads short-form varbinds inline; on real walk answers and 20,000 mutations of
    them it must give the same varbinds, or fail, exactly where the TLV-by-TLV reading does."""
    dev = _device("ubiquiti")
    answers = [
        dev.handle(ber.encode_get_request_v2c("public", 9, [oid], tag=ber.GETBULK, max_repetitions=r))
        for oid, r in (((1, 3, 6, 1, 2, 1, 2), 40), ((1, 3, 6, 1, 2, 1, 1), 8), ((1, 3, 6), 120))
    ]
    pdus = []
    for a in answers:  # the PDU inside each message: after version and community
        s, e = ber.expect(a, 0, len(a), ber.SEQUENCE, "message")
        _, ve = ber.expect(a, s, e, ber.INTEGER, "version")
        _, ce = ber.expect(a, ve, e, ber.OCTET_STRING, "community")
        pdus.append(a[ce:e])
    assert any(len(p) > 300 for p in pdus)
    rnd = random.Random(77)
    same = failed = 0
    for n in range(20000):
        data = bytearray(rnd.choice(pdus))
        if n % 4:  # three in four mutated: a byte changed, cut short, or bytes appended
            op = rnd.random()
            if op < 0.6:
                for _ in range(rnd.randint(1, 3)):
                    data[rnd.randrange(len(data))] = rnd.randrange(256)
            elif op < 0.85:
                data = data[: rnd.randrange(len(data))]
            else:
                data += rnd.randbytes(rnd.randint(1, 8))
        buf = bytes(data)
        try:
            ref = _reference_pdu(buf, 0, len(buf))
        except ber.BERError:
            ref = None
        try:
            got = ber.decode_pdu(buf, 0, len(buf), decode_oids=False)
            ours = (
                got.tag,
                got.request_id,
                got.error_status,
                got.error_index,
                [(v.oid_raw, v.tag, v.value_raw) for v in got.varbinds],
            )
        except ber.BERError:
            ours = None
        assert ours == ref, buf.hex()
        same += ref is not None
        failed += ref is None
    assert same > 5000 and failed > 5000
