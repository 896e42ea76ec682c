"""The object definitions repository on SQLite and PostgreSQL: names, faults, real indexes, org scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from opencortex.faults import Fault
from opencortex.ids import new_object_id
from opencortex.model.indexes import index_name
from opencortex.model.objects import (
    create_object,
    delete_object,
    find_object,
    get_object,
    list_objects,
    update_object,
)
from opencortex.store.database import Database
from opencortex.store.tables import documents, orgs
from tests.model.property_helpers import leaves


def add_org(database: Database, code: str) -> str:
    org_id = new_object_id()
    with database.begin() as connection:
        connection.execute(
            orgs.insert().values(
                id=org_id, code=code, name=code, state="enabled", settings={}, created=datetime.now(UTC)
            )
        )
    return org_id


@pytest.fixture
def org(database: Database) -> str:
    return add_org(database, "acme")


def thing(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "c_thing",
        "label": "Thing",
        "properties": [
            {"name": "c_name", "label": "Name", "type": "String", "indexed": True},
            {"name": "c_count", "label": "Count", "type": "Number"},
            {
                "name": "c_doc",
                "label": "Doc",
                "type": "Document",
                "properties": [
                    {"name": "c_code", "label": "Code", "type": "String", "indexed": True, "unique": True}
                ],
            },
        ],
    }
    body.update(changes)
    return body


def index_names(database: Database) -> set[str]:
    with database.connect() as connection:
        if connection.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'documents'"
        else:
            sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'documents'"
        return {row[0] for row in connection.exec_driver_sql(sql)}


def insert_document(
    connection: sa.Connection, org_id: str, body: dict[str, Any], object_name: str = "c_thing"
) -> None:
    connection.execute(
        documents.insert().values(
            org_id=org_id,
            object=object_name,
            id=new_object_id(),
            created=datetime.now(UTC),
            sequence=0,
            acl=[],
            body=body,
        )
    )


def test_create_then_find_by_name_plural_or_id(database: Database, org: str) -> None:
    with database.begin() as connection:
        created = create_object(connection, org, thing())
    with database.connect() as connection:
        for key in ("c_thing", "C_Things", created.id):
            found = get_object(connection, org, key)
            assert found.id == created.id and found.to_json()["properties"] == created.to_json()["properties"]
        assert found.created is not None and found.to_json()["created"].endswith("Z")
        assert [definition.name for definition in list_objects(connection, org)] == ["c_thing"]


def test_unknown_objects_are_invalid_object_faults(database: Database, org: str) -> None:
    with database.connect() as connection, pytest.raises(Fault) as caught:
        get_object(connection, org, "c_missing")
    assert caught.value.to_json() | {"message": None} == {
        "object": "fault",
        "name": "error",
        "code": "kInvalidObject",
        "errCode": "cortex.invalidArgument.object",
        "status": 400,
        "message": None,
        "path": "c_missing",
    }


@pytest.mark.parametrize(
    ("second", "path"),
    [
        ({"name": "c_thing"}, "name"),
        ({"name": "c_things"}, "name"),
        ({"name": "c_other", "pluralName": "c_things"}, "pluralName"),
        ({"name": "c_other", "pluralName": "c_thing"}, "pluralName"),
    ],
)
def test_names_and_plurals_are_unique_in_an_org(
    database: Database, org: str, second: dict[str, Any], path: str
) -> None:
    with database.begin() as connection:
        create_object(connection, org, thing())
    with database.begin() as connection, pytest.raises(Fault) as caught:
        create_object(connection, org, {"label": "Again", **second})
    assert (caught.value.err_code, caught.value.path) == ("cortex.conflict.exists", path)


def test_source_objects_must_exist(database: Database, org: str) -> None:
    body = thing(
        properties=[
            {"name": "c_self", "label": "S", "type": "Reference", "sourceObject": "c_thing"},
            {"name": "c_acct", "label": "A", "type": "Reference", "sourceObject": "Account"},
            {"name": "c_bad", "label": "B", "type": "Reference", "sourceObject": "c_nowhere"},
            {
                "name": "c_doc",
                "label": "D",
                "type": "Document",
                "properties": [
                    {"name": "c_id", "label": "I", "type": "ObjectId", "sourceObject": "c_nowhere"}
                ],
            },
        ]
    )
    with database.begin() as connection, pytest.raises(Fault) as caught:
        create_object(connection, org, body)
    assert leaves(caught.value) == [
        ("properties[2].sourceObject", "cortex.notFound.sourceObject"),
        ("properties[3].properties[0].sourceObject", "cortex.notFound.sourceObject"),
    ]


def test_list_linked_properties_must_point_back(database: Database, org: str) -> None:
    with database.begin() as connection:
        create_object(connection, org, {"name": "c_parent", "label": "Parent"})
        create_object(
            connection,
            org,
            {
                "name": "c_child",
                "label": "Child",
                "properties": [
                    {
                        "name": "c_parent",
                        "label": "P",
                        "type": "Reference",
                        "sourceObject": "c_parent",
                        "indexed": True,
                    },
                    {"name": "c_loose", "label": "L", "type": "Reference", "sourceObject": "c_parent"},
                ],
            },
        )
    with database.begin() as connection:
        update_object(
            connection,
            org,
            "c_parent",
            {
                "properties": [
                    {
                        "name": "c_children",
                        "label": "C",
                        "type": "List",
                        "sourceObject": "c_child",
                        "linkedProperty": "c_parent",
                    }
                ]
            },
        )
    with database.begin() as connection, pytest.raises(Fault) as caught:
        update_object(
            connection,
            org,
            "c_parent",
            {
                "properties": [
                    {
                        "name": "c_others",
                        "label": "O",
                        "type": "List",
                        "sourceObject": "c_child",
                        "linkedProperty": "c_loose",
                    }
                ]
            },
        )
    assert leaves(caught.value) == [("properties[0].linkedProperty", "cortex.invalidArgument.unspecified")]


def test_indexes_follow_indexed(database: Database, org: str) -> None:
    name_index = index_name(org, "c_thing", "c_name")
    code_index = index_name(org, "c_thing", "c_doc.c_code")
    count_index = index_name(org, "c_thing", "c_count")
    with database.begin() as connection:
        created = create_object(connection, org, thing())
    assert {name_index, code_index} <= index_names(database) and count_index not in index_names(database)

    count_id = created.properties["c_count"].id
    with database.begin() as connection:
        update_object(
            connection,
            org,
            "c_things",
            {"properties": [{"_id": count_id, "indexed": True}, {"name": "c_name", "indexed": False}]},
        )
    names = index_names(database)
    assert count_index in names and name_index not in names and code_index in names
    with database.connect() as connection:
        assert get_object(connection, org, "c_thing").properties["c_count"].indexed

    with database.begin() as connection:
        delete_object(connection, org, "c_thing")
    assert not {name_index, code_index, count_index} & index_names(database)


def test_unique_properties_get_unique_indexes(database: Database, org: str) -> None:
    with database.begin() as connection:
        create_object(connection, org, thing())
        insert_document(connection, org, {"c_doc": {"c_code": "A"}})
        insert_document(connection, org, {"c_doc": {"c_code": None}})
        insert_document(connection, org, {"c_doc": {"c_code": None}})  # nulls never clash
        insert_document(connection, org, {"c_name": "no code"})
    with database.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        insert_document(connection, org, {"c_doc": {"c_code": "A"}})
    other = add_org(database, "other")
    with database.begin() as connection:
        create_object(connection, other, thing())
        insert_document(connection, other, {"c_doc": {"c_code": "A"}})  # each org has its own index


def test_the_index_serves_queries_on_the_path(database: Database, org: str) -> None:
    with database.begin() as connection:
        create_object(connection, org, thing())
        for number in range(50):
            insert_document(connection, org, {"c_name": f"n{number}"})
    # The query as the compiler writes it, with literal values as in the index predicate, so
    # the plan shows that the model's index serves the compiled SQL.
    from sqlalchemy.dialects import postgresql, sqlite

    from opencortex.model.definitions import build_query_schema
    from opencortex.query.compile import compile_where
    from opencortex.query.parse import parse_where

    with database.connect() as connection:
        definition = find_object(connection, org, "c_thing")
    condition = compile_where(parse_where({"c_name": "n5"}, build_query_schema(definition)), database.dialect)
    statement = sa.select(documents.c.id).where(documents.c.org_id == org, documents.c.object == "c_thing",
                                                condition)
    sql_dialect = postgresql.dialect() if database.dialect == "postgresql" else sqlite.dialect()
    query = str(statement.compile(dialect=sql_dialect, compile_kwargs={"literal_binds": True}))
    with database.begin() as connection:
        if database.dialect == "postgresql":
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + query))
        else:
            plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + query))
        assert index_name(org, "c_thing", "c_name") in plan
        assert len(connection.exec_driver_sql(query).fetchall()) == 1


def test_delete_removes_instances_of_that_object_only(database: Database, org: str) -> None:
    with database.begin() as connection:
        create_object(connection, org, thing())
        create_object(connection, org, {"name": "c_keep", "label": "Keep"})
        insert_document(connection, org, {"c_name": "x"})
        insert_document(connection, org, {}, object_name="c_keep")
        delete_object(connection, org, "c_thing")
        remaining = connection.execute(sa.select(documents.c.object)).scalars().all()
        assert remaining == ["c_keep"] and find_object(connection, org, "c_thing") is None


def test_objects_are_scoped_to_their_org(database: Database, org: str) -> None:
    other = add_org(database, "other")
    with database.begin() as connection:
        created = create_object(connection, org, thing())
    with database.begin() as connection:
        assert find_object(connection, other, "c_thing") is None
        assert find_object(connection, other, created.id) is None
        assert list_objects(connection, other) == []
        for action in (
            lambda: update_object(connection, other, "c_thing", {"label": "x"}),
            lambda: delete_object(connection, other, "c_thing"),
        ):
            with pytest.raises(Fault) as caught:
                action()
            assert caught.value.err_code == "cortex.invalidArgument.object"
        create_object(connection, other, thing(label="Theirs"))  # the same name is free in another org
    with database.connect() as connection:
        assert get_object(connection, org, "c_thing").label == "Thing"
        assert get_object(connection, other, "c_thing").label == "Theirs"


class TestUpdates:
    def test_changes_merge_by_id_or_name_and_add_new_properties(self, database: Database, org: str) -> None:
        with database.begin() as connection:
            created = create_object(connection, org, thing())
            updated = update_object(
                connection,
                org,
                "c_thing",
                {
                    "label": "Renamed",
                    "pluralName": "c_thingies",
                    "properties": [
                        {"_id": created.properties["c_count"].id, "label": "How many"},
                        {"name": "c_doc", "properties": [{"name": "c_extra", "label": "E", "type": "Date"}]},
                        {"name": "c_new", "label": "New", "type": "Boolean"},
                    ],
                },
            )
        assert updated.label == "Renamed" and updated.updated is not None
        assert list(updated.properties) == ["c_name", "c_count", "c_doc", "c_new"]
        assert updated.properties["c_count"].label == "How many"
        assert updated.find_property("c_doc.c_extra") is not None and updated.find_property("c_doc.c_code")
        with database.connect() as connection:
            assert get_object(connection, org, "c_thingies").id == created.id

    def test_faults_name_the_paths_the_client_wrote(self, database: Database, org: str) -> None:
        with database.begin() as connection:
            create_object(connection, org, thing())
        with database.begin() as connection, pytest.raises(Fault) as caught:
            update_object(
                connection,
                org,
                "c_thing",
                {
                    "name": "c_renamed",
                    "properties": [
                        {"name": "c_new", "label": "New", "type": "Number", "trim": True},
                        {"name": "c_count", "type": "String"},
                        {"name": "c_name", "array": True},
                        {"name": "c_doc", "properties": [{"name": "c_code", "indexed": False}]},
                        {"_id": new_object_id(), "label": "Ghost"},
                    ],
                },
            )
        # Fixed options first (checked while merging), then the merged definition's own problems,
        # each at the place in the body where the client wrote it. Turning indexed off under
        # unique is such a problem: unique properties must stay indexed.
        assert leaves(caught.value) == [
            ("name", "cortex.invalidArgument.unspecified"),
            ("properties[1].type", "cortex.invalidArgument.unspecified"),
            ("properties[2].array", "cortex.invalidArgument.unspecified"),
            ("properties[4]._id", "cortex.invalidArgument.unspecified"),
            ("properties[3].properties[0].unique", "cortex.invalidArgument.unspecified"),
            ("properties[0].trim", "cortex.invalidArgument.unspecified"),
        ]

    def test_unique_only_on_creation(self, database: Database, org: str) -> None:
        with database.begin() as connection:
            create_object(connection, org, thing())
        with database.begin() as connection, pytest.raises(Fault) as caught:
            update_object(connection, org, "c_thing", {"properties": [{"name": "c_name", "unique": True}]})
        assert leaves(caught.value) == [("properties[0].unique", "cortex.invalidArgument.unspecified")]
