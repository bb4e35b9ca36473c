"""Django's database sessions, read with one prepared statement.

Every request of a signed-in user, and every classification of an anonymous volunteer (whose
session names them), reads its session. Through the ORM that read cost a web process about a
millisecond of CPU, more than the database spent answering it; the row, its expiry and what
is done with it are Django's own (``SESSION_ENGINE = "portal.sessions"``).
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from .sql import server_cursor


class SessionStore(db.SessionStore):
    def load(self):
        with server_cursor(connections[router.db_for_read(self.model)]) as cursor:
            cursor.execute(f"SELECT session_data FROM {self.model._meta.db_table} WHERE session_key = %s "
                           "AND expire_date > %s", [self.session_key, timezone.now()], prepare=True)  # fmt: skip
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's: an unknown or expired key is replaced when saved
            return {}
        return self.decode(row[0])
