"""What an alert list downloads as (VOTable or CSV, portal.tables): the rows a dashboard shows."""

from portal.tables import Column, bounded, table_response

from . import feed

ALERT_COLUMNS = [
    Column("id", "i8", "the alert's id in the portal", ucd="meta.id;meta.main"),
    Column("object_id", "U", "the broker's object id", ucd="meta.id"),
    Column("candidate_id", "i8", "the broker's candidate id", ucd="meta.id"),
    Column("target", "U", "the observatory's target it was matched to", ucd="meta.id;meta.cross"),
    Column("ra_deg", "f8", "right ascension of the detection, ICRS", "deg", "pos.eq.ra;meta.main"),
    Column("dec_deg", "f8", "declination of the detection, ICRS", "deg", "pos.eq.dec;meta.main"),
    Column("observed_at", "U", "when it was observed, ISO 8601 UTC", ucd="time.epoch"),
    Column("mjd", "f8", "when it was observed, MJD (UTC)", "d", "time.epoch"),
    Column("band", "U", "the band of the detection", ucd="instr.bandpass"),
    Column("magnitude", "f8", "PSF-fit magnitude on the difference image", "mag", "phot.mag"),
    Column("magnitude_error", "f8", "uncertainty of magnitude", "mag", "stat.error;phot.mag"),
    Column("real_bogus", "f8", "P(real) from the real-bogus model", ucd="stat.probability"),
    Column("class", "U", "what the light-curve model said it is", ucd="src.class"),
    Column("class_probability", "f8", "the light-curve model's probability of that class", ucd="stat.probability"),
    Column("filters", "U", "the alert filters it met, separated by '; '"),
    Column("received_at", "U", "when the portal received it, ISO 8601 UTC", ucd="time.processing"),
]


def alert_download(tenant, alerts, fmt, *, filename="alerts", title="Alerts"):
    """Every alert of ``alerts`` (a queryset, in its order), as the dashboard's rows."""
    alerts = bounded(feed.for_messages(alerts).prefetch_related("filter_matches__alert_filter"))
    rows = [(said["id"], said["object_id"], said["candidate_id"], said["target"]["name"] if said["target"] else None,
             said["ra_deg"], said["dec_deg"], said["observed_at"], said["mjd"], said["band"], said["magnitude"],
             said["magnitude_error"], said["real_bogus"], said["class"], said["class_probability"],
             "; ".join(match["name"] for match in said["filters"]), said["received_at"])
            for said in feed.messages(tenant, alerts)]  # fmt: skip
    return table_response(ALERT_COLUMNS, rows, fmt=fmt, filename=filename, title=title)
