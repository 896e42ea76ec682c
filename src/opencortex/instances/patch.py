"""``PATCH /{plural}/{id}[/{path}]``: Cortex's array of operations, applied as one write.

The body is ``[{op, path?, value?}, ...]`` (cortex-api.md §2.7). ``op`` is ``set``, ``unset``,
``push``, ``pull`` or ``remove`` (``$set``... is accepted too). ``path`` is a dotted property
path, relative to the URL's path when there is one; a document-array element is named by its
``_id`` (``c_visits.<_id>.c_kind``, as in the URL of §7.4):

- ``set`` writes ``value`` at ``path`` (without a path, ``value`` is an object of properties,
  as the body of a PUT);
- ``push`` appends ``value`` (an element, or an array of them) to a top-level array property;
- ``pull`` removes from a top-level array the elements equal to ``value`` (document elements
  by ``_id``; an array removes each of its values);
- ``unset`` removes the property at ``path`` (which must be ``removable``);
- ``remove`` is what ``DELETE`` on the same path does: an array element (``c_tags.<value>``,
  ``c_visits.<_id>``), or else the property.

Each operation is checked and validated like the route that does the same thing alone (write
access per property before any stored value is looked at, then ``validate_update``), against
the result of the operations before it. Only when every one succeeds is the body stored, with
``Instances.write_body``: one write, guarded by the instance's ``sequence`` as a PUT is. A
failing operation writes nothing, and its fault carries its ``index``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opencortex import faults
from opencortex.instances.paths import body_for_pull, body_for_push, body_for_set
from opencortex.instances.service import Instances
from opencortex.model.properties import PropertyDefinition
from opencortex.model.validation import validate_update

OPERATIONS = frozenset({"set", "unset", "push", "pull", "remove"})
MAX_OPERATIONS = 100
_NO_VALUE = object()


@dataclass(frozen=True)
class Operation:
    op: str
    parts: tuple[str, ...]  # the property path, split; element _ids included
    value: Any = _NO_VALUE


def parse_operations(body: Any, base: list[str] | None = None) -> list[Operation]:
    """The operations of a PATCH body, their paths below ``base`` (the URL's property path)."""
    if not isinstance(body, list):
        raise faults.invalid_argument("A PATCH body is an array of operations: [{op, path, value}].", path="body")
    if len(body) > MAX_OPERATIONS:
        raise faults.invalid_argument(f"A PATCH holds at most {MAX_OPERATIONS} operations.", path="body")
    operations = []
    for index, raw in enumerate(body):
        at = f"[{index}]"
        if not isinstance(raw, Mapping):
            raise faults.invalid_argument("An operation is an object {op, path, value}.", path=at, index=index)
        for key in raw:
            if key not in ("op", "path", "value"):
                raise faults.invalid_argument(f"{key!r} is not part of an operation.", path=f"{at}.{key}", index=index)
        name = raw.get("op")
        name = name[1:] if isinstance(name, str) and name.startswith("$") else name
        if not isinstance(name, str) or name not in OPERATIONS:  # (a list or an object is no name either)
            raise faults.invalid_argument("op is one of set, unset, push, pull, remove.", path=f"{at}.op", index=index)
        path = raw.get("path", "")
        if not isinstance(path, str) or (path and not all(path.split("."))):
            raise faults.invalid_argument("path is a dotted property path.", path=f"{at}.path", index=index)
        parts = tuple([*(base or []), *(path.split(".") if path else [])])
        wants_value = name in ("set", "push", "pull")
        if wants_value != ("value" in raw):
            needs = "needs a value" if wants_value else "takes no value (the path says what goes)"
            raise faults.invalid_argument(f"{name} {needs}.", path=at, index=index)
        if not parts and name != "set":
            raise faults.invalid_argument(f"{name} needs a path.", path=f"{at}.path", index=index)
        operations.append(Operation(name, parts, raw.get("value", _NO_VALUE)))
    return operations


def push_operations(body: Any) -> list[Operation]:
    """``POST /{plural}/{id}``: ``{array property: element(s), ...}`` pushes to each (Cortex's push at the root)."""
    if not isinstance(body, Mapping):
        raise faults.invalid_argument("A JSON object of array properties to push to is expected.", path="body")
    return [Operation("push", (str(name),), value) for name, value in body.items()]


def apply_operations(instances: Instances, instance_id: str, operations: list[Operation]
                     ) -> tuple[dict[str, Any], set[str]]:
    """Apply every operation or none; the instance as it is now, and the top-level properties written."""
    row = instances.get_row(instance_id)
    patcher = _Patcher(instances, row)
    for index, operation in enumerate(operations):
        try:
            patcher.apply(operation)
        except faults.Fault as fault:
            fault.index = index
            raise
    if operations:
        instances.write_body(row, patcher.body)
    return instances.get(instance_id), patcher.written


class _Patcher:
    def __init__(self, instances: Instances, row: dict[str, Any]) -> None:
        self.instances = instances
        self.row = row
        self.body: dict[str, Any] = row["body"]
        self.access = instances.viewer.instance_access(instances.definition.settings, row["owner"], row["acl"])
        self.written: set[str] = set()

    def apply(self, operation: Operation) -> None:
        parts = list(operation.parts)
        if operation.op == "set":
            self.set(parts, operation.value)
        elif operation.op == "push":
            self.push(self._top_level(parts, "push"), operation.value)
        elif operation.op == "pull":
            self.pull(self._top_level(parts, "pull"), operation.value)
        elif operation.op == "unset":
            self.unset(parts)
        elif len(parts) == 2 and self._is_array(parts[0]):
            self.pull(parts[0], parts[1], from_url=True)
        else:
            self.unset(parts)

    def set(self, parts: list[str], value: Any) -> None:
        if not parts:
            if not isinstance(value, Mapping):
                raise faults.invalid_argument("set without a path expects an object of properties.", path="value")
            if "acl" in value:
                raise faults.invalid_argument("Sharing (acl) is written with PUT.", path="acl")
            self.update(dict(value))
            return
        self.instances._check_row_writes(self.row, parts)  # before the stored value is looked at
        self.update(body_for_set(self.body, parts, value))

    def push(self, name: str, value: Any) -> None:
        prop = self.instances._array_property(name, "canPush")
        values = value if isinstance(value, list) else [value]
        if prop.type_name == "Document" and not all(isinstance(item, Mapping) for item in values):
            raise faults.invalid_value("Document array elements are JSON objects.", path=name)
        self.update(body_for_push(self.body, name, values))

    def pull(self, name: str, value: Any, *, from_url: bool = False) -> None:
        self.instances._array_property(name, "canPull")
        self.instances._check_row_writes(self.row, [name])  # whether the value is there must not show otherwise
        if from_url:
            given, removed = body_for_pull(self.body, name, value)
        else:
            given, removed = _pulled(self.body, name, value if isinstance(value, list) else [value])
        if removed:
            self.update(given)

    def unset(self, parts: list[str]) -> None:
        prop, path = self._property(parts)
        if not prop.removable:
            raise faults.property_update_denied("This property is not removable.", path=path)
        if len(parts) == 1:
            self.instances._check_row_writes(self.row, parts)
        else:
            self.instances.check_property_write(self.row, path)
        body = copy.deepcopy(self.body)
        container: Any = body
        for depth, part in enumerate(parts[:-1]):
            container = _child(container, part)
            if container is None:
                raise faults.property_not_found(path=".".join(parts[: depth + 1]))
        if isinstance(container, dict) and parts[-1] in container:
            del container[parts[-1]]
            self.body = body
            self.written.add(parts[0])

    def update(self, given: dict[str, Any]) -> None:
        """One write's worth, checked and validated as ``Instances.update`` does, onto the body so far."""
        instances, row = self.instances, self.row
        instances._check_writes(given, self.access, row["owner"], row["type"])
        self.body = validate_update(instances.definition, self.body, given, type_name=row["type"])
        self.written.update(given)

    def _top_level(self, parts: list[str], op: str) -> str:
        if len(parts) != 1:
            raise faults.invalid_argument(f"{op} applies to a top-level array property.", path=".".join(parts))
        return parts[0]

    def _is_array(self, name: str) -> bool:
        prop = self.instances.definition.find_property(name, self._type())
        return prop is not None and prop.array

    def _type(self) -> str | None:
        kind = self.row["type"]
        return kind if isinstance(kind, str) and kind in self.instances.definition.object_types else None

    def _property(self, parts: list[str]) -> tuple[PropertyDefinition, str]:
        """The property ``parts`` names (skipping document-array element ids) and its dotted path."""
        names: list[str] = []
        prop: PropertyDefinition | None = None
        skip_id = False
        for part in parts:
            if skip_id:
                skip_id = False
                continue
            names.append(part)
            prop = self.instances.definition.find_property(".".join(names), self._type())
            if prop is None:
                raise faults.property_not_found(path=".".join(names))
            skip_id = prop.array and prop.type_name == "Document"
        assert prop is not None  # parts is never empty here
        return prop, ".".join(names)


def _child(container: Any, part: str) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list):
        return next((item for item in container if isinstance(item, dict) and item.get("_id") == part), None)
    return None


def _pulled(stored: Mapping[str, Any], name: str, values: list[Any]) -> tuple[dict[str, Any], bool]:
    """The update removing ``values`` from the array ``name``: document elements by ``_id``,
    primitives by equal value (of the same JSON type: ``1`` does not remove ``true``)."""
    kept: list[Any] = []
    removed = False
    for item in stored.get(name) or []:
        if isinstance(item, Mapping):
            if item.get("_id") in values:
                removed = True
            else:
                kept.append({"_id": item["_id"]})
        elif any(_same(item, value) for value in values):
            removed = True
        else:
            kept.append(item)
    return {name: kept}, removed


def _same(stored: Any, given: Any) -> bool:
    if isinstance(stored, bool) or isinstance(given, bool):
        return stored is given
    if isinstance(stored, int | float) and isinstance(given, int | float):
        return stored == given
    return type(stored) is type(given) and stored == given
