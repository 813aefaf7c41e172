"""Mail: mailbox polling state, invite sequences, reminders that belong to an event."""
from peewee import *
from lifeorg.models.base import InstantField

def up(migrator, db):
    class Event(Model):
        class Meta:
            database = db
            table_name = 'event'

    class MailboxState(Model):
        name = CharField(unique=True)
        lease_until = InstantField(null=True)
        uidvalidity = BigIntegerField(null=True)
        last_uid = BigIntegerField(default=0)
        last_poll_at = InstantField(null=True)
        last_error = TextField(null=True)
        class Meta:
            database = db
            table_name = 'mailbox_state'
    db.create_tables([MailboxState])

    migrator.migrate(migrator.add_column('event', 'source_sequence', IntegerField(default=0)))
    migrator.migrate(migrator.add_column('reminder', 'event_id', ForeignKeyField(Event, field=Event.id, null=True, on_delete='CASCADE')))
    migrator.migrate(migrator.add_index('event', ('source_ref',)))


def down(migrator, db):
    migrator.migrate(migrator.drop_index('reminder', 'reminder_event_id'))
    migrator.migrate(migrator.drop_index('event', 'event_source_ref'))
    migrator.migrate(migrator.drop_column('reminder', 'event_id'))
    migrator.migrate(migrator.drop_column('event', 'source_sequence'))
    migrator.migrate(migrator.drop_table('mailbox_state'))
