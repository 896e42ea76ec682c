"""``Instances.check_property_write`` and ``Instances.write_body``: the write-access check of a
property path and the sequence-guarded body write that uploads (``attachments``) go through."""

from __future__ import annotations

from typing import Any

import pytest

from opencortex.acl.viewer import Viewer, as_principal
from opencortex.faults import Fault
from opencortex.ids import ROLE_ADMINISTRATOR, ROLE_PROVIDER
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object
from tests.support.platform import OrgFixture

CASES = {
    "name": "c_case",
    "label": "Case",
    "defaultAcl": [
        {"type": 3, "target": ROLE_ADMINISTRATOR, "allow": 7},
        {"type": 3, "target": ROLE_PROVIDER, "allow": 6},  # Update
    ],
    "createAcl": [{"type": 3, "target": ROLE_ADMINISTRATOR}],
    "properties": [
        {"name": "c_name", "label": "Name", "type": "String"},
        {"name": "c_photo", "label": "Photo", "type": "File"},
        {"name": "c_secret", "label": "Secret", "type": "File", "writeAccess": 7},
        {
            "name": "c_granted",
            "label": "Granted",
            "type": "File",
            "writeAccess": 7,
            "acl": [{"type": 3, "target": ROLE_PROVIDER, "allow": 7}],
        },
        {"name": "c_fixed", "label": "Fixed", "type": "File", "writable": False},
        {
            "name": "c_sealed",
            "label": "Sealed",
            "type": "Document",
            "writeAccess": 7,
            "properties": [{"name": "c_form", "label": "Form", "type": "File"}],
        },
        {
            "name": "c_open",
            "label": "Open",
            "type": "Document",
            "properties": [{"name": "c_form", "label": "Form", "type": "File"}],
        },
    ],
}


class Cases:
    """The object above with one instance (the administrator's), read and written as anyone."""

    def __init__(self, platform: OrgFixture) -> None:
        self.platform = platform
        self.database = platform.runtime.database
        self.org_id = platform.org["id"]
        with self.database.begin() as connection:
            self.definition = create_object(connection, self.org_id, CASES)
            self.instance_id = self.as_account(connection, platform.admin).create({"c_name": "Ada"})["_id"]

    def as_account(self, connection: Any, account: dict[str, Any]) -> Instances:
        return self.as_viewer(connection, as_principal(connection, self.org_id, account["id"]))

    def as_viewer(self, connection: Any, viewer: Viewer) -> Instances:
        return Instances(connection, self.database.dialect, self.org_id, self.definition, viewer)

    def refusal(self, account: dict[str, Any], path: str) -> Fault | None:
        """The fault ``check_property_write`` raises for ``account`` writing ``path``, or None."""
        with self.database.connect() as connection:
            instances = self.as_account(connection, account)
            row = instances.get_row(self.instance_id)
            try:
                prop = instances.check_property_write(row, path)
            except Fault as fault:
                return fault
            assert prop is self.definition.find_property(path)
            return None


@pytest.fixture
def cases(platform: OrgFixture) -> Cases:
    return Cases(platform)


def test_a_property_the_principal_may_write(cases: Cases) -> None:
    provider, admin = cases.platform.provider, cases.platform.admin
    for path in ("c_photo", "c_granted", "c_open.c_form"):  # c_granted: the property's own acl lifts it
        assert cases.refusal(provider, path) is None, path
    for path in ("c_photo", "c_secret", "c_granted", "c_sealed.c_form", "c_open.c_form"):
        assert cases.refusal(admin, path) is None, path


@pytest.mark.parametrize(
    "path",
    [
        "c_secret",  # the property's writeAccess is above the provider's access
        "c_sealed.c_form",  # the Document holding it is
    ],
)
def test_a_property_the_principal_cannot_write_is_refused(cases: Cases, path: str) -> None:
    fault = cases.refusal(cases.platform.provider, path)
    assert fault is not None and fault.err_code == "cortex.accessDenied.propertyUpdate"
    assert fault.status == 403 and fault.path == path


def test_the_path_check_and_an_update_refuse_the_same_writes(cases: Cases) -> None:
    """One rule: what the path check refuses, an update of the same property refuses too."""
    with cases.database.connect() as connection:
        instances = cases.as_account(connection, cases.platform.provider)
        with pytest.raises(Fault) as secret:
            instances.update(cases.instance_id, {"c_secret": "face.png"})
        with pytest.raises(Fault) as sealed:
            instances.update(cases.instance_id, {"c_sealed": {"c_form": "face.png"}})
    assert (secret.value.err_code, secret.value.path) == ("cortex.accessDenied.propertyUpdate", "c_secret")
    assert (sealed.value.err_code, sealed.value.path) == ("cortex.accessDenied.propertyUpdate", "c_sealed")


def test_a_property_that_is_not_writable_is_refused_even_with_full_access(cases: Cases) -> None:
    with cases.database.connect() as connection:
        instances = cases.as_viewer(connection, Viewer.system(cases.org_id))
        row = instances.get_row(cases.instance_id)
        with pytest.raises(Fault) as refused:
            instances.check_property_write(row, "c_fixed")
        with pytest.raises(Fault) as unknown:
            instances.check_property_write(row, "c_open.c_nothing")
    assert refused.value.err_code == "cortex.accessDenied.propertyUpdate" and refused.value.path == "c_fixed"
    assert "not writable" in str(refused.value)
    assert unknown.value.err_code == "cortex.notFound.property" and unknown.value.path == "c_open.c_nothing"


def test_an_instance_the_principal_cannot_see_is_not_found(cases: Cases) -> None:
    outsider = Viewer(cases.org_id, "6b0b206b660cb1d895e35acc")  # no role, no grant
    with cases.database.connect() as connection, pytest.raises(Fault) as hidden:
        cases.as_viewer(connection, outsider).get_row(cases.instance_id)
    assert hidden.value.err_code == "cortex.notFound.instance"


def test_write_body_stores_the_body_as_the_viewer(cases: Cases) -> None:
    provider = cases.platform.provider
    with cases.database.begin() as connection:
        instances = cases.as_account(connection, provider)
        row = instances.get_row(cases.instance_id)
        sequence = row["sequence"]
        instances.write_body(row, {**row["body"], "c_name": "Grace"})
        assert row["sequence"] == sequence + 1 and row["body"]["c_name"] == "Grace"
    with cases.database.connect() as connection:
        stored = cases.as_account(connection, cases.platform.admin).get(cases.instance_id)
    assert stored["c_name"] == "Grace" and stored["updater"] == {"_id": provider["id"], "object": "account"}


def test_the_sequence_guard_refuses_a_stale_write(cases: Cases) -> None:
    admin, provider = cases.platform.admin, cases.platform.provider
    with cases.database.connect() as connection:
        stale = cases.as_account(connection, admin).get_row(cases.instance_id)
    with cases.database.begin() as connection:  # someone else writes the instance meanwhile
        cases.as_account(connection, provider).update(cases.instance_id, {"c_name": "Grace"})
    with pytest.raises(Fault) as conflict, cases.database.begin() as connection:
        cases.as_account(connection, admin).write_body(stale, {**stale["body"], "c_name": "Lost"})
    assert conflict.value.err_code == "cortex.conflict.sequencing" and conflict.value.status == 409
    with cases.database.connect() as connection:
        instances = cases.as_account(connection, admin)
        assert instances.get(cases.instance_id)["c_name"] == "Grace"  # the stale write changed nothing
        fresh = instances.get_row(cases.instance_id)
    assert fresh["sequence"] == stale["sequence"] + 1
