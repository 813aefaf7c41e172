"""The first schema: users, memories, tags, tasks, reminders, events, ledger, audit, inbound, outbox, backups."""
from peewee import *

from lifeorg.models.base import InstantField, JSONField


def up(migrator, db):
    class AuditEntry(Model):
        owner_id = BigIntegerField(index=True, null=True)
        entity_type = CharField(max_length=32)
        entity_id = CharField(max_length=64)
        action = CharField(max_length=16)
        actor = CharField(max_length=8)
        detail = JSONField(null=True)
        at = InstantField(index=True)
        class Meta:
            database = db
            table_name = 'audit_entry'
            indexes = ((('entity_type', 'entity_id'), False),)
    db.create_tables([AuditEntry])

    class Backup(Model):
        started_at = InstantField(index=True)
        finished_at = InstantField(null=True)
        location = TextField()
        size_bytes = BigIntegerField(null=True)
        status = CharField(index=True, max_length=32, default='running')
        error = TextField(null=True)
        class Meta:
            database = db
            table_name = 'backup'
    db.create_tables([Backup])

    class User(Model):
        created_at = InstantField()
        updated_at = InstantField()
        telegram_user_id = BigIntegerField(unique=True)
        chat_id = BigIntegerField(null=True)
        display_name = CharField(default='')
        language_code = CharField(null=True, max_length=16)
        timezone = CharField(max_length=64)
        default_time = CharField(max_length=5)
        quiet_start = CharField(null=True, max_length=5)
        quiet_end = CharField(null=True, max_length=5)
        active = BooleanField(index=True, default=True)
        class Meta:
            database = db
            table_name = 'users'
    db.create_tables([User])

    class Memory(Model):
        created_at = InstantField()
        updated_at = InstantField()
        owner = ForeignKeyField(User, on_delete='CASCADE')
        content = TextField(default='')
        media_type = CharField(null=True, max_length=16)
        telegram_file_id = CharField(null=True)
        media_path = CharField(null=True, max_length=512)
        status = CharField(index=True, max_length=32, default='confirmed')
        pending_expires_at = InstantField(index=True, null=True)
        pinned = BooleanField(default=False)
        source_chat_id = BigIntegerField(null=True)
        source_message_id = BigIntegerField(null=True)
        forward_origin = JSONField(null=True)
        class Meta:
            database = db
            table_name = 'memory'
            indexes = ((('owner', 'created_at'), False),)
    db.create_tables([Memory])

    class Event(Model):
        created_at = InstantField()
        updated_at = InstantField()
        owner = ForeignKeyField(User, on_delete='CASCADE')
        description = TextField()
        starts_at = InstantField(index=True, null=True)
        ends_at = InstantField(null=True)
        all_day_date = DateField(null=True)
        location = TextField(null=True)
        source_type = CharField(max_length=16)
        source_ref = CharField(null=True, max_length=998)
        memory = ForeignKeyField(Memory, null=True, on_delete='SET NULL')
        status = CharField(index=True, max_length=32, default='confirmed')
        expires_at = InstantField(index=True, null=True)
        class Meta:
            database = db
            table_name = 'event'
            indexes = ((('owner', 'status', 'starts_at'), False),)
    db.create_tables([Event])

    class Job(Model):
        created_at = InstantField()
        updated_at = InstantField()
        kind = CharField(index=True, max_length=64)
        idempotency_key = CharField(unique=True)
        owner = ForeignKeyField(User, null=True, on_delete='CASCADE')
        payload = JSONField(default=dict)
        status = CharField(index=True, max_length=32, default='queued')
        attempts = IntegerField(default=0)
        max_attempts = IntegerField(default=5)
        last_error = TextField(null=True)
        lease_until = InstantField(null=True)
        leased_by = CharField(null=True, max_length=128)
        started_at = InstantField(null=True)
        finished_at = InstantField(null=True)
        duration_ms = IntegerField(null=True)
        result = JSONField(null=True)
        model = CharField(null=True, max_length=128)
        tokens_in = IntegerField(null=True)
        tokens_out = IntegerField(null=True)
        cost_usd = DoubleField(null=True)
        latency_ms = IntegerField(null=True)
        class Meta:
            database = db
            table_name = 'job'
            indexes = ((('status', 'lease_until'), False),)
    db.create_tables([Job])

    class MemoryTag(Model):
        memory = ForeignKeyField(Memory, on_delete='CASCADE')
        owner = ForeignKeyField(User, on_delete='CASCADE')
        tag = CharField(max_length=64)
        status = CharField(index=True, max_length=32, default='suggested')
        suggested_at = InstantField(null=True)
        confirmed_at = InstantField(null=True)
        class Meta:
            database = db
            table_name = 'memory_tag'
            indexes = ((('memory', 'tag'), True), (('owner', 'tag'), False))
    db.create_tables([MemoryTag])

    class OutboxMessage(Model):
        created_at = InstantField()
        updated_at = InstantField()
        owner = ForeignKeyField(User, null=True, on_delete='CASCADE')
        chat_id = BigIntegerField()
        idempotency_key = CharField(unique=True)
        method = CharField(max_length=32)
        payload = JSONField()
        status = CharField(index=True, max_length=32, default='pending')
        attempts = IntegerField(default=0)
        telegram_message_id = BigIntegerField(null=True)
        last_error = TextField(null=True)
        sent_at = InstantField(null=True)
        class Meta:
            database = db
            table_name = 'outbox_message'
    db.create_tables([OutboxMessage])

    class ProcessedEmail(Model):
        mailbox = CharField()
        uidvalidity = BigIntegerField()
        uid = BigIntegerField()
        message_id = CharField(null=True, max_length=998)
        processed_at = InstantField()
        class Meta:
            database = db
            table_name = 'processed_email'
            indexes = ((('mailbox', 'uidvalidity', 'uid'), True), (('mailbox', 'message_id'), False))
    db.create_tables([ProcessedEmail])

    class ProcessedUpdate(Model):
        update_id = BigIntegerField(primary_key=True)
        telegram_user_id = BigIntegerField(null=True)
        received_at = InstantField(index=True)
        class Meta:
            database = db
            table_name = 'processed_update'
    db.create_tables([ProcessedUpdate])

    class Reminder(Model):
        created_at = InstantField()
        updated_at = InstantField()
        owner = ForeignKeyField(User, on_delete='CASCADE')
        memory = ForeignKeyField(Memory, null=True, on_delete='SET NULL')
        text = TextField()
        fire_at = InstantField(index=True)
        recurrence = TextField(null=True)
        state = CharField(index=True, max_length=32, default='scheduled')
        last_fired_at = InstantField(null=True)
        class Meta:
            database = db
            table_name = 'reminder'
            indexes = ((('state', 'fire_at'), False),)
    db.create_tables([Reminder])

    class Task(Model):
        created_at = InstantField()
        updated_at = InstantField()
        owner = ForeignKeyField(User, on_delete='CASCADE')
        memory = ForeignKeyField(Memory, null=True, on_delete='SET NULL')
        description = TextField()
        due_at = InstantField(index=True, null=True)
        recurrence = TextField(null=True)
        state = CharField(index=True, max_length=32, default='NOT_DONE')
        completed_at = InstantField(null=True)
        class Meta:
            database = db
            table_name = 'task'
            indexes = ((('owner', 'state', 'due_at'), False),)
    db.create_tables([Task])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('task'))
    migrator.migrate(migrator.drop_table('reminder'))
    migrator.migrate(migrator.drop_table('processed_update'))
    migrator.migrate(migrator.drop_table('processed_email'))
    migrator.migrate(migrator.drop_table('outbox_message'))
    migrator.migrate(migrator.drop_table('memory_tag'))
    migrator.migrate(migrator.drop_table('job'))
    migrator.migrate(migrator.drop_table('event'))
    migrator.migrate(migrator.drop_table('memory'))
    migrator.migrate(migrator.drop_table('users'))
    migrator.migrate(migrator.drop_table('backup'))
    migrator.migrate(migrator.drop_table('audit_entry'))
