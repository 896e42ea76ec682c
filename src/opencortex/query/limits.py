"""The limits that keep one ``where`` or ``sort`` from costing the server too much.

The defaults are the numbers of Cortex's current query parser (cortex-api.md §7.2.2), so a
query Cortex accepts is accepted here, and one it refuses for size is refused here too. Some
limits are ours: ``max_conditions`` (all leaf conditions of one query together; Cortex bounds
each object and each ``$and``/``$or`` but not their product), ``max_where_length`` (the JSON
text, before it is parsed at all), and two on regular expressions: how many one query holds
(each is compiled, and on SQLite run row by row) and their total width (see ``query.regex``:
the work per character of a value grows with it). Every fault raised for a limit names the
limit's number.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueryLimits:
    max_depth: int = 20  # MAX_EXPRESSION_DEPTH: nesting of $and/$or/$nor/$not/$elemMatch
    max_keys: int = 100  # MAX_EXPRESSION_KEYS: keys in one expression object (and in one sort)
    max_logical_conditions: int = 100  # MAX_LOGICAL_CONDITIONS: entries of one $and/$or/$nor
    max_in_elements: int = 10_000  # MAX_$IN_ELEMENTS, for $in and $nin
    max_all_elements: int = 10_000  # MAX_$ALL_ELEMENTS
    max_regex_length: int = 255  # MAX_REGEXP_LENGTH, of the whole "/pattern/flags" string
    max_path_length: int = 200  # FIELD_PATH_REGEX allows 1 to 200 characters
    max_conditions: int = 1_000  # ours: leaf conditions in the whole query
    max_where_length: int = 1_048_576  # ours: characters of where/sort JSON text
    max_regex_patterns: int = 100  # ours: $regex values in the whole query, $in entries included
    max_regex_width: int = 512  # ours: their widths together (one pattern may be 256 wide)


DEFAULT_LIMITS = QueryLimits()
