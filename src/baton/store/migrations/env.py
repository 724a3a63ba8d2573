"""Alembic environment: baton passes the connection in; it never reads alembic.ini."""

from alembic import context

from baton.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
