"""Frame queries shared by the pages and the API."""

from datetime import datetime, time, timedelta, timezone


def filter_frames(frames, params):
    """Narrow frames by site, telescope, filter, night, target and astrometry.

    ``night`` is the local calendar date the night began on, which is how observers name
    nights; it covers noon UTC of that date to noon UTC the next day.
    """
    if params.get("site"):
        frames = frames.filter(site=params["site"])
    if params.get("telescope"):
        frames = frames.filter(telescope=params["telescope"])
    if params.get("filter_name"):
        frames = frames.filter(filter_name__iexact=params["filter_name"])
    if params.get("night"):
        start = datetime.combine(params["night"], time(12), tzinfo=timezone.utc)
        frames = frames.filter(obs_time__gte=start, obs_time__lt=start + timedelta(days=1))
    if params.get("target"):
        frames = frames.filter(target_links__target__name__iexact=params["target"])
    if params.get("astrometry") in ("yes", "no"):
        frames = frames.filter(has_astrometry=params["astrometry"] == "yes")
    return frames
