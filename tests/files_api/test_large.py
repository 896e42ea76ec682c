"""A 200 MiB upload and download over real HTTP keep the memory of client and server flat.

The server runs under uvicorn in a thread of the test process, so the peak RSS measured here is
both sides' together: the upload streams from a generator (chunked, no Content-Length), the
download streams to a hash. One database is enough: the bytes never touch it.
"""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from tests.files.conftest import PseudoRandomStream
from tests.files.test_large import MAX_GROWTH, measure_peak_growth

from .conftest import MIB

LARGE = 200 * MIB


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_200_mib_round_trip_over_http_keeps_memory_flat(world, live):
    world.runtime.settings = world.runtime.settings.with_changes(max_upload_bytes=256 * MIB)
    token = world.platform.token_for(world.platform.admin)
    headers = {"Authorization": f"Bearer {token}", "Medable-Client-Key": world.platform.session_app.key}
    url = f"{live.url}/{world.platform.code}/v2/{world.base}/c_photo"
    source = PseudoRandomStream(LARGE, seed=2025)
    peak_growth = measure_peak_growth()

    started = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        uploaded = client.put(
            url,
            params={"filename": "large.bin"},
            content=iter(source),
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 200, uploaded.text
        written = time.perf_counter()
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with client.stream("GET", f"{url}/content", headers={**headers, "Accept": "*/*"}) as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(LARGE)
            for chunk in response.iter_bytes():
                md5.update(chunk)
                size += len(chunk)
    read = time.perf_counter()

    growth = peak_growth()
    print(
        f"\n200 MiB over HTTP: upload {LARGE / MIB / (written - started):.0f} MiB/s, "
        f"download {LARGE / MIB / (read - written):.0f} MiB/s, peak RSS growth {growth / MIB:.1f} MiB"
    )
    facet = uploaded.json()
    assert facet["size"] == size == LARGE
    assert facet["ETag"] == md5.hexdigest() == source.md5.hexdigest()
    assert facet["sha256"] == source.sha256.hexdigest()
    assert world.usage()["used"] == LARGE
    assert growth < MAX_GROWTH, f"peak RSS grew by {growth / MIB:.1f} MiB"
