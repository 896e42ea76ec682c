"""Signed links in Python: made and verified without HTTP (``attachments.signed_urls``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from opencortex.attachments.signed_urls import signed_url, verify
from opencortex.faults import Fault
from opencortex.keys import MasterKey


def test_verify_in_python():
    key = MasterKey(bytes(range(32)))
    org = {"id": "6b0b206b660cb1d895e35acc", "code": "acme"}
    principal = "6b0b206b660cb1d895e35acd"
    url = signed_url(
        key,
        base_url="https://example.test/",
        org=org,
        path="/exports/x/dataFile/content",
        principal=principal,
        lifetime_seconds=60,
        now=1_000_000,
    )
    assert url.startswith("https://example.test/acme/v2/exports/x/dataFile/content?expires=1000060&")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    link = verify(key, org["id"], "/exports/x/dataFile/content", query, now=1_000_059)
    assert link.principal == principal and link.expires == 1_000_060
    with pytest.raises(Fault) as expired:
        verify(key, org["id"], "/exports/x/dataFile/content", query, now=1_000_060)
    assert expired.value.err_code == "cortex.expired.signedUrl"
    with pytest.raises(Fault) as other_key:
        verify(MasterKey(bytes(32)), org["id"], "/exports/x/dataFile/content", query, now=1_000_000)
    assert other_key.value.err_code == "cortex.accessDenied.signedUrl"
