from __future__ import annotations

from dataclasses import dataclass

import pytest

from opencortex.acl.viewer import Viewer
from opencortex.demo.study import PATIENTS, SITES, patient_bodies, site_bodies
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object, update_object
from tests.support.platform import CortexClient, OrgFixture


@dataclass
class Study:
    platform: OrgFixture
    client: CortexClient  # logged in as the org's administrator
    site_ids: list[str]
    patient_ids: list[str]  # in creation order


def load_study(platform: OrgFixture, patients: int) -> tuple[list[str], list[str]]:
    runtime = platform.runtime
    org_id = platform.org["id"]
    with runtime.database.begin() as connection:
        create_object(connection, org_id, {**SITES, "properties": [p for p in SITES["properties"]
                                                                   if p["type"] != "List"]})
        patients_definition = create_object(connection, org_id, PATIENTS)
        sites_definition = update_object(connection, org_id, "c_site", {"properties": SITES["properties"]})
        admin = Viewer(org_id, platform.admin["id"], frozenset(platform.admin["roles"]))
        sites = Instances(connection, runtime.database.dialect, org_id, sites_definition, admin)
        site_ids = [sites.create(body)["_id"] for body in site_bodies()]
        people = Instances(connection, runtime.database.dialect, org_id, patients_definition, admin)
        patient_ids = [people.create(body)["_id"] for body in patient_bodies(patients, site_ids)]
    return site_ids, patient_ids


@pytest.fixture
def study(platform, http) -> Study:
    site_ids, patient_ids = load_study(platform, 30)
    client = CortexClient(http, platform.code, platform.session_app.key)
    client.login(platform.admin["email"])
    return Study(platform, client, site_ids, patient_ids)
