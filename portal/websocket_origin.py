"""Which websockets must come from an allowed origin.

A browser sends its cookies with every websocket it opens, whichever site's page opened it,
and always says that page's ``Origin``: Channels' check of the origin against
``ALLOWED_HOSTS`` is what keeps another site from riding a member's session. Clients that are
not browsers (Python's ``websockets``, a partner's script) send no ``Origin`` and have no
cookies to ride; they authenticate with an API key. So a connection without ``Origin`` is let
through with its cookies dropped (a key or nothing), and one with an ``Origin`` is checked.
"""

from channels.security.websocket import AllowedHostsOriginValidator


class BrowserOriginValidator:
    def __init__(self, application):
        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        headers = scope.get("headers", [])
        if any(name == b"origin" for name, _ in headers):
            return await self.checked(scope, receive, send)
        without_cookies = [(name, value) for name, value in headers if name != b"cookie"]
        return await self.application({**scope, "headers": without_cookies}, receive, send)
