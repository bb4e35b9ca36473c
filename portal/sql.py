"""Statements the ORM cannot write, or writes too slowly for the path they are on."""

from contextlib import contextmanager

import psycopg
from django.db import connections


@contextmanager
def server_cursor(connection=None):
    """A psycopg cursor on a Django ``connection`` (the default one when None) that binds
    parameters on the server.

    Django binds its own queries on the client, quoting every value into the text, so
    PostgreSQL parses and plans each one afresh, and an array of ten thousand ids is ten
    thousand literals. Here values travel apart from the statement, and a statement run
    with ``prepare=True`` is parsed and planned once per connection (its plan is generic:
    ``plan_cache_mode`` in the settings). Errors are Django's (an IntegrityError is
    ``django.db.IntegrityError``), and the statements join the connection's transaction."""
    connection = connections["default"] if connection is None else connection
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor
