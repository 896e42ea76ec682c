"""Turning stored rows into the documents the API (and every export) returns.

A ``DocumentPlan`` is built once per (object, viewer, selection): it decides up front which
properties can appear and what each needs, so that serialising a row is a loop over a short
list, not a walk over the definition. Per row only the caller's access to that instance is
computed (from its owner and ``acl``), since ACLs can differ between instances.

References named in ``expand[]`` (or reached through a ``paths[]`` sub-path) are expanded for a
whole page at once: one query per target object, whatever the page size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opencortex import faults
from opencortex.acl.entries import OWNER, read_entries
from opencortex.acl.levels import Access
from opencortex.acl.viewer import Viewer
from opencortex.instances.selection import Selection
from opencortex.instances.system_properties import SYSTEM_PROPERTY_NAMES, ValuesRenderer, values_renderer
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.properties import PropertyDefinition

SYSTEM_PROPERTIES = SYSTEM_PROPERTY_NAMES  # what documents show of them: ``instances.system_properties``
MAX_EXPAND_DEPTH = 3

# Loads instances of another object for expansion: (object name, ids, viewer, selection, depth,
# granted access) -> serialised documents by id.
ExpandLoader = Callable[[str, list[str], Viewer, Selection, int, int], dict[str, dict[str, Any]]]


@dataclass
class _PropertyPlan:
    prop: PropertyDefinition
    read_access: int
    extra_entries: list[Any]  # the property's own acl
    children: list[_PropertyPlan] | None = None  # Document sub-properties
    expand: Selection | None = None  # Reference to expand, with the selection inside it
    # The stored value is already what the API shows, and nothing in it can be hidden from this
    # viewer: copy it as is. (Decided once per plan; this is what keeps exports fast.)
    copy_as_stored: bool = False
    # A Document whose children are all copied as stored: rebuilt in definition order (so key
    # order does not depend on the database: PostgreSQL's jsonb reorders keys) without a plan walk.
    copy_children: tuple[str, ...] | None = None


@dataclass
class PendingExpansion:
    plan: _PropertyPlan
    target: dict[str, Any]  # the document that holds the reference
    key: str
    ids: list[str]
    many: bool


@dataclass
class DocumentPlan:
    definition: ObjectDefinition
    viewer: Viewer
    selection: Selection
    grant: int = Access.NONE  # minimum access granted by an expanding reference
    properties: list[_PropertyPlan] = field(default_factory=list)
    system: tuple[str, ...] = SYSTEM_PROPERTIES
    _resolve: Callable[[str | None, Any], int] | None = field(default=None, repr=False)
    _system_values: tuple[tuple[str, ...], ValuesRenderer] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, definition: ObjectDefinition, viewer: Viewer, selection: Selection, *, grant: int = Access.NONE,
        type_name: str | None = None,
    ) -> DocumentPlan:
        plan = cls(definition, viewer, selection, grant)
        ceiling = naming_ceiling(viewer, definition.settings, grant)
        # A property the viewer can never read is checked exactly like one that does not exist.
        properties = {
            name: prop for name, prop in _all_properties(definition, type_name).items()
            if nameable(viewer, prop, ceiling)
        }
        names = selection.names_selected()
        for name in names or ():
            if name not in properties and name not in SYSTEM_PROPERTIES:
                raise faults.invalid_argument(f"Unknown property {name!r}.", path=name)
        for name in sorted(selection.include) if selection.include else ():
            if name.split(".")[0] not in properties:
                raise faults.invalid_argument(f"Unknown property {name!r}.", path=name)
        for path in selection.expand:
            prop = properties.get(path[0])
            if prop is None or prop.type_name != "Reference" or not prop.option("expandable"):
                raise faults.invalid_argument(f"{path[0]!r} is not an expandable reference.", path=path[0])
        if names is not None:
            plan.system = tuple(key for key in SYSTEM_PROPERTIES if key in ("_id", "object") or key in names)
        for name, prop in properties.items():
            named = names is not None and name in names
            if prop.type_name == "List":
                continue  # virtual: read through GET /{plural}/{id}/{list}
            if names is not None and not named:
                continue
            if prop.optional and not named and name not in selection.include:
                continue
            plan.properties.append(_plan_property(prop, viewer, selection, ceiling))
        return plan

    def serialise_rows(self, rows: Iterable[Mapping[str, Any]], expand: ExpandLoader | None,
                       depth: int = 0) -> list[dict[str, Any]]:
        """Documents for a page of ``documents`` rows, with every expansion filled in."""
        pending: list[PendingExpansion] = []
        system = self.system_values()
        out = [self._serialise_row(row, system, pending) for row in rows]
        if pending:
            self.fill_expansions(pending, expand, depth)
        return out

    def system_values(self) -> ValuesRenderer:
        """``render(row, access)``: the system properties this plan shows, from a row."""
        compiled = self._system_values
        if compiled is None or compiled[0] != self.system:
            compiled = self._system_values = (self.system, values_renderer(self.system, self.definition.name))
        return compiled[1]

    def expands(self) -> bool:
        """Whether serialising reads other instances (references to expand, at any depth)."""

        def any_expand(plans: list[_PropertyPlan]) -> bool:
            return any(plan.expand is not None or (plan.children is not None and any_expand(plan.children))
                       for plan in plans)

        return any_expand(self.properties)

    def access_of(self, row: Mapping[str, Any]) -> int:
        return self.access_for(row["owner"], row["acl"])

    def access_for(self, owner: str | None, instance_acl: Any) -> int:
        """The viewer's access to an instance with this owner and ``acl`` (parsed or JSON text)."""
        if self._resolve is None:
            self._resolve = self.viewer.access_resolver(self.definition.settings)
        return max(self._resolve(owner, instance_acl), self.grant)

    def _serialise_row(self, row: Mapping[str, Any], system: ValuesRenderer,
                       pending: list[PendingExpansion]) -> dict[str, Any]:
        access = self.access_of(row)
        document = system(row, access)
        body = row["body"]
        self._fill(document, body, self.properties, access, row["owner"], pending)
        return document

    def _fill(self, target: dict[str, Any], body: Mapping[str, Any], plans: list[_PropertyPlan], access: int,
              owner: str | None, pending: list[PendingExpansion]) -> None:
        for plan in plans:
            key = plan.prop.name
            if key not in body:
                continue
            if plan.copy_as_stored:
                target[key] = body[key]
                continue
            if plan.copy_children is not None:
                target[key] = _copy_document(body[key], plan.copy_children)
                continue
            level = access
            if plan.extra_entries:
                level = max(level, self.viewer.grant(plan.extra_entries, owner))
            if not self.viewer.full_access and level < plan.read_access:
                continue
            stored = body[key]
            if plan.children is not None:
                target[key] = self._document_value(stored, plan, level, owner, pending)
            elif plan.expand is not None and stored is not None:
                target[key] = plan.prop.serialise(stored)
                ids = stored if isinstance(stored, list) else [stored]
                pending.append(PendingExpansion(plan, target, key, [str(item) for item in ids],
                                                 isinstance(stored, list)))
            else:
                target[key] = plan.prop.serialise(stored)

    def _document_value(self, stored: Any, plan: _PropertyPlan, access: int, owner: str | None,
                        pending: list[PendingExpansion]) -> Any:
        assert plan.children is not None
        if stored is None:
            return None
        elements = stored if isinstance(stored, list) else [stored]
        values = []
        for element in elements:
            if not isinstance(element, Mapping):
                continue
            value: dict[str, Any] = {"_id": element["_id"]} if "_id" in element else {}
            self._fill(value, element, plan.children, access, owner, pending)
            values.append(value)
        return values if isinstance(stored, list) else (values[0] if values else None)

    def fill_expansions(self, pending: list[PendingExpansion], loader: ExpandLoader | None, depth: int) -> None:
        """Replaces each pending reference by the document it names: one load per target object."""
        if loader is None or depth >= MAX_EXPAND_DEPTH:
            return
        by_target: dict[tuple[str, Selection, int], list[PendingExpansion]] = defaultdict(list)
        for item in pending:
            plan = item.plan
            source = plan.prop.option("sourceObject")
            assert plan.expand is not None
            by_target[(source, plan.expand, int(plan.prop.option("grant") or 0))].append(item)
        for (source, selection, grant), items in by_target.items():
            ids = sorted({identifier for item in items for identifier in item.ids})
            loaded = loader(source, ids, self.viewer, selection, depth + 1, grant)
            for item in items:
                values = [loaded.get(identifier, {"_id": identifier, "object": source}) for identifier in item.ids]
                item.target[item.key] = values if item.many else values[0]


def naming_ceiling(viewer: Viewer, settings: Mapping[str, Any], grant: int = Access.NONE) -> int:
    """The most access the viewer can have on any instance through the object's ``defaultAcl``
    (owner entries count: the viewer may own instances). Properties above it cannot be named in
    ``paths``, ``where`` or ``sort``: a query must not reveal what a read would hide."""
    if viewer.full_access:
        return Access.SCRIPT
    entries = read_entries(settings.get("defaultAcl"))
    static = viewer.grant([entry for entry in entries if entry.type != OWNER], owner=None)
    as_owner = 0 if viewer.anonymous else max(
        (entry.allow for entry in entries if entry.type == OWNER), default=Access.NONE
    )
    return max(static, as_owner, grant)


def nameable(viewer: Viewer, prop: PropertyDefinition, ceiling: int) -> bool:
    """Whether the viewer could read ``prop`` on some instance (``ceiling`` from ``naming_ceiling``,
    raised by the property's own ``acl``); otherwise naming it anywhere is like naming nothing."""
    if not prop.readable:
        return False
    if viewer.full_access:
        return True
    extra = read_entries(prop.option("acl")) if prop.option("acl") else []
    reachable = max(ceiling, max((entry.allow for entry in extra if viewer.matches(entry, owner=viewer.account_id)),
                                 default=Access.NONE))
    return reachable >= int(prop.option("readAccess") or Access.READ)


def _plan_property(prop: PropertyDefinition, viewer: Viewer, selection: Selection, ceiling: int) -> _PropertyPlan:
    plan = _PropertyPlan(
        prop=prop,
        read_access=int(prop.option("readAccess") or Access.READ),
        extra_entries=read_entries(prop.option("acl")) if prop.option("acl") else [],
    )
    children: dict[str, PropertyDefinition] | None = getattr(prop, "properties", None)
    if prop.type_name == "Document" and children is not None:
        inner = selection.for_child(prop.name)
        names = inner.names_selected()
        plan.children = [
            _plan_property(child, viewer, inner, ceiling)
            for name, child in children.items()
            if nameable(viewer, child, ceiling)
            and (names is None or name in names)
            and (not child.optional or (names is not None and name in names) or name in inner.include)
        ]
    elif prop.type_name == "Reference" and selection.expands(prop.name):
        inner = selection.for_child(prop.name)
        allowed = prop.option("paths") or None
        if allowed:
            paths = inner.paths if inner.paths is not None else tuple((name,) for name in allowed)
            inner = Selection(tuple(path for path in paths if path[0] in allowed) or None, inner.include,
                              inner.expand)
        plan.expand = inner
    if viewer.full_access and plan.expand is None and serialises_as_stored(prop):
        if plan.children is None:
            plan.copy_as_stored = True
        elif len(plan.children) == len(children or {}) and all(child.copy_as_stored for child in plan.children):
            plan.copy_children = tuple(child.prop.name for child in plan.children)
    return plan


def _copy_document(stored: Any, names: tuple[str, ...]) -> Any:
    if isinstance(stored, list):
        return [_copy_element(element, names) for element in stored if isinstance(element, Mapping)]
    return _copy_element(stored, names) if isinstance(stored, Mapping) else None if stored is None else stored


def _copy_element(element: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    value = {"_id": element["_id"]} if "_id" in element else {}
    for name in names:
        if name in element:
            value[name] = element[name]
    return value


def serialises_as_stored(prop: PropertyDefinition) -> bool:
    """Whether reads show the stored value unchanged (Documents: once their children are)."""
    kind = type(prop)
    base = PropertyDefinition
    return kind.type_name == "Document" or (
        kind.serialise is base.serialise and kind.serialise_element is base.serialise_element
    )


def _all_properties(definition: ObjectDefinition, type_name: str | None) -> dict[str, PropertyDefinition]:
    if type_name is not None:
        return definition.properties_for(type_name)
    merged = dict(definition.properties)
    for object_type in definition.object_types.values():
        for name, prop in object_type.properties.items():
            merged.setdefault(name, prop)
    return merged
