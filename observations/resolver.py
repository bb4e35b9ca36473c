"""Resolving object names to positions through CDS Sesame (SIMBAD, then NED, then VizieR).

This is astropy's Sesame client (``SkyCoord.from_name``) with the mirrors and time-out
from settings, so a deployment can point at its own mirror and tests at recorded replies.
Two failures are told apart: the resolver could not be reached (the form still takes
coordinates), and no database knows the name.
"""

from astropy.coordinates import name_resolve
from astropy.utils import data as astropy_data
from django.conf import settings

from .sky import PositionError


class ResolverUnavailable(PositionError):
    def __init__(self):
        super().__init__("position", "could not reach the name resolver (Sesame); enter the coordinates instead.")


class UnknownName(PositionError):
    def __init__(self, name):
        super().__init__("name", f"no catalogue knows {name!r}; check the spelling or enter the coordinates.")


def resolve_name(name):
    """The ICRS SkyCoord of ``name`` according to Sesame."""
    with (
        name_resolve.sesame_url.set(settings.NAME_RESOLVER_URLS),
        astropy_data.conf.set_temp("remote_timeout", settings.NAME_RESOLVER_TIMEOUT_S),
    ):
        try:
            return name_resolve.get_icrs_coordinates(name, parse=False, cache=False)
        except name_resolve.NameResolveError as error:
            if str(error).startswith("All Sesame queries failed"):
                raise ResolverUnavailable() from error
            raise UnknownName(name) from error
