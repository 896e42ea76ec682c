"""List properties: a virtual list of another object's instances, read at ``/{plural}/{id}/{list}``.

The instances are chosen by the property's ``linkedProperty`` (a Reference on the source object
pointing back here) or its ``where`` template over ``{{input._id}}``; the caller's own
``where``/``sort``/paging apply on top, and the source object's ACL decides what is visible.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from opencortex import faults
from opencortex.instances.service import Instances, ListQuery
from opencortex.model.objects import find_object
from opencortex.query.parse import where_document


def read_list(owner: Instances, instance_id: str, prop: Any, query: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    owner.get_row(instance_id)  # the list is only as visible as the instance holding it
    source = find_object(owner.connection, owner.org_id, prop.option("sourceObject"))
    if source is None:
        raise faults.source_object_not_found(path=prop.name)
    listed = Instances(owner.connection, owner.dialect, owner.org_id, source, owner.viewer)
    condition = list_condition(prop, instance_id)
    given = where_document(query.where)  # decoded and checked as a plain list's (not a 500)
    combined = {"$and": [condition, given]} if given else condition
    return listed.list_page(replace(query, where=combined))


def list_condition(prop: Any, instance_id: str) -> dict[str, Any]:
    linked = prop.option("linkedProperty")
    if linked:
        return {linked: instance_id}
    template = prop.option("where")
    if not template:
        raise faults.invalid_argument("This list has neither linkedProperty nor where.", path=prop.name)
    text = template if isinstance(template, str) else orjson.dumps(template).decode()
    # The id is 24 hex digits, so substituting it cannot break out of a JSON string.
    condition = orjson.loads(text.replace("{{input._id}}", instance_id))
    if not isinstance(condition, dict):
        raise faults.invalid_argument("A list's where template must be a JSON object.", path=prop.name)
    return condition
