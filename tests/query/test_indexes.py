"""index_expression: the expression an index must hold for the compiled SQL to use it."""

from __future__ import annotations

import pytest

from opencortex.query import index_expression, index_sql
from opencortex.query.schema import QueryableProperty

ORG = "5f0000000000000000000001"


def text_index(path: str) -> tuple[str, str]:
    return f"json_extract(body, '$.{path}')", f"""((body ->> '{path}') COLLATE "C")"""


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        (QueryableProperty("c_s", "String"), text_index("c_s")),
        (QueryableProperty("c_d", "Date"), text_index("c_d")),
        (QueryableProperty("c_b", "Boolean"), text_index("c_b")),
        (QueryableProperty("c_r", "Reference"), text_index("c_r")),
        (
            QueryableProperty("c_a.c_n", "Number"),
            ("json_extract(body, '$.c_a.c_n')", "(nullif((body -> 'c_a') -> 'c_n', 'null'::jsonb))"),
        ),
        (QueryableProperty("c_tags", "String", array=True), (None, "(body -> 'c_tags')")),
        (QueryableProperty("c_docs.c_x", "String", array=True), (None, None)),
        (QueryableProperty("created", "Date", column="created"), ("created", "created")),
    ],
)
def test_index_expressions(prop: QueryableProperty, expected: tuple[str | None, str | None]) -> None:
    assert (index_expression(prop, "sqlite"), index_expression(prop, "postgresql")) == expected


def test_index_sql() -> None:
    number = QueryableProperty("c_n", "Number", indexed=True)
    assert index_sql("ix_doc_1", number, "postgresql", org_id=ORG, object_name="c_thing") == (
        "CREATE INDEX IF NOT EXISTS ix_doc_1 ON documents "
        "((nullif(body -> 'c_n', 'null'::jsonb)) NULLS FIRST, id) "
        f"WHERE org_id = '{ORG}' AND object = 'c_thing'"
    )
    tags = QueryableProperty("c_tags", "String", array=True, indexed=True)
    assert index_sql("ix_doc_2", tags, "postgresql", org_id=ORG, object_name="c_thing") == (
        "CREATE INDEX IF NOT EXISTS ix_doc_2 ON documents USING gin ((body -> 'c_tags') jsonb_path_ops) "
        f"WHERE org_id = '{ORG}' AND object = 'c_thing'"
    )
    assert index_sql("ix_doc_3", tags, "sqlite", org_id=ORG, object_name="c_thing") is None
    with pytest.raises(ValueError):
        index_sql("ix; DROP TABLE documents", number, "sqlite", org_id=ORG, object_name="c_thing")
    with pytest.raises(ValueError):
        index_sql("ix_doc_4", number, "sqlite", org_id="x' OR '1'='1", object_name="c_thing")
