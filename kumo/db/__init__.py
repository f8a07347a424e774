"""Persistence: SQLAlchemy models, the outbox and Alembic migrations.

Inputs: unit-of-work calls from the service layer. Outputs: committed rows
and, in the same transaction, outbox events with commit-ordered revisions
that the watch feed streams to agents.
"""
