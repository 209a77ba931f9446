import math

import pytest

from store.lineprotocol import Point, encode_line


def test_escaping_rules():
    line = encode_line(
        "hot spot,x",
        {"kelurahan": "Srondol Wetan", "a=b": "c,d", "empty": ""},
        {"say": 'he said "hi" \\o/', "n": 5, "f": 1.5, "ok": True},
        1700000000000000000,
    )
    assert line == (
        "hot\\ spot\\,x,a\\=b=c\\,d,kelurahan=Srondol\\ Wetan "
        'say="he said \\"hi\\" \\\\o/",n=5i,f=1.5,ok=true 1700000000000000000'
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(bad):
    with pytest.raises(ValueError):
        encode_line("m", {}, {"v": bad})


def test_no_fields_newlines_and_overflow_are_refused():
    with pytest.raises(ValueError):
        encode_line("m", {"a": "b"}, {})
    with pytest.raises(ValueError):
        encode_line("m", {"a": "b\nc"}, {"v": 1})
    with pytest.raises(ValueError):
        encode_line("m", {}, {"v": 2**64})


def test_integers_never_get_u_suffix():
    assert Point("m", {}, {"c": 2**63 - 1}).to_line() == f"m c={2**63 - 1}i"


def _reference_line(measurement, tags, fields, time_ns=None):
    """The rules written out plainly (no caches, no fast paths): what every line must equal."""
    from store.lineprotocol import encode_field_value, escape_key, escape_measurement

    if not fields:
        raise ValueError("no fields")
    head = escape_measurement(measurement) + "".join(
        f",{escape_key(k)}={escape_key(str(tags[k]))}" for k in sorted(tags) if tags[k] not in (None, "")
    )
    line = head + " " + ",".join(f"{escape_key(k)}={encode_field_value(v)}" for k, v in fields.items())
    return line if time_ns is None else f"{line} {int(time_ns)}"


def test_the_cached_encoder_writes_what_the_plain_rules_write():
    """The encoder caches escaped names and takes a fast path for plain ints and floats: on random
    points (escapes, bools, int bounds, subclasses of int and float, non-finite floats, strings with
    quotes) it gives the same line or refuses with the same error as the plain rules, twice over
    (the second time from the caches)."""
    import random

    class Level(int):
        pass

    class Reading(float):
        pass

    rnd = random.Random(7)
    names = ["m", "hot spot", "a,b", "x=y", "radio"]
    values = [0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, True, False, 1.5, -0.0, 1e300, math.nan, math.inf]
    values += ['say "hi" \\o/', "", Level(3), Reading(2.5), Reading(math.inf)]
    for _ in range(2):
        rnd.seed(7)
        for _ in range(3000):
            m = rnd.choice(names)
            tags = {rnd.choice(names): rnd.choice(["v", "a b", "", "c,d", "e=f"]) for _ in range(rnd.randint(0, 3))}
            fields = {rnd.choice(names): rnd.choice(values) for _ in range(rnd.randint(0, 4))}
            ts = rnd.choice([None, 1700000000000000000])
            try:
                want = _reference_line(m, tags, fields, ts)
            except (ValueError, TypeError) as exc:
                with pytest.raises(type(exc)):
                    encode_line(m, tags, fields, ts)
                continue
            assert encode_line(m, tags, fields, ts) == want
