"""The Cortex ``where``/``sort`` language: parse to an AST, validate, compile to SQL per dialect.

- ``parse_where(where, schema)`` and ``parse_sort(sort, schema)`` validate user input against a
  ``QuerySchema`` and raise Cortex faults (``cortex.invalidArgument.query``...) for bad input;
- ``compile_where(node, dialect)`` and ``compile_sort(keys, dialect)`` give SQLAlchemy
  expressions over ``store.tables.documents`` (or over another table, given a
  ``compile.QueryTarget``); ``keyset.after_position`` pages under any sort;
- ``matches(node, instance)`` and ``sort_key(keys, instance)`` do the same in Python;
- ``index_expression(prop, dialect)`` is what an index must hold for the SQL to use it;
- ``install_sqlite_functions(engine)`` registers ``REGEXP`` (and maths) on SQLite.
"""

from opencortex.query.compile import compile_sort, compile_where
from opencortex.query.evaluate import matches, sort_key
from opencortex.query.indexes import index_expression, index_sql
from opencortex.query.limits import DEFAULT_LIMITS, QueryLimits
from opencortex.query.parse import parse_sort, parse_where
from opencortex.query.sqlite_functions import install_sqlite_functions

__all__ = [
    "DEFAULT_LIMITS",
    "QueryLimits",
    "compile_sort",
    "compile_where",
    "index_expression",
    "index_sql",
    "install_sqlite_functions",
    "matches",
    "parse_sort",
    "parse_where",
    "sort_key",
]
