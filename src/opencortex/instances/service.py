"""``Instances``: every read and write of one object's instances, as one viewer.

Access control is applied here and nowhere else: lists filter in SQL (``acl.filters``), reads and
writes resolve the caller's access per instance (``acl.viewer``), and documents are serialised by
one ``DocumentPlan``. Every statement is scoped by org and object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from opencortex import faults
from opencortex.acl.entries import read_entries
from opencortex.acl.filters import access_filter, readable_filter
from opencortex.acl.levels import VISIBLE, Access
from opencortex.acl.viewer import Viewer
from opencortex.clock import utcnow
from opencortex.ids import is_object_id, new_object_id
from opencortex.instances.paths import body_for_pull, body_for_push, body_for_set
from opencortex.instances.raw_rows import ID, RawRow, raw_columns, to_row
from opencortex.instances.selection import Selection
from opencortex.instances.serialise import DocumentPlan, nameable, naming_ceiling
from opencortex.model.definitions import ObjectDefinition, build_query_schema
from opencortex.model.objects import find_object
from opencortex.model.orgs import org_allowed_restricted_operators
from opencortex.model.properties import PropertyDefinition
from opencortex.model.validation import validate_create, validate_update
from opencortex.query.ast import And, ElemMatch, Node, Not, Or
from opencortex.query.compile import compile_sort, compile_where
from opencortex.query.parse import parse_sort, parse_where
from opencortex.query.schema import QueryableProperty, QuerySchema
from opencortex.store.tables import documents

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SKIP = 500_000


@dataclass(frozen=True)
class ListQuery:
    """The query arguments of a list read."""

    where: str | dict[str, Any] | None = None
    sort: str | dict[str, Any] | None = None
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    starting_after: str | None = None
    ending_before: str | None = None
    selection: Selection = Selection()


class Instances:
    def __init__(self, connection: Connection, dialect: str, org_id: str, definition: ObjectDefinition,
                 viewer: Viewer) -> None:
        self.connection = connection
        self.dialect = dialect
        self.org_id = org_id
        self.definition = definition
        self.viewer = viewer
        # Definitions of expanded objects, read once per Instances (an export expands every batch).
        self._targets: dict[str, ObjectDefinition | None] = {}
        self._allowed_restricted: frozenset[str] | None = None  # the org's setting, read once

    # Reading

    def query_schema(self) -> QuerySchema:
        """What this viewer may name in ``where`` and ``sort``: readable properties only; and the
        restricted operators (``$ne``, ``$nin``, ``$type``) the org allows. Every ``where`` and
        pipeline of a request is parsed against this schema, so the org's setting applies to all."""
        if self._allowed_restricted is None:
            self._allowed_restricted = org_allowed_restricted_operators(self.connection, self.org_id)
        schema = build_query_schema(self.definition).allowing(self._allowed_restricted)
        ceiling = naming_ceiling(self.viewer, self.definition.settings)
        for path, prop in list(schema.properties.items()):
            if prop.column is not None:
                continue
            definitions = self._definitions_of(path)
            if not definitions or not all(nameable(self.viewer, found, ceiling) for found in definitions):
                schema.properties[path] = replace(prop, readable=False)
        return schema

    def condition(self, where: Node | None, sort_keys: Sequence[tuple[QueryableProperty, int]] = (),
                  named: Iterable[str] = ()) -> Any:
        """Which instances a list (or scan, or count, or pipeline) covers: the visible ones,
        matching ``where``, and only those where the viewer can read every property that
        ``where``, ``sort`` (and ``named``: what a pipeline reads) name, so that no query can
        match, order or aggregate on values a read would hide."""
        named = set(_named_paths(where)) | {prop.path for prop, _ in sort_keys if prop.column is None} | set(named)
        return sa.and_(
            access_filter(self.viewer, self.definition.settings, self.dialect, VISIBLE),
            *(self._readable_condition(path) for path in sorted(named)),
            compile_where(where, self.dialect),
        )

    def _readable_condition(self, path: str) -> Any:
        """The instances on which the viewer can read ``path``, each part of it."""
        parts = path.split(".")
        return sa.and_(sa.true(), *(
            readable_filter(self.viewer, self.definition.settings, self.dialect,
                            int(prop.option("readAccess") or Access.READ), read_entries(prop.option("acl")))
            for count in range(1, len(parts) + 1)
            for prop in self._definitions_of(".".join(parts[:count]))
        ))

    def _definitions_of(self, path: str) -> tuple[PropertyDefinition, ...]:
        """The property at ``path`` in the base definition and in each object type that has it."""
        found = [self.definition.find_property(path)]
        found += [self.definition.find_property(path, name) for name in self.definition.object_types]
        return tuple({id(prop): prop for prop in found if prop is not None}.values())

    def select(self, query: ListQuery) -> sa.Select[Any]:
        """The SQL of a list query: org, object, ACL filter, where, order, keyset and skip."""
        schema = self.query_schema()
        where = parse_where(query.where, schema)
        sort_keys = parse_sort(query.sort, schema)
        if (query.starting_after or query.ending_before) and (where is not None or sort_keys):
            raise faults.query_invalid("startingAfter/endingBefore is incompatible with where/sort.")
        statement = self._base().where(self.condition(where, sort_keys))
        if query.starting_after:
            statement = statement.where(documents.c.id < query.starting_after)
        if query.ending_before:
            statement = statement.where(documents.c.id > query.ending_before)
        order = compile_sort(sort_keys, self.dialect) if sort_keys else []
        if query.ending_before:
            statement = statement.order_by(*order, documents.c.id.asc())
        else:
            statement = statement.order_by(*order, documents.c.id.desc())
        if query.skip:
            statement = statement.offset(query.skip)
        return statement

    def list_page(self, query: ListQuery) -> tuple[list[dict[str, Any]], bool]:
        """One page of a list read: its documents, serialised for this viewer, and ``hasMore``."""
        plan = DocumentPlan.build(self.definition, self.viewer, query.selection)
        statement = self.select(query).limit(query.limit + 1)
        rows = [dict(row) for row in self.connection.execute(statement).mappings()]
        has_more = len(rows) > query.limit
        rows = rows[: query.limit]
        if query.ending_before:
            rows.reverse()
        return plan.serialise_rows(rows, self.load_expanded), has_more

    def total(self, query: ListQuery) -> int:
        """How many instances the list covers over all its pages (``total=true``)."""
        whole = replace(query, skip=0, starting_after=None, ending_before=None)
        statement = sa.select(sa.func.count()).select_from(self.select(whole).order_by(None).subquery())
        return int(self.connection.execute(statement).scalar_one())

    def scan(self, where: str | dict[str, Any] | None, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """Every visible instance matching ``where``, oldest first, in keyset-paged batches of rows."""
        for batch in self.scan_raw(where, batch_size):
            yield [to_row(raw) for raw in batch]

    def scan_raw(self, where: str | dict[str, Any] | None, batch_size: int = 1000, *,
                 also: Any = None, after: str | None = None) -> Iterator[list[RawRow]]:
        """``scan`` as driver tuples (``instances.raw_rows``): what exports read (``also``: a
        further SQL condition, such as an incremental export's "changed after"; ``after``: start
        after this ``_id``, as the keyset does, never as a second lower bound, which SQLite would
        seek by instead of the keyset's and so scan from it again for every batch).

        No OFFSET, no limit, one query per batch whatever the size of the set.
        """
        condition = self.condition(parse_where(where, self.query_schema()))
        if also is not None:
            condition = sa.and_(condition, also)
        columns = raw_columns(self.dialect)
        last: str | None = after
        while True:
            statement = sa.select(*columns).where(
                documents.c.org_id == self.org_id, documents.c.object == self.definition.name, condition
            )
            if last is not None:
                statement = statement.where(documents.c.id > last)
            result = self.connection.execute(statement.order_by(documents.c.id.asc()).limit(batch_size))
            rows = cast("list[RawRow]", result.all())  # rows are tuples; the list is not copied
            if not rows:
                return
            yield rows
            last = rows[-1][ID]

    def count(self, where: str | dict[str, Any] | None, *, also: Any = None) -> int:
        condition = self.condition(parse_where(where, self.query_schema()))
        if also is not None:
            condition = sa.and_(condition, also)
        statement = sa.select(sa.func.count()).select_from(documents).where(
            documents.c.org_id == self.org_id, documents.c.object == self.definition.name, condition
        )
        return int(self.connection.execute(statement).scalar_one())

    def get(self, instance_id: str, selection: Selection | None = None) -> dict[str, Any]:
        row = self.get_row(instance_id)
        plan = DocumentPlan.build(self.definition, self.viewer, selection or Selection())
        return plan.serialise_rows([row], self.load_expanded)[0]

    def get_row(self, instance_id: str, needed: int = VISIBLE) -> dict[str, Any]:
        """The stored row, if the viewer may see it; otherwise not found (never "forbidden",
        which would reveal that it exists)."""
        found = None
        if is_object_id(instance_id):
            found = self.connection.execute(self._base().where(documents.c.id == instance_id)).mappings().first()
        if found is None:
            raise self.not_found(instance_id)
        row = dict(found)
        access = self.viewer.instance_access(self.definition.settings, row["owner"], row["acl"])
        if access < VISIBLE:
            raise self.not_found(instance_id)
        if access < needed:
            raise faults.instance_access_denied(
                f"This needs {Access(needed).name.title()} access to the instance.", path=instance_id
            )
        return row

    def load_expanded(self, object_name: str, ids: list[str], viewer: Viewer, selection: Selection,
                      depth: int, grant: int) -> dict[str, dict[str, Any]]:
        """Expansion of references: one query for all ``ids`` of one target object."""
        if object_name not in self._targets:
            self._targets[object_name] = find_object(self.connection, self.org_id, object_name)
        target = self._targets[object_name]
        if target is None:
            return {}
        statement = sa.select(*raw_columns(self.dialect)).where(
            documents.c.org_id == self.org_id, documents.c.object == target.name, documents.c.id.in_(ids)
        )
        if grant < VISIBLE:
            statement = statement.where(access_filter(viewer, target.settings, self.dialect, VISIBLE))
        rows = [to_row(raw) for raw in self.connection.execute(statement)]
        plan = DocumentPlan.build(target, viewer, selection, grant=grant)
        nested = Instances(self.connection, self.dialect, self.org_id, target, viewer)
        nested._targets = self._targets
        return {doc["_id"]: doc for doc in plan.serialise_rows(rows, nested.load_expanded, depth)}

    # Writing

    def create(self, body: Any) -> dict[str, Any]:
        if not self.viewer.can_create(self.definition.settings):
            raise faults.create_denied(path=self.definition.name)
        if not isinstance(body, Mapping):
            raise faults.invalid_argument("A JSON object is expected.", path="body")
        given = dict(body)
        instance_acl = _pop_acl(given)
        type_name = given.get("type") if self.definition.object_types and isinstance(given.get("type"), str) else None
        owner = None if self.viewer.anonymous else self.viewer.account_id
        # What the creator may write comes from the object's ACL alone: the new instance's own
        # acl must not let a creator grant itself more than the object allows.
        access = self.viewer.instance_access(self.definition.settings, owner, [])
        self._check_writes(given, access, owner, type_name)
        stored = validate_create(self.definition, dict(given), env={"ac.principal": owner})
        if instance_acl:
            _check_sharing(access, [], instance_acl)
        now = utcnow()
        row = {
            "org_id": self.org_id,
            "object": self.definition.name,
            "id": new_object_id(),
            "type": type_name,
            "owner": owner,
            "creator": owner,
            "updater": None,
            "created": now,
            "updated": None,
            "sequence": 0,
            "acl": instance_acl,
            "body": stored,
        }
        self._write(documents.insert().values(**row))
        return self.get(str(row["id"]))

    def update(self, instance_id: str, body: Any) -> dict[str, Any]:
        row = self.get_row(instance_id)
        if not isinstance(body, Mapping):
            raise faults.invalid_argument("A JSON object is expected.", path="body")
        given = dict(body)
        instance_acl = _pop_acl(given) if "acl" in given else None
        access = self.viewer.instance_access(self.definition.settings, row["owner"], row["acl"])
        self._check_writes(given, access, row["owner"], row["type"])
        stored = validate_update(self.definition, row["body"], given, type_name=row["type"])
        if instance_acl is not None:
            _check_sharing(access, row["acl"], instance_acl)
        self.write_body(row, stored, acl=instance_acl)
        return self.get(instance_id)

    def delete(self, instance_id: str) -> None:
        self.get_row(instance_id, needed=Access.DELETE)
        self.connection.execute(documents.delete().where(*self._key(instance_id)))

    def set_path(self, instance_id: str, parts: list[str], value: Any) -> dict[str, Any]:
        row = self.get_row(instance_id)
        self._check_row_writes(row, parts)  # before the stored value is looked at
        return self.update(instance_id, body_for_set(row["body"], parts, value))

    def push(self, instance_id: str, name: str, value: Any) -> dict[str, Any]:
        prop = self._array_property(name, "canPush")
        row = self.get_row(instance_id)
        values = value if isinstance(value, list) else [value]
        if prop.type_name == "Document" and not all(isinstance(item, Mapping) for item in values):
            raise faults.invalid_value("Document array elements are JSON objects.", path=name)
        return self.update(instance_id, body_for_push(row["body"], name, values))

    def pull(self, instance_id: str, name: str, value: str) -> bool:
        self._array_property(name, "canPull")
        row = self.get_row(instance_id)
        self._check_row_writes(row, [name])  # whether the value is there must not show otherwise
        body, removed = body_for_pull(row["body"], name, value)
        if removed:
            self.update(instance_id, body)
        return removed

    def unset(self, instance_id: str, name: str) -> bool:
        """``DELETE /{plural}/{id}/{prop}``: only for ``removable`` properties."""
        prop = self.definition.find_property(name)
        if prop is None or "." in name:
            raise faults.property_not_found(path=name)
        if not prop.removable:
            raise faults.property_update_denied("This property is not removable.", path=name)
        row = self.get_row(instance_id)
        self._check_row_writes(row, [name])
        if name not in row["body"]:
            return False
        self.write_body(row, {key: value for key, value in row["body"].items() if key != name})
        return True

    # Writing a property directly (uploads), by the same rules as the writes above

    def check_property_write(self, row: Mapping[str, Any], path: str) -> PropertyDefinition:
        """The property at ``path`` (dotted: ``c_doc.c_file``) of this stored instance, if the viewer
        may write a value there directly, with no body for validation to check (as an upload does):
        it and each property holding it are ``writable``, and writable at the viewer's access to
        this instance by the rule of every write (``_denied_writes``, as for an update setting
        ``path``). Else the fault ``property_update_denied`` naming ``path`` (``property_not_found``
        when there is no such property)."""
        prop = self.definition.find_property(path, row["type"])
        if prop is None:
            raise faults.property_not_found(path=path)
        parts = path.split(".")
        holders = [self.definition.find_property(".".join(parts[:end]), row["type"]) for end in range(1, len(parts))]
        if not all(held is not None and held.writable for held in [prop, *holders]):
            raise faults.property_update_denied("This property is not writable.", path=path)
        written: Any = None
        for part in reversed(parts):
            written = {part: written}
        access = self.viewer.instance_access(self.definition.settings, row["owner"], row["acl"])
        if any(self._denied_writes(self._writable_properties(row["type"]), written, access, row["owner"], "")):
            raise faults.property_update_denied(path=path)
        return prop

    def write_body(self, row: dict[str, Any], body: dict[str, Any], *, acl: list[dict[str, Any]] | None = None) -> None:
        """Store ``body`` (and ``acl``, when given) as the instance's new value, as written by the
        viewer, if nobody wrote the instance since ``row`` was read (its ``sequence``); otherwise
        the fault ``sequence_conflict``, and nothing is written. ``row`` then holds what was stored.

        The one guarded write of an instance's body: the caller has checked the write (``update``,
        ``check_property_write``).
        """
        values: dict[str, Any] = {"body": body, "updated": utcnow(), "sequence": row["sequence"] + 1,
                                  "updater": None if self.viewer.anonymous else self.viewer.account_id}
        if acl is not None:
            values["acl"] = acl
        self._write(documents.update().where(*self._key(row["id"]), documents.c.sequence == row["sequence"])
                    .values(**values), expect_one=True)
        row.update(values)

    # Helpers

    def _array_property(self, name: str, option: str) -> Any:
        prop = self.definition.find_property(name)
        if prop is None or "." in name:
            raise faults.property_not_found(path=name)
        if not prop.array:
            raise faults.invalid_argument("Only array properties can be pushed to or pulled from.", path=name)
        if prop.option(option) is False:
            raise faults.property_update_denied(f"{option} is off for this property.", path=name)
        return prop

    def not_found(self, instance_id: str) -> faults.Fault:
        return faults.instance_not_found(path=instance_id, resource=f"{self.definition.name}.{instance_id}")

    def _base(self) -> sa.Select[Any]:
        return sa.select(documents).where(
            documents.c.org_id == self.org_id, documents.c.object == self.definition.name
        )

    def _key(self, instance_id: str) -> tuple[Any, ...]:
        return (documents.c.org_id == self.org_id, documents.c.object == self.definition.name,
                documents.c.id == instance_id)

    def _check_row_writes(self, row: Mapping[str, Any], path: Sequence[str]) -> None:
        """Refuses a write to the top-level property of ``path`` in this stored instance."""
        access = self.viewer.instance_access(self.definition.settings, row["owner"], row["acl"])
        self._check_writes({path[0]: None}, access, row["owner"], row["type"])

    def _check_writes(self, given: Mapping[str, Any], access: int, owner: str | None, type_name: Any) -> None:
        """Writing a property above the caller's level is refused, naming the property; so is
        writing a Document's sub-property above it (``c_doc.c_sub``)."""
        denied = sorted(set(self._denied_writes(self._writable_properties(type_name), given, access, owner, "")))
        if denied:
            faults_found = [faults.property_update_denied(path=path) for path in denied]
            raise faults.validation_failed(faults=faults_found) if len(denied) > 1 else faults_found[0]

    def _writable_properties(self, type_name: Any) -> Mapping[str, PropertyDefinition]:
        """The top-level properties a write to an instance of ``type_name`` is checked against."""
        if isinstance(type_name, str) and type_name in self.definition.object_types:
            return self.definition.properties_for(type_name)
        # No type (yet): every type's properties, so that none escapes its writeAccess.
        properties = dict(self.definition.properties)
        for object_type in self.definition.object_types.values():
            for name, prop in object_type.properties.items():
                properties.setdefault(name, prop)
        return properties

    def _denied_writes(self, properties: Mapping[str, PropertyDefinition], given: Mapping[str, Any], access: int,
                       owner: str | None, prefix: str) -> Iterator[str]:
        for name, value in given.items():
            prop = properties.get(name)
            if prop is None or name == "_id":
                continue
            if not self.viewer.can_write_property(prop, access, owner):
                yield prefix + name
                continue
            children = getattr(prop, "properties", None)
            if prop.type_name == "Document" and children:
                for element in value if isinstance(value, list) else [value]:
                    if isinstance(element, Mapping):
                        yield from self._denied_writes(children, element, access, owner, f"{prefix}{name}.")

    def _write(self, statement: Any, expect_one: bool = False) -> None:
        try:
            with self.connection.begin_nested():
                result = self.connection.execute(statement)
        except IntegrityError:
            raise faults.already_exists("A unique property already has this value.") from None
        if expect_one and result.rowcount != 1:
            raise faults.sequence_conflict()


def _named_paths(node: Node | None) -> Iterator[str]:
    """The property paths a ``where`` names, at any depth."""
    if node is None:
        return
    if isinstance(node, (And, Or)):
        for child in node.children:
            yield from _named_paths(child)
        return
    if isinstance(node, Not):
        yield from _named_paths(node.child)
        return
    if node.field.column is None:
        yield node.field.path
    if isinstance(node, ElemMatch):
        yield from _named_paths(node.condition)


def _check_sharing(access: int, stored: Any, given: list[dict[str, Any]]) -> None:
    """Sharing needs Share access, and reaches only up to the sharer's own access: an entry
    above it can be neither added, nor changed, nor removed (no granting oneself more)."""
    if access < Access.SHARE:
        raise faults.instance_access_denied("Sharing an instance (acl) needs Share access.", path="acl")

    def above(entries: Any) -> list[tuple[int, str, int]]:
        return sorted((entry.type, entry.target or "", entry.allow) for entry in read_entries(entries)
                      if entry.allow > access)

    if above(stored) != above(given):
        level = Access(access).name.title()
        raise faults.instance_access_denied(f"An acl entry can grant at most the sharer's own access ({level}).",
                                            path="acl")


def _pop_acl(body: Any) -> list[dict[str, Any]]:
    """An instance's own ``acl`` (sharing grants), validated to the stored object form."""
    if not isinstance(body, dict) or "acl" not in body:
        return []
    raw = body.pop("acl")
    if not isinstance(raw, list) or len(raw) > 100:
        raise faults.invalid_argument("acl is an array of at most 100 entries.", path="acl")
    entries = []
    for index, entry in enumerate(raw):
        if (
            not isinstance(entry, Mapping)
            or entry.get("type") not in (1, 3)
            or not is_object_id(entry.get("target"))
            or not isinstance(entry.get("allow"), int)
            or isinstance(entry.get("allow"), bool)
            or not Access.PUBLIC <= entry["allow"] <= Access.DELETE
        ):
            raise faults.invalid_argument(
                "An acl entry is {type: 1 (account) or 3 (role), target: ObjectId, allow: 1-7}.",
                path=f"acl[{index}]",
            )
        entries.append({"type": entry["type"], "target": entry["target"], "allow": entry["allow"]})
    return entries
