"""Property definitions: the twelve Cortex property types, their options, validators and values.

``parse_property`` / ``parse_properties`` read definitions; a ``PropertyDefinition`` then turns
written values into stored JSON (``coerce``) and stored JSON into read values (``serialise``).
"""

from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext
from opencortex.model.properties.blobs import AnyProperty, BinaryProperty
from opencortex.model.properties.document import DocumentProperty
from opencortex.model.properties.fields import write_fields
from opencortex.model.properties.file import FileProperty
from opencortex.model.properties.geometry import GeometryProperty
from opencortex.model.properties.reference import ListProperty, ReferenceProperty
from opencortex.model.properties.registry import PROPERTY_CLASSES, parse_properties, parse_property
from opencortex.model.properties.scalars import (
    BooleanProperty,
    DateProperty,
    NumberProperty,
    ObjectIdProperty,
    StringProperty,
)

__all__ = [
    "MISSING",
    "PROPERTY_CLASSES",
    "AnyProperty",
    "BinaryProperty",
    "BooleanProperty",
    "DateProperty",
    "DocumentProperty",
    "FileProperty",
    "GeometryProperty",
    "ListProperty",
    "NumberProperty",
    "ObjectIdProperty",
    "PropertyDefinition",
    "ReferenceProperty",
    "StringProperty",
    "WriteContext",
    "parse_properties",
    "parse_property",
    "write_fields",
]
