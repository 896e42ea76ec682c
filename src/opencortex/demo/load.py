"""Loading the study model into an org, once."""

from __future__ import annotations

from typing import Any

from opencortex.acl.viewer import Viewer
from opencortex.demo.study import PATIENTS, SITES, patient_bodies, site_bodies
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object, find_object, update_object
from opencortex.runtime import Runtime

DEMO_PATIENTS = 3000


def ensure_study(runtime: Runtime, org_id: str, admin: dict[str, Any], patients: int = DEMO_PATIENTS) -> bool:
    """Create the sites and patients objects with generated instances; False if already there."""
    database = runtime.database
    with database.begin() as connection:
        if find_object(connection, org_id, PATIENTS["name"]) is not None:
            return False
        # Sites and patients point at each other: create sites without their list of patients,
        # then patients, then add the list.
        base_sites = {**SITES, "properties": [p for p in SITES["properties"] if p["type"] != "List"]}
        create_object(connection, org_id, base_sites)
        patients_definition = create_object(connection, org_id, PATIENTS)
        sites_definition = update_object(connection, org_id, SITES["name"], {"properties": SITES["properties"]})
        viewer = Viewer(org_id, admin["id"], frozenset(admin["roles"]))
        sites = Instances(connection, database.dialect, org_id, sites_definition, viewer)
        site_ids = [sites.create(body)["_id"] for body in site_bodies()]
        people = Instances(connection, database.dialect, org_id, patients_definition, viewer)
        for body in patient_bodies(patients, site_ids):
            people.create(body)
    return True
