"""The conversation: used buttons, refused strangers, onboarding, pending questions, albums."""
from peewee import *
from lifeorg.models.base import InstantField
from lifeorg.models.base import JSONField


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = 'users'

    class ButtonPress(Model):
        token_hash = CharField(primary_key=True, max_length=64)
        owner = ForeignKeyField(User, on_delete='CASCADE')
        pressed_at = InstantField()
        class Meta:
            database = db
            table_name = 'button_press'
    db.create_tables([ButtonPress])

    class RefusedUser(Model):
        telegram_user_id = BigIntegerField(primary_key=True)
        refused_at = InstantField()
        class Meta:
            database = db
            table_name = 'refused_user'
    db.create_tables([RefusedUser])

    migrator.migrate(migrator.add_column('users', 'onboarded_at', InstantField(null=True)))
    migrator.migrate(migrator.add_column('users', 'awaiting', JSONField(null=True)))
    migrator.migrate(migrator.add_column('memory', 'media_group_id', CharField(null=True, max_length=64)))
    migrator.migrate(migrator.add_index('memory', ('owner_id', 'media_group_id'), unique=True))
    migrator.migrate(migrator.add_index('memory', ('source_chat_id', 'source_message_id')))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('memory', 'memory_source_chat_id_source_message_id'))
    migrator.migrate(migrator.drop_index('memory', 'memory_owner_id_media_group_id'))
    migrator.migrate(migrator.drop_column('memory', 'media_group_id'))
    migrator.migrate(migrator.drop_column('users', 'awaiting'))
    migrator.migrate(migrator.drop_column('users', 'onboarded_at'))
    migrator.migrate(migrator.drop_table('refused_user'))
    migrator.migrate(migrator.drop_table('button_press'))
