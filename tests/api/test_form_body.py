"""Form-encoded bodies, as jQuery's ``$.param`` encodes an object, parsed back to that object."""

from __future__ import annotations

import pytest

from opencortex import faults
from opencortex.api.form_body import parse_form


def test_jquery_encoding_round_trips():
    # $.param({label: "My Export", paths: ["a", "b"], csv: {bom: true}, rows: [{x: 1}, {x: 2}], empty: ""})
    raw = (b"label=My+Export&paths%5B%5D=a&paths%5B%5D=b&csv%5Bbom%5D=true"
           b"&rows%5B0%5D%5Bx%5D=1&rows%5B1%5D%5Bx%5D=2&empty=&note=caf%C3%A9")
    assert parse_form(raw) == {"label": "My Export", "paths": ["a", "b"], "csv": {"bom": "true"},
                               "rows": [{"x": "1"}, {"x": "2"}], "empty": "", "note": "café"}
    assert parse_form(b"") == {}
    assert parse_form(b"a%5B%5D%5Bb%5D=1&a%5B%5D%5Bb%5D=2") == {"a": [{"b": "1"}, {"b": "2"}]}
    assert parse_form(b"sparse%5B0%5D=a&sparse%5B2%5D=c") == {"sparse": {"0": "a", "2": "c"}}  # not 0..n-1


@pytest.mark.parametrize(("raw", "path"), [
    (b"label=a&label=b", "label"),
    (b"paths=a&paths%5B%5D=b", "paths[]"),
    (b"csv%5Bbom%5D=1&csv=2", "csv"),
    (b"a%5Bb=1", "a[b"),
    (b"%5Bx%5D=1", "[x]"),
    (b"a%5B%5D%5B%5D=1", "a[][]"),
    (b"a" + b"%5Bx%5D" * 9 + b"=1", "a" + "[x]" * 9),
    (b"bad=%ff", "body"),
])
def test_what_is_not_that_encoding_is_a_fault(raw, path):
    with pytest.raises(faults.Fault) as caught:
        parse_form(raw)
    assert caught.value.err_code == "cortex.invalidArgument.unspecified" and caught.value.path == path


def test_too_many_fields():
    with pytest.raises(faults.Fault) as caught:
        parse_form(b"&".join(b"f%d=1" % index for index in range(1001)))
    assert caught.value.path == "body"
