"""The demo's portraits: uploaded through the upload code, readable through the API."""

from __future__ import annotations

from opencortex.attachments.demo_images import attach_demo_images
from tests.attachments.test_demo_images import decode_png


def test_attach_demo_images(world):
    ids = [world.patient_id, world.new_patient(), world.new_patient()]
    filled = attach_demo_images(world.runtime, world.platform.code, instance_ids=ids, size=48)
    assert sorted(filled) == sorted(ids)
    for instance_id in ids:
        facet = world.admin.get(
            f"c_patients/{instance_id}/c_photo/content", headers={"Accept": "application/json"}
        )
        assert facet.json()["state"] == 2 and facet.json()["mime"] == "image/png"
        image = world.admin.get(f"c_patients/{instance_id}/c_photo/content", headers={"Accept": "image/*"})
        assert image.headers["content-type"] == "image/png"
        assert decode_png(image.content)[:2] == (48, 48)
    assert world.usage()["files"] == 3
    # Running it again changes nothing.
    assert attach_demo_images(world.runtime, world.platform.org, instance_ids=ids) == []
    assert (
        attach_demo_images(
            world.runtime, world.platform.org, count=2, principal=world.platform.admin["email"], replace=True
        )
        != []
    )
    assert world.usage()["files"] == 3
