"""Numbered schema migrations, applied in order by ``lifeorg db upgrade``.

Each file defines ``up(migrator, db)`` over frozen copies of the tables it touches, so a
migration keeps meaning what it meant when it was written. Write the next one with
``python -m lifeorg.models.migrations NAME`` after changing a model: it diffs the models
against a database migrated to the current head and writes the file for you to review.
"""
