"""The Alembic migrations build exactly the schema ``store.tables`` describes, on both databases.

The code reads and writes through ``tables.py``; the database it runs on was made by the
migrations. Where the two disagree (a column's type or nullability, an index, a partial index's
``WHERE``), the code's assumptions are wrong on every real installation while a schema made from
``tables.py`` would look fine.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from opencortex.store.database import MIGRATIONS, Database
from opencortex.store.tables import metadata


def test_tables_exist(database):
    with database.connect() as c:
        names = sa.inspect(c).get_table_names()
    assert {"orgs", "accounts", "apps", "sessions", "documents", "object_definitions"} <= set(names)


def test_the_database_is_at_the_one_head(database):
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"the migrations have more than one head: {heads}"
    with database.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == tuple(heads)


def test_migrations_produce_the_tables_module(database):
    """Tables, columns, types, nullability, defaults, keys, unique constraints and indexes."""
    with database.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_index_definitions_match_the_tables_module(database, tmp_path):
    """What ``compare_metadata`` does not look at: each index as the database itself states it
    (partial indexes' ``WHERE``, expressions, uniqueness), against a schema made from
    ``tables.py`` alone on the same kind of database."""
    with database.connect() as connection:
        migrated = _index_definitions(connection, None)
    with _schema_from_tables(database, tmp_path) as (connection, schema):
        expected = _index_definitions(connection, schema)
    assert migrated == expected
    # Not vacuous: the tables' own indexes are among those compared, a partial one too.
    assert {"ix_documents_owner", "ix_exports_queue", "ix_logs_expiry"} <= set(migrated)
    assert any(" WHERE " in definition for definition in migrated.values())


@contextmanager
def _schema_from_tables(database: Database, tmp_path: Path) -> Iterator[tuple[sa.Connection, str | None]]:
    """A connection to ``metadata.create_all`` on an empty database of the same kind: a new
    SQLite file, or a scratch schema (dropped afterwards) in the test's PostgreSQL database."""
    if database.dialect == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'from-tables.db'}")
        try:
            metadata.create_all(engine)
            with engine.connect() as connection:
                yield connection, None
        finally:
            engine.dispose()
        return
    schema = f"from_tables_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(database.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                metadata.create_all(connection.execution_options(schema_translate_map={None: schema}))
                yield connection, schema
            finally:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        engine.dispose()


def _index_definitions(connection: sa.Connection, schema: str | None) -> dict[str, str]:
    """Index name -> its definition as the database's catalog has it (schema name removed), for
    every table but Alembic's own."""
    if connection.dialect.name == "sqlite":
        statements = [(str(row[0]), str(row[1])) for row in connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name != 'alembic_version'"
        )]
        # SQLite keeps the statement text as written; only its spacing and quoting may differ.
        return {name: re.sub(r"\s+", " ", sql.replace('"', "")).strip() for name, sql in statements}
    schema = schema or "public"
    rows = [(str(row[0]), str(row[1])) for row in connection.execute(
        sa.text("SELECT indexname, indexdef FROM pg_indexes"
                " WHERE schemaname = :schema AND tablename != 'alembic_version'"),
        {"schema": schema},
    )]
    return {name: definition.replace(f" ON {schema}.", " ON ") for name, definition in rows}

