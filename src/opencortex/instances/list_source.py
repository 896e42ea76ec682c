"""What a List property (``GET /{plural}/{id}/{list}``) reads, for its pipeline, ``total`` and NDJSON.

The same rules as ``lists.read_list``: the list is only as visible as the instance holding it;
its instances are the source object's, seen by the same viewer, chosen by the property's own
condition, with the caller's ``where`` on top.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from opencortex import faults
from opencortex.instances.lists import list_condition
from opencortex.instances.service import Instances, ListQuery
from opencortex.model.objects import find_object
from opencortex.query.parse import where_document


def list_source(owner: Instances, instance_id: str, prop: Any, query: ListQuery
                ) -> tuple[Instances, dict[str, Any], ListQuery]:
    """The source object's ``Instances``, the list's own condition, and ``query`` narrowed by it."""
    owner.get_row(instance_id)
    source = find_object(owner.connection, owner.org_id, prop.option("sourceObject"))
    if source is None:
        raise faults.source_object_not_found(path=prop.name)
    listed = Instances(owner.connection, owner.dialect, owner.org_id, source, owner.viewer)
    condition = list_condition(prop, instance_id)
    given = where_document(query.where)
    return listed, condition, replace(query, where={"$and": [condition, given]} if given else condition)
