"""The active tenant, carried to PostgreSQL so row-level security can enforce it.

The tenant lives in a context variable (so threads, asyncio tasks and Celery tasks each
keep their own) and is copied into the connection's ``app.tenant_id`` setting, which every
tenant table's policy reads. A connection opened later (reconnect, new thread, or one the
ASGI server borrows from its pool) gets the value from ``connection_created``, so a query can
never run with a stale tenant; a pooled connection is also cleared as it goes back.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from .rls import sign_context
from .sql import server_cursor

# The observatory a signed-in session works in: the last one whose pages it opened (the admin
# and the API on a session act in it).
SESSION_KEY = "active_tenant"

_active = ContextVar("arrayscope_tenant", default=(None, None))


def current_tenant():
    """The tenant whose rows the current request or task may see, or None."""
    return _active.get()[0]


def _active_ids():
    tenant, user = _active.get()
    tenant_id = tenant.pk if tenant is not None else None
    user_id = user.pk if user is not None and user.is_authenticated else None
    return tenant_id, user_id


def _apply(connection, key_prefix=""):
    """Set the connection's tenant, user and API-key prefix, signed for this connection
    (``portal.rls``): the policies ignore settings that are not.

    A setting the connection already holds is not sent again (a request activates the same
    scope more than once: one round trip less each time). The connection's settings are only
    known when they were set outside a transaction: one set inside may be undone by a rollback,
    so it is sent again next time."""
    tenant_id, user_id = (("" if value is None else str(value)) for value in _active_ids())
    transactional = connection.in_atomic_block or not connection.get_autocommit()
    scope = (tenant_id, user_id, key_prefix)
    if not transactional and getattr(connection, "tenancy_scope", None) == scope:
        return
    signature = sign_context(connection.connection.info.backend_pid, tenant_id, user_id, key_prefix)
    connection.tenancy_scope = None  # unknown until the statement below has run
    with server_cursor(connection) as cursor:
        cursor.execute(
            "SELECT set_config('app.tenant_id', %s, false), set_config('app.user_id', %s, false), "
            "set_config('app.api_key_prefix', %s, false), set_config('app.context_sig', %s, false)",
            [tenant_id, user_id, key_prefix, signature], prepare=True,
        )  # fmt: skip
    connection.tenancy_scope = None if transactional else scope


def pool_options(size):
    """Django's ``OPTIONS["pool"]`` for a pool of at most ``size`` connections. Each borrowing
    is a ``connection_created`` (which sets the borrower's tenant); each return clears it."""
    return {"min_size": min(2, size), "max_size": size, "timeout": 30, "reset": _clear_pooled_connection}


def _clear_pooled_connection(connection):
    """The pool's reset of a (psycopg) connection given back: while it waits for its next
    borrower it belongs to no tenant, user or API key."""
    connection.execute(
        "SELECT set_config('app.tenant_id', '', false), set_config('app.user_id', '', false), "
        "set_config('app.api_key_prefix', '', false), set_config('app.context_sig', '', false)"
    )


def activate(tenant, user=None):
    """Make ``tenant`` (and ``user``, for their own memberships) visible from now on."""
    _active.set((tenant, user))
    connection = connections["default"]
    if connection.connection is not None:
        _apply(connection)


def deactivate():
    """Hide every tenant's rows again."""
    activate(None, None)


@contextmanager
def tenant_context(tenant, user=None):
    """Run a block as ``tenant``; the previous tenant is restored afterwards."""
    previous = _active.get()
    activate(tenant, user)
    try:
        yield tenant
    finally:
        activate(*previous)


@contextmanager
def api_key_visible(prefix):
    """Let the one API key with this public prefix be read (authentication looks it up before
    any tenant is known), and hide it again afterwards."""
    connection = connections["default"]
    connection.ensure_connection()
    _apply(connection, key_prefix=prefix)
    try:
        yield
    finally:
        _apply(connection)


EMPTY_SCOPE = ("", "", "")


@receiver(connection_created)
def _scope_new_connection(sender, connection, **kwargs):
    """A new connection holds no settings, and a pooled one was cleared when it was given back
    (``_clear_pooled_connection``): either sees what the empty scope sees (no tenant's rows),
    so the empty scope is known without a round trip; any other is set now."""
    if connection.alias == "default":
        connection.tenancy_scope = EMPTY_SCOPE
        _apply(connection)
