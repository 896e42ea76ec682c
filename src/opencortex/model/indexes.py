"""Real database indexes for ``indexed`` properties.

Each indexed property gets an expression index on its body path, partial to its org and object
(``WHERE org_id = ... AND object = ...``), so one org's indexes never serve another's rows and
an index only holds the rows it can answer for. Names are deterministic
(``ix_doc_<hash of org/object/path>``), so create and drop need no bookkeeping.
"""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import Connection

from opencortex.ids import is_object_id
from opencortex.model.definitions import ObjectDefinition, build_query_schema
from opencortex.model.properties import DocumentProperty, PropertyDefinition
from opencortex.query.indexes import index_expression
from opencortex.query.schema import QueryableProperty

# What an index is built from: whether it is unique, and the path as the query compiler sees it
# (so the index is built on exactly the expression the compiled queries use).
IndexSpec = tuple[bool, QueryableProperty | None]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def index_sql(dialect: str, path: str) -> str:
    """The SQL expression for a dotted body path, as the index is built on it.

    The query compiler must produce the very same expression for the index to be used.
    """
    parts = path.split(".")
    for part in parts:
        if not _SAFE_NAME.match(part):  # names were validated; this keeps DDL injection-proof
            raise ValueError(f"unsafe path segment {part!r}")
    if dialect == "postgresql":
        return "(body -> " + " -> ".join(f"'{part}'" for part in parts) + ")"
    return f"json_extract(body, '$.{path}')"


def index_name(org_id: str, object_name: str, path: str) -> str:
    digest = hashlib.sha1(f"{org_id}/{object_name}/{path}".encode(), usedforsecurity=False).hexdigest()
    return f"ix_doc_{digest[:20]}"


def indexed_paths(definition: ObjectDefinition) -> dict[str, IndexSpec]:
    """Every body path that gets an index, mapped to whether the index is unique.

    Paths inside document arrays get none (an expression index cannot reach into an array), and
    uniqueness is enforced only for single values: "unique" on an array means across all
    instances, which a whole-array expression index cannot express.
    """
    paths: dict[str, bool] = {}
    groups = [definition.properties.values()] + [
        t.properties.values() for t in definition.object_types.values()
    ]
    for group in groups:
        _collect(group, "", paths)
    schema = build_query_schema(definition)
    return {path: (unique, schema.get(path)) for path, unique in paths.items()}


def _collect(properties: object, prefix: str, paths: dict[str, bool]) -> None:
    for prop in properties:  # type: ignore[attr-defined]
        assert isinstance(prop, PropertyDefinition)
        path = prefix + prop.name
        if prop.indexed:
            paths[path] = paths.get(path, False) or (prop.unique and not prop.array)
        if isinstance(prop, DocumentProperty) and not prop.array:
            _collect(prop.properties.values(), path + ".", paths)


def create_index(connection: Connection, org_id: str, object_name: str, path: str, unique: bool,
                 prop: QueryableProperty | None = None) -> str:
    dialect = connection.dialect.name
    compiled = index_expression(prop, dialect) if prop is not None else None
    expression = compiled or index_sql(dialect, path)
    if prop is not None and prop.array and dialect == "postgresql" and not unique:
        # Arrays get an inverted index: the compiler matches their elements with ``@>``.
        name = index_name(org_id, object_name, path)
        where = f"org_id = {_literal(org_id, True)} AND object = {_literal(object_name, False)}"
        connection.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name} ON documents USING gin ({expression} jsonb_path_ops) WHERE {where}"
        )
        return name
    where = f"org_id = {_literal(org_id, True)} AND object = {_literal(object_name, False)}"
    if unique and dialect == "postgresql" and compiled is None:
        # jsonb null is a value to PostgreSQL; without this, two instances holding null would
        # clash. (The compiler's expressions already turn JSON null into SQL NULL, as SQLite's
        # json_extract does, and SQL NULLs never clash.)
        where += f" AND jsonb_typeof({expression}) <> 'null'"
    name = index_name(org_id, object_name, path)
    kind = "UNIQUE INDEX" if unique else "INDEX"
    connection.exec_driver_sql(
        f"CREATE {kind} IF NOT EXISTS {name} ON documents (({expression})) WHERE {where}"
    )
    return name


def drop_index(connection: Connection, org_id: str, object_name: str, path: str) -> None:
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index_name(org_id, object_name, path)}")


def sync_indexes(
    connection: Connection, org_id: str, object_name: str, before: dict[str, IndexSpec],
    after: dict[str, IndexSpec],
) -> None:
    """Drop the indexes no longer wanted (or whose form changed), then create new ones."""
    for path, spec in before.items():
        if after.get(path) != spec:
            drop_index(connection, org_id, object_name, path)
    for path, (unique, prop) in after.items():
        if before.get(path) != (unique, prop):
            create_index(connection, org_id, object_name, path, unique, prop)


def _literal(value: str, is_id: bool) -> str:
    # DDL cannot take bind parameters; both values are validated names or ids, checked again here.
    if (is_id and not is_object_id(value)) or (not is_id and not _SAFE_NAME.match(value)):
        raise ValueError(f"unsafe literal {value!r}")
    return f"'{value}'"
