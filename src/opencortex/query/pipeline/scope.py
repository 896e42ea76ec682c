"""What a property or field name means at one point of a pipeline.

Before any ``$group`` or ``$project``, names are property paths of the object
(``DocumentScope``), resolved with the rules of ``where``: a plain dot path, a property the
caller can read (an unknown and a hidden property get the very same fault), of a kind that
pipelines handle. Unlike ``where``, an unindexed property may be grouped, projected and unwound;
matching and sorting instances still need an index (Cortex's rule).

After a ``$group`` or ``$project``, names are the fields those stages made (``RecordScope``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from opencortex import faults
from opencortex.query.pipeline.ast import SCALAR_KINDS, DocumentField, Expression, Kind, RecordField, Unwind
from opencortex.query.schema import QueryableProperty, QuerySchema

FIELD_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # Cortex's FIELD_NAME_REGEX, for names a stage makes
COLUMN_KINDS = {
    "id": "ObjectId", "owner": "ObjectId", "creator": "ObjectId", "updater": "ObjectId",
    "created": "Date", "updated": "Date", "type": "String",
}


class DocumentScope:
    """Property paths of the object's instances; ``arrays`` are the paths whose own value is an
    array (the schema marks everything below a document array as an array too)."""

    def __init__(self, schema: QuerySchema, arrays: Iterable[str], max_path_length: int) -> None:
        self.schema = schema
        self.arrays = frozenset(arrays)
        self.max_path_length = max_path_length
        self.unwinds: list[Unwind] = []
        self.named: set[str] = set()  # paths read from instances (the readability of each applies)

    def field(self, name: str, at: str) -> DocumentField:
        prop = self._property(name, at)
        if prop.column is not None:
            return DocumentField(name, Kind(COLUMN_KINDS[prop.column]), column=prop.column)
        bound, start = self._enclosing_unwind(name, at, including_self=True)
        unwound_here = bound is not None and self.unwinds[bound].path == name
        kind = Kind(self._scalar(prop, at), array=name in self.arrays and not unwound_here)
        self.named.add(name)
        return DocumentField(name, kind, unwind=bound, keys=tuple(name.split(".")[start:]))

    def count_argument(self, name: str, at: str) -> Expression | None:
        """``$count``'s property: the array whose elements it counts, or None to count instances."""
        prop = self._property(name, at)
        if prop.column is None and name in self.arrays and not any(u.path == name for u in self.unwinds):
            return self.field(name, at)
        if prop.column is None:
            self._enclosing_unwind(name, at, including_self=True)
            self.named.add(name)
        return None

    def unwind(self, name: str, at: str) -> Unwind:
        prop = self._property(name, at)
        if prop.column is not None or name not in self.arrays:
            raise faults.query_invalid(f"$unwind needs an array property; {name} is not one.", path=at)
        if any(unwind.path == name for unwind in self.unwinds):
            raise faults.query_invalid(f"{name} is already unwound.", path=at)
        parent, start = self._enclosing_unwind(name, at, including_self=False)
        element = None if prop.type == "Document" else Kind(self._scalar(prop, at))
        unwind = Unwind(path=name, keys=tuple(name.split(".")[start:]), parent=parent, element=element)
        self.unwinds.append(unwind)
        self.named.add(name)
        return unwind

    def _property(self, name: object, at: str) -> QueryableProperty:
        if not isinstance(name, str) or not 0 < len(name) <= self.max_path_length or not FIELD_PATH.match(name):
            shown = name[: self.max_path_length] if isinstance(name, str) else None
            hint = " (property names are written without $)" if isinstance(name, str) and name.startswith("$") else ""
            raise faults.query_invalid(f"Invalid field name {shown!r}{hint}.", path=at)
        prop = self.schema.get(name)
        segments = name.split(".")
        prefixes = [self.schema.get(".".join(segments[:count])) for count in range(1, len(segments))]
        if prop is None or not prop.readable or any(part is not None and not part.readable for part in prefixes):
            raise faults.query_invalid(f"Unknown property {name}.", path=at)
        return prop

    def _enclosing_unwind(self, name: str, at: str, *, including_self: bool) -> tuple[int | None, int]:
        """The deepest unwound array holding ``name`` (and how many segments its path has); every
        array between it and ``name`` must be unwound as well."""
        bound: int | None = None
        for index, unwind in enumerate(self.unwinds):
            inside = name.startswith(unwind.path + ".") or (including_self and name == unwind.path)
            if inside and (bound is None or len(unwind.path) > len(self.unwinds[bound].path)):
                bound = index
        start = len(self.unwinds[bound].path.split(".")) if bound is not None else 0
        segments = name.split(".")
        for count in range(start + 1, len(segments)):
            prefix = ".".join(segments[:count])
            if prefix in self.arrays:
                raise faults.query_invalid(f"{name} is inside the array {prefix}: $unwind {prefix} first.", path=at)
        return bound, start

    @staticmethod
    def _scalar(prop: QueryableProperty, at: str) -> str:
        kind = "ObjectId" if prop.type == "Reference" else prop.type
        if kind == "Document":
            raise faults.query_invalid(
                f"{prop.path} is a Document: name the properties inside it ({prop.path}.<name>).", path=at
            )
        if kind not in SCALAR_KINDS:
            raise faults.query_invalid(
                f"Pipelines read String, Number, Boolean, Date, ObjectId and Reference properties "
                f"(and arrays of them); {prop.path} is a {prop.type} property.", path=at,
            )
        return kind


class RecordScope:
    """The fields of the records a ``$group`` or ``$project`` made, by output name."""

    def __init__(self, fields: dict[str, Kind]) -> None:
        self.fields = fields

    def field(self, name: object, at: str) -> RecordField:
        if not isinstance(name, str) or name not in self.fields:
            if isinstance(name, str) and self.parts(name):
                raise faults.query_invalid(
                    f"{name} is a document of several fields; name one of them ({', '.join(self.parts(name))}).",
                    path=at,
                )
            known = ", ".join(sorted(self.fields)) or "none"
            raise faults.query_invalid(f"Unknown field {name!r} (the fields here: {known}).", path=at)
        return RecordField(name, self.fields[name])

    def parts(self, name: str) -> list[str]:
        """The fields of a composite ``_id`` (``_id.a``, ``_id.b``) under ``name``."""
        return [field for field in self.fields if field.startswith(name + ".")]

    def count_argument(self, name: str, at: str) -> Expression | None:
        if self.parts(name):
            return None
        field = self.field(name, at)
        return field if field.kind.array else None
