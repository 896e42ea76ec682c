"""The object definitions of an org, stored in ``object_definitions``.

Every statement is filtered by ``org_id``: an org never sees, changes or collides with another
org's objects. Functions take a connection and leave the transaction to the caller, so a
definition and its indexes change together or not at all.

``OBJECT_LIST`` describes the table to ``where``/``sort`` (``model.table_lists``): the columns
(``_id``, ``name``, ``pluralName``, ``created``, ``updated``) and paths into the stored
definition document (``label``, ``description``, the boolean options, the names, labels and
types of ``properties`` and the names of ``objectTypes``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from opencortex import faults
from opencortex.clock import as_utc, utcnow
from opencortex.ids import is_object_id
from opencortex.model.definition_changes import DefinitionMerge
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.indexes import indexed_paths, sync_indexes
from opencortex.model.names import STANDARD_OBJECTS
from opencortex.model.problems import Problems
from opencortex.model.properties import ListProperty, ObjectIdProperty, ReferenceProperty
from opencortex.model.table_lists import TableList, TableQuery, count_rows, list_page, table_schema
from opencortex.query.compile import QueryTarget
from opencortex.query.schema import QueryableProperty
from opencortex.store.tables import documents, object_definitions

_T = object_definitions


def create_object(connection: Connection, org_id: str, body: Any) -> ObjectDefinition:
    """Validate and store a new custom object, with an index for each indexed property."""
    definition = ObjectDefinition.from_json(body)
    _check_links(connection, org_id, definition)
    _check_names_free(connection, org_id, definition)
    now = utcnow()
    definition.created = now
    row = {
        "id": definition.id,
        "org_id": org_id,
        "name": definition.name,
        "plural_name": definition.plural_name,
        "definition": _stored_json(definition),
        "created": now,
        "updated": None,
    }
    try:
        with connection.begin_nested():  # a concurrent create of the same name loses cleanly
            connection.execute(_T.insert().values(**row))
    except sa.exc.IntegrityError:
        _check_names_free(connection, org_id, definition)
        raise
    sync_indexes(connection, org_id, definition.name, {}, indexed_paths(definition))
    return definition


def find_object(
    connection: Connection, org_id: str, name_or_plural: str, *, lock: bool = False
) -> ObjectDefinition | None:
    """The org's object by name, plural name or ``_id``; None when there is none.

    ``lock`` holds the row until the transaction ends (PostgreSQL; SQLite writers are serial
    already), so two concurrent changes to one definition cannot lose each other's work."""
    key = name_or_plural.strip().lower()
    match = _T.c.id == key if is_object_id(key) else sa.or_(_T.c.name == key, _T.c.plural_name == key)
    query = sa.select(_T).where(_T.c.org_id == org_id, match)
    row = connection.execute(query.with_for_update() if lock else query).mappings().first()
    return _from_row(row) if row else None


def get_object(
    connection: Connection, org_id: str, name_or_plural: str, *, lock: bool = False
) -> ObjectDefinition:
    """Like ``find_object``, but an unknown object is the ``kInvalidObject`` fault."""
    definition = find_object(connection, org_id, name_or_plural, lock=lock)
    if definition is None:
        raise faults.object_not_found(path=name_or_plural)
    return definition


def list_objects(connection: Connection, org_id: str) -> list[ObjectDefinition]:
    rows = connection.execute(sa.select(_T).where(_T.c.org_id == org_id).order_by(_T.c.name)).mappings()
    return [_from_row(row) for row in rows]


def _definition_document(dialect: str) -> ColumnElement[Any]:
    """The stored definition (JSON; jsonb on PostgreSQL, where the column is plain json)."""
    return sa.cast(_T.c.definition, JSONB) if dialect == "postgresql" else _T.c.definition


def _listed(path: str, kind: str, column: str | None = None, array: bool = False) -> QueryableProperty:
    return QueryableProperty(path=path, type=kind, array=array, indexed=True, column=column)


OBJECT_LIST = TableList(
    noun="object",
    target=QueryTarget(_T, _definition_document),
    schema=table_schema("object", (
        _listed("_id", "ObjectId", "id"),
        _listed("name", "String", "name"),
        _listed("pluralName", "String", "plural_name"),
        _listed("created", "Date", "created"),
        _listed("updated", "Date", "updated"),
        _listed("label", "String"),
        _listed("description", "String"),
        *(_listed(option, "Boolean") for option in (
            "allowConnections", "allowTransfers", "hasETag", "isDeletable", "isUnmanaged", "isVersioned")),
        _listed("auditing.enabled", "Boolean"),
        _listed("properties", "Document", array=True),
        *(_listed(f"properties.{key}", "String", array=True) for key in ("name", "label", "type")),
        _listed("objectTypes", "Document", array=True),
        _listed("objectTypes.name", "String", array=True),
    )),
    default_sort={"name": 1},
)


def query_objects(connection: Connection, org_id: str, query: TableQuery) -> tuple[list[ObjectDefinition], bool]:
    """A page of the org's definitions with ``where``, ``sort`` and paging; by name by default."""
    rows, has_more = list_page(connection, org_id, OBJECT_LIST, query)
    return [_from_row(row) for row in rows], has_more


def count_matching_objects(connection: Connection, org_id: str, where: str | None) -> int:
    return count_rows(connection, org_id, OBJECT_LIST, where)


def update_object(connection: Connection, org_id: str, name_or_plural: str, changes: Any) -> ObjectDefinition:
    """Apply ``PUT /objects/{id}`` changes (see ``definition_changes``); indexes follow ``indexed``."""
    current = get_object(connection, org_id, name_or_plural, lock=True)
    merge = DefinitionMerge()
    merged = merge.apply(current.to_json(), changes)
    problems = merge.problems  # already at the client's paths
    definition: ObjectDefinition | None = None
    try:
        definition = ObjectDefinition.from_json(merged, id=current.id)
        _check_links(connection, org_id, definition)
    except faults.Fault as fault:
        problems.add(merge.client_fault(fault))  # paths in the merged JSON -> the client's
    problems.raise_if_any()
    assert definition is not None
    if definition.plural_name != current.plural_name:
        _check_names_free(connection, org_id, definition, exclude=current.id)
    definition.created, definition.updated = current.created, utcnow()
    connection.execute(
        _T.update()
        .where(_T.c.org_id == org_id, _T.c.id == current.id)
        .values(
            plural_name=definition.plural_name,
            definition=_stored_json(definition),
            updated=definition.updated,
        )
    )
    sync_indexes(connection, org_id, definition.name, indexed_paths(current), indexed_paths(definition))
    return definition


def delete_object(connection: Connection, org_id: str, name_or_plural: str) -> ObjectDefinition:
    """Delete an object, its instances and its indexes; returns what was deleted."""
    definition = get_object(connection, org_id, name_or_plural, lock=True)
    sync_indexes(connection, org_id, definition.name, indexed_paths(definition), {})
    connection.execute(
        documents.delete().where(documents.c.org_id == org_id, documents.c.object == definition.name)
    )
    connection.execute(_T.delete().where(_T.c.org_id == org_id, _T.c.id == definition.id))
    return definition


def _from_row(row: Any) -> ObjectDefinition:
    definition = ObjectDefinition.from_json(row["definition"], id=row["id"])
    definition.created = as_utc(row["created"])
    definition.updated = as_utc(row["updated"]) if row["updated"] is not None else None
    return definition


def _stored_json(definition: ObjectDefinition) -> dict[str, Any]:
    stored = definition.to_json()
    stored.pop("created", None)  # kept in columns, not twice
    stored.pop("updated", None)
    return stored


def _check_names_free(
    connection: Connection, org_id: str, definition: ObjectDefinition, exclude: str | None = None
) -> None:
    """A name or plural may not equal any other object's name or plural: routes accept both."""
    for value, path in ((definition.name, "name"), (definition.plural_name, "pluralName")):
        clash = sa.select(_T.c.id).where(
            _T.c.org_id == org_id, sa.or_(_T.c.name == value, _T.c.plural_name == value)
        )
        if exclude is not None:
            clash = clash.where(_T.c.id != exclude)
        if connection.execute(clash).first() is not None:
            raise faults.already_exists(f"An object named {value!r} already exists.", path=path)


def _check_links(connection: Connection, org_id: str, definition: ObjectDefinition) -> None:
    """Every ``sourceObject`` names an existing object (or this one, or a standard object), and a
    List's ``linkedProperty`` is an indexed Reference on its source pointing back here."""
    problems = Problems()
    sources: dict[str, ObjectDefinition | None] = {definition.name: definition}
    for path, prop in definition.iter_properties():
        if not isinstance(prop, ReferenceProperty | ListProperty | ObjectIdProperty):
            continue
        source_name = prop.option("sourceObject")
        if source_name is None:
            continue
        if source_name not in sources:
            sources[source_name] = find_object(connection, org_id, source_name)
        source = sources[source_name]
        if source is None and source_name not in STANDARD_OBJECTS:
            problems.add(
                faults.source_object_not_found(
                    f"There is no object {source_name!r}.", path=f"{path}.sourceObject"
                )
            )
        elif isinstance(prop, ListProperty) and prop.option("linkedProperty"):
            linked = source.properties.get(prop.option("linkedProperty")) if source else None
            if not (
                isinstance(linked, ReferenceProperty)
                and linked.indexed
                and linked.readable
                and linked.source_object == definition.name
            ):
                problems.add(
                    faults.invalid_definition(
                        f"linkedProperty must be an indexed Reference on {source_name} to {definition.name}.",
                        path=f"{path}.linkedProperty",
                    )
                )
    problems.raise_if_any()
