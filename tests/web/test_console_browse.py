"""The read-only pages: object definitions and instances (with the viewer's ACL), Logs, storage."""

from __future__ import annotations

import re

from opencortex.acl.viewer import Viewer
from opencortex.instances.service import Instances
from opencortex.model.objects import create_object


def test_objects_and_their_instances(console):
    objects = console.admin.get("/objects").text
    assert 'href="/acme/console/objects/c_patient"' in objects and "c_sites" in objects
    page = console.admin.get("/objects/c_patient").text
    assert page.count("<details><summary><code>") == 12  # 12 patients, one page
    assert console.patient_ids[-1] in page  # newest first
    assert "<code>c_name.c_first</code>" in page  # the definition's properties, nested ones too


def test_instances_page_by_skip_and_filter_with_where(console, monkeypatch):
    from opencortex.web.routes import browse

    monkeypatch.setattr(browse, "PAGE_SIZE", 5)
    first = console.admin.get("/objects/c_patient").text
    assert first.count("<details><summary><code>") == 5 and 'href="?skip=5">Next' in first
    second = console.admin.get("/objects/c_patient?skip=10").text
    assert second.count("<details><summary><code>") == 2 and "Previous" in second and "Next" not in second
    assert set(re.findall(r"<summary><code>(\w+)</code>", first)).isdisjoint(
        re.findall(r"<summary><code>(\w+)</code>", second))
    wanted = console.admin.get('/objects/c_patient?where={"c_number": "S-0000003"}').text
    assert wanted.count("<details><summary><code>") == 1 and console.patient_ids[2] in wanted
    bad = console.admin.get('/objects/c_patient?where={"c_visits.c_kind": "x"}')
    assert bad.status_code == 400 and 'data-error-for="where" role="alert">' in bad.text
    assert "<details><summary><code>" not in bad.text


def test_instances_are_read_with_the_administrators_own_access(console):
    runtime, org_id = console.platform.runtime, console.platform.org["id"]
    owner_only = {"name": "c_private", "label": "Private", "defaultAcl": [{"type": 4, "allow": 7}],
                  "createAcl": [{"type": 3, "target": "000000000000000000000005"}],
                  "properties": [{"name": "c_secret", "label": "Secret", "type": "String"}]}
    with runtime.database.begin() as connection:
        definition = create_object(connection, org_id, owner_only)
        provider = Viewer(org_id, console.platform.provider["id"], frozenset(console.platform.provider["roles"]))
        Instances(connection, runtime.database.dialect, org_id, definition, provider).create(
            {"c_secret": "the provider's own"})
    page = console.admin.get("/objects/c_private").text
    assert "the provider&#39;s own" not in page and "the provider's own" not in page
    assert "No instance that you can read." in page


def test_logs_list_and_filter(console):
    response = console.admin.post("/exports/new", {"label": "Scripted", "objects": "c_patients",
                                                    "afterScript": "import logger from 'logger'; logger.warn('hm')"})
    export_id = response.headers["location"].rsplit("/", 1)[1]
    console.run_exports()
    page = console.admin.get("/logs").text
    assert "afterScript ran." in page and "hm" in page
    assert f'href="/acme/console/exports/{export_id}"' in page
    warnings = console.admin.get('/logs?where={"lvl": 1}').text
    assert "hm" in warnings and "afterScript ran." not in warnings
    bad = console.admin.get('/logs?where={"dat": 1}')
    assert bad.status_code == 400 and 'data-error-for="where" role="alert">' in bad.text


def test_storage_use_against_the_quota(console):
    before = console.admin.get("/storage").text
    assert "0 bytes</strong> used of 10.0 GiB" in before
    console.admin.post("/exports/new", {"label": "Stored", "objects": "c_patients"})
    console.run_exports()
    after = console.admin.get("/storage").text
    used = re.search(r'<meter id="storage-meter" min="0" max="(\d+)" value="(\d+)"', after)
    assert used is not None and int(used.group(1)) == 10 * 1024 ** 3 and int(used.group(2)) > 0
    assert "<td>export</td>" in after
