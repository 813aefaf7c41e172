"""Events found in email: calendar invites, schema.org reservations, appointment prose.

``extract.extract_events`` is the entry point; ``message.Mail`` is what it reads.
"""
