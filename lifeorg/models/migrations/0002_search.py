"""Full-text search: search_doc, its database-kept index (FTS5 or tsvector), memory.description.

Generated from the schema diff, then completed by hand: the full-text index is not a model
(the FTS5 virtual table, the tsvector table and their triggers are raw SQL per dialect), so
it stays out of ``diff_models``, which ignores tables no model names.
"""
from peewee import *

from lifeorg.models.base import InstantField

# SQLite: the terms are already folded and split by lifeorg.pipeline.search_text; the
# tokenizer only has to keep each term whole, emoji (So) included. Prefix indexes for 2 and
# 3 characters make the short prefixes of search-as-you-type cheap.
SQLITE_SQL = [
    """CREATE VIRTUAL TABLE search_doc_fts USING fts5(
        terms, content='search_doc', content_rowid='id',
        tokenize="unicode61 remove_diacritics 2 categories 'L* N* Co M* So'",
        prefix='2 3')""",
    """CREATE TRIGGER search_doc_fts_insert AFTER INSERT ON search_doc BEGIN
        INSERT INTO search_doc_fts (rowid, terms) VALUES (new.id, new.terms);
    END""",
    """CREATE TRIGGER search_doc_fts_delete AFTER DELETE ON search_doc BEGIN
        INSERT INTO search_doc_fts (search_doc_fts, rowid, terms)
        VALUES ('delete', old.id, old.terms);
    END""",
    """CREATE TRIGGER search_doc_fts_update AFTER UPDATE OF terms ON search_doc BEGIN
        INSERT INTO search_doc_fts (search_doc_fts, rowid, terms)
        VALUES ('delete', old.id, old.terms);
        INSERT INTO search_doc_fts (rowid, terms) VALUES (new.id, new.terms);
    END""",
]

# PostgreSQL: the terms become a tsvector literal with their positions (no text search
# parser, dictionary, locale or extension involved), kept in a side table with a GIN index.
# 16383 is the largest position a tsvector holds.
POSTGRES_SQL = [
    """CREATE TABLE search_doc_vector (
        doc_id BIGINT PRIMARY KEY REFERENCES search_doc (id) ON DELETE CASCADE,
        vector TSVECTOR NOT NULL)""",
    "CREATE INDEX search_doc_vector_gin ON search_doc_vector USING GIN (vector)",
    r"""CREATE FUNCTION search_terms_vector(terms TEXT) RETURNS TSVECTOR
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(string_agg(
            '''' || replace(replace(term, '\', '\\'), '''', '''''') || ''':'
                || least(position, 16383),
            ' '), '')::tsvector
        FROM unnest(string_to_array(terms, ' ')) WITH ORDINALITY AS t (term, position)
        WHERE term <> ''
    $$""",
    """CREATE FUNCTION search_doc_vector_sync() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO search_doc_vector (doc_id, vector)
        VALUES (NEW.id, search_terms_vector(NEW.terms))
        ON CONFLICT (doc_id) DO UPDATE SET vector = EXCLUDED.vector;
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER search_doc_vector_sync AFTER INSERT OR UPDATE OF terms ON search_doc
    FOR EACH ROW EXECUTE FUNCTION search_doc_vector_sync()""",
]


def up(migrator, db):
    class Event(Model):
        class Meta:
            database = db
            table_name = 'event'

    class Memory(Model):
        class Meta:
            database = db
            table_name = 'memory'

    class User(Model):
        class Meta:
            database = db
            table_name = 'users'

    class SearchDoc(Model):
        id = BigIntegerField(primary_key=True)
        owner = ForeignKeyField(User, on_delete='CASCADE')
        memory = ForeignKeyField(Memory, unique=True, null=True, on_delete='CASCADE')
        event = ForeignKeyField(Event, unique=True, null=True, on_delete='CASCADE')
        body = TextField()
        terms = TextField()
        updated_at = InstantField()
        class Meta:
            database = db
            table_name = 'search_doc'
    db.create_tables([SearchDoc])

    migrator.migrate(migrator.add_column('memory', 'description', TextField(null=True)))

    for statement in POSTGRES_SQL if isinstance(db, PostgresqlDatabase) else SQLITE_SQL:
        db.execute_sql(statement)


def down(migrator, db):
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql('DROP TABLE search_doc_vector')
        db.execute_sql('DROP TRIGGER search_doc_vector_sync ON search_doc')
        db.execute_sql('DROP FUNCTION search_doc_vector_sync(), search_terms_vector(TEXT)')
    else:
        db.execute_sql('DROP TABLE search_doc_fts')  # its triggers go with search_doc
    migrator.migrate(migrator.drop_table('search_doc'))
    migrator.migrate(migrator.drop_column('memory', 'description'))
