"""The images of a memory (one for a photo, several for an album)."""
from peewee import *
from lifeorg.models.base import InstantField


def up(migrator, db):
    class Memory(Model):
        class Meta:
            database = db
            table_name = 'memory'

    class User(Model):
        class Meta:
            database = db
            table_name = 'users'

    class MemoryImage(Model):
        memory = ForeignKeyField(Memory, on_delete='CASCADE')
        owner = ForeignKeyField(User, on_delete='CASCADE')
        telegram_file_id = CharField()
        sha256 = CharField(index=True, max_length=64)
        path = CharField(max_length=512)
        model_path = CharField(max_length=512)
        width = IntegerField()
        height = IntegerField()
        created_at = InstantField()
        class Meta:
            database = db
            table_name = 'memory_image'
            indexes = ((('memory', 'telegram_file_id'), True),)
    db.create_tables([MemoryImage])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('memory_image'))
