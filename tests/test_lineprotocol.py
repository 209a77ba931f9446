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
