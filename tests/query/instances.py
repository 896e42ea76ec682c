"""Test data for the query layer: one schema, and instances written straight into ``documents``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from opencortex.query import compile_sort, compile_where, install_sqlite_functions
from opencortex.query.ast import Node
from opencortex.query.schema import QueryableProperty, QuerySchema
from opencortex.store.database import Database
from opencortex.store.tables import documents, orgs

ORG_ID = "5f0000000000000000000001"
OTHER_ORG_ID = "5f0000000000000000000002"
OBJECT = "c_thing"
SYSTEM_KEYS = ("_id", "type", "owner", "creator", "updater", "created", "updated")


def thing_schema(allowed_restricted: Iterable[str] = ("*",)) -> QuerySchema:
    """Every kind of property the query layer handles, as the model layer describes them.

    Like the model, paths below the document array ``c_docs`` are marked as arrays too. The
    restricted operators ($ne, $nin, $type) are allowed unless ``allowed_restricted`` says
    otherwise (an org's default allows none).
    """
    schema = QuerySchema.with_system_properties(OBJECT)
    for prop in (
        QueryableProperty("c_str", "String", indexed=True),
        QueryableProperty("c_num", "Number", indexed=True),
        QueryableProperty("c_bool", "Boolean", indexed=True),
        QueryableProperty("c_date", "Date", indexed=True),
        QueryableProperty("c_oid", "ObjectId", indexed=True),
        QueryableProperty("c_ref", "Reference", indexed=True),
        QueryableProperty("c_tags", "String", array=True, indexed=True),
        QueryableProperty("c_nums", "Number", array=True, indexed=True),
        QueryableProperty("c_name", "Document"),
        QueryableProperty("c_name.c_first", "String", indexed=True),
        QueryableProperty("c_name.c_age", "Number", indexed=True),
        QueryableProperty("c_docs", "Document", array=True, indexed=True),
        QueryableProperty("c_docs.c_label", "String", array=True, indexed=True),
        QueryableProperty("c_docs.c_score", "Number", array=True, indexed=True),
        QueryableProperty("c_docs.c_tags", "String", array=True, indexed=True),
        QueryableProperty("c_loc", "Geometry", indexed=True),
        QueryableProperty("c_mixed", "String", indexed=True),
        QueryableProperty("c_any", "Any", indexed=True),
        QueryableProperty("c_plain", "String"),
        QueryableProperty("c_secret", "String", indexed=True, readable=False),
        QueryableProperty("c_hidden", "Document", readable=False),
        QueryableProperty("c_hidden.c_inner", "String", indexed=True),
    ):
        schema.add(prop)
    return schema.allowing(allowed_restricted)


def object_id(number: int) -> str:
    return f"{number:024x}"


def prepare(database: Database) -> None:
    """Register the SQLite functions and create the org every instance belongs to."""
    install_sqlite_functions(database.engine)
    with database.begin() as connection:
        for org_id, code in ((ORG_ID, "acme"), (OTHER_ORG_ID, "other")):
            connection.execute(
                sa.insert(orgs).values(
                    id=org_id,
                    code=code,
                    name=code,
                    state="enabled",
                    settings={},
                    created=datetime.now(UTC),
                )
            )


def insert(database: Database, instances: Sequence[dict[str, Any]], *, org_id: str = ORG_ID) -> None:
    """Write instances (body keys plus system keys, see ``SYSTEM_KEYS``) as rows."""
    rows = []
    for instance in instances:
        body = {key: value for key, value in instance.items() if key not in SYSTEM_KEYS}
        rows.append(
            {
                "org_id": org_id,
                "object": OBJECT,
                "id": instance["_id"],
                "type": instance.get("type"),
                "owner": instance.get("owner"),
                "creator": instance.get("creator"),
                "updater": instance.get("updater"),
                "created": instance.get("created") or datetime(2024, 1, 1, tzinfo=UTC),
                "updated": instance.get("updated"),
                "sequence": 0,
                "acl": [],
                "body": body,
            }
        )
    if rows:
        with database.begin() as connection:
            connection.execute(sa.insert(documents), rows)


def delete_all(database: Database) -> None:
    with database.begin() as connection:
        connection.execute(sa.delete(documents))


def select_ids(
    database: Database,
    node: Node | None,
    sort: Sequence[tuple[QueryableProperty, int]] = (),
    *,
    org_id: str = ORG_ID,
) -> list[str]:
    """The ``_id``s the database finds for ``node``, in ``sort`` order (``_id`` order by default)."""
    statement = (
        sa.select(documents.c.id)
        .where(
            documents.c.org_id == org_id, documents.c.object == OBJECT, compile_where(node, database.dialect)
        )
        .order_by(*compile_sort(list(sort), database.dialect))
    )
    with database.connect() as connection:
        return list(connection.execute(statement).scalars())
