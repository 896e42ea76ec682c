"""The console's where boxes follow the org's restricted operators, as the API does."""

from __future__ import annotations

from opencortex.model.orgs import set_allowed_restricted_operators


def test_instances_and_logs_where_refuse_restricted_operators_until_the_org_allows_them(console):
    ne = '/objects/c_patient?where={"c_gender": {"$ne": "zz"}}'
    refused = console.admin.get(ne)
    assert refused.status_code == 400 and 'data-error-for="where" role="alert">' in refused.text
    assert "Invalid operator $ne." in refused.text and "<details><summary><code>" not in refused.text
    logs_type = '/logs?where={"lvl": {"$type": "int"}}'
    refused_logs = console.admin.get(logs_type)
    assert refused_logs.status_code == 400 and "Invalid operator $type." in refused_logs.text

    with console.platform.runtime.database.begin() as connection:
        set_allowed_restricted_operators(connection, console.platform.code, ["*"])
    allowed = console.admin.get(ne)
    assert allowed.status_code == 200 and allowed.text.count("<details><summary><code>") == 12
    assert console.admin.get(logs_type).status_code == 200
