import sqlalchemy as sa


def test_tables_exist(database):
    with database.connect() as c:
        names = sa.inspect(c).get_table_names()
    assert {"orgs","accounts","apps","sessions","documents","object_definitions"} <= set(names)
