"""ASGI entry point: HTTP through Django, websockets through Channels with session auth (from an
allowed origin) or an API key (from any client; see websocket_origin)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from .request_threads import ReusedThreadsASGIHandler  # noqa: E402  (Django's handlers need the settings)

django_asgi_app = ReusedThreadsASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the apps loaded above)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from .routing import websocket_urlpatterns  # noqa: E402
from .websocket_origin import BrowserOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
