"""What the query layer needs to know about an object's properties, and about the org asking.

The model layer builds a ``QuerySchema`` from an object definition; the query layer only reads
it. Keeping this small contract here lets ``query`` sit below ``model`` without importing it.

The schema also carries which of Cortex's *restricted* operators (``$ne``, ``$nin``, ``$type``)
the org allows (its setting ``configuration.queries.allowedRestrictedMatchOps``), so that every
parse of a ``where`` or a pipeline for the org follows the setting without being told twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

# Property types that can appear in a schema (Cortex's type names).
PROPERTY_TYPES = frozenset(
    {"String", "Number", "Boolean", "Date", "ObjectId", "Any", "Binary", "Document", "Reference", "List",
     "File", "Geometry"}
)

# System properties live in columns of the documents table, not in the JSON body.
SYSTEM_COLUMNS = {
    "_id": "id",
    "created": "created",
    "updated": "updated",
    "owner": "owner",
    "creator": "creator",
    "updater": "updater",
    "type": "type",
}


@dataclass(frozen=True)
class QueryableProperty:
    """One property path as the query compiler sees it.

    ``path`` is dotted from the instance root (``c_name.c_first``). ``array`` is true when the
    property holds a list (queries then match any element, as in MongoDB). ``column`` names the
    documents-table column for system properties; other properties live in the JSON body.
    """

    path: str
    type: str
    array: bool = False
    indexed: bool = False
    column: str | None = None
    readable: bool = True  # false when the caller may not read it (ACL): naming it is a fault


@dataclass
class QuerySchema:
    """The queryable properties of one object, by dotted path.

    ``allowed_restricted`` holds the restricted operators a query may use (``"*"``: all of
    them). The default is Cortex's: none.
    """

    object_name: str
    properties: dict[str, QueryableProperty] = field(default_factory=dict)
    allowed_restricted: frozenset[str] = frozenset()

    def allowing(self, operators: Iterable[str]) -> QuerySchema:
        """This schema (its properties shared, not copied) with ``operators`` allowed."""
        return replace(self, allowed_restricted=frozenset(operators))

    def allows(self, operator: str) -> bool:
        return bool({"*", operator} & self.allowed_restricted)

    def add(self, prop: QueryableProperty) -> None:
        self.properties[prop.path] = prop

    def get(self, path: str) -> QueryableProperty | None:
        return self.properties.get(path)

    @classmethod
    def with_system_properties(cls, object_name: str) -> QuerySchema:
        schema = cls(object_name)
        for name, column in SYSTEM_COLUMNS.items():
            kind = "Date" if name in ("created", "updated") else "String" if name == "type" else "ObjectId"
            schema.add(QueryableProperty(path=name, type=kind, indexed=True, column=column))
        return schema
