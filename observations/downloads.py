"""What the target list and a target's light curve download as (VOTable or CSV, portal.tables)."""

from portal.tables import Column, bounded, table_response

TARGET_COLUMNS = [
    Column("id", "i8", "the target's id in the portal", ucd="meta.id"),
    Column("name", "U", "the target's name", ucd="meta.id;meta.main"),
    Column("ra_deg", "f8", "right ascension, ICRS, at the epoch", "deg", "pos.eq.ra;meta.main"),
    Column("dec_deg", "f8", "declination, ICRS, at the epoch", "deg", "pos.eq.dec;meta.main"),
    Column("epoch_jyear", "f8", "epoch of the position, Julian years", "yr", "time.epoch"),
    Column("pm_ra_cosdec_mas_yr", "f8", "proper motion in RA times cos(Dec)", "mas / yr", "pos.pm;pos.eq.ra"),
    Column("pm_dec_mas_yr", "f8", "proper motion in Dec", "mas / yr", "pos.pm;pos.eq.dec"),
    Column("kind", "U", "the kind of target", ucd="src.class"),
    Column("aliases", "U", "other names, separated by '; '", ucd="meta.id"),
    Column("tags", "U", "tags, separated by '; '", ucd="meta.note"),
    Column("visibility", "U", "tenant: its observatory's members only; public: everyone's"),
    Column("observatory", "U", "the observatory that owns it", ucd="meta.curation"),
]
SEPARATION = Column("separation_arcsec", "f8", "distance from the cone's centre", "arcsec", "pos.angDistance")

LIGHT_CURVE_COLUMNS = [
    Column("mjd", "f8", "mid-exposure, MJD (UTC)", "d", "time.epoch"),
    Column("filter", "U", "the filter's name", ucd="instr.filter"),
    Column("mag", "f8", "magnitude: calibrated, or instrumental where zero_point is empty", "mag", "phot.mag"),
    Column("mag_err", "f8", "uncertainty of mag", "mag", "stat.error;phot.mag"),
    Column("flux_adu", "f8", "background-subtracted flux in the aperture", "adu", "phot.count"),
    Column("flux_err_adu", "f8", "uncertainty of flux_adu", "adu", "stat.error;phot.count"),
    Column("zero_point", "f8", "the frame's photometric zero point", "mag", "phot.calib"),
    Column("aperture_radius_arcsec", "f8", "aperture radius", "arcsec", "phys.angSize"),
    Column("site", "U", "the site that took the frame", ucd="instr.obsty"),
    Column("frame", "i8", "the frame's id in the portal", ucd="meta.id"),
    Column("mag_calibrated", "f8", "magnitude on the cross-site scale (empty until calibrated)", "mag", "phot.mag"),
    Column("mag_calibrated_err", "f8", "uncertainty of mag_calibrated with the zero point's", "mag", "stat.error"),
    Column("zero_point_calibrated", "f8", "the frame's zero point fitted on the shared stars", "mag", "phot.calib"),
]


def target_download(targets, fmt, *, cone=None, filename="targets"):
    """Every target of ``targets`` (a queryset, or the cone search's list nearest first)."""
    columns = TARGET_COLUMNS + ([SEPARATION] if cone else [])
    rows = []
    for target in bounded(targets):
        row = (target.pk, target.name, target.ra_deg, target.dec_deg, target.epoch_jyear, target.pm_ra_cosdec_mas_yr,
               target.pm_dec_mas_yr, target.kind, "; ".join(target.aliases), "; ".join(target.tags), target.visibility,
               target.tenant.slug)  # fmt: skip
        rows.append(row + ((target.separation_deg * 3600,) if cone else ()))
    title = "Targets"
    if cone:
        title += f" within {cone[1].to_value('arcmin'):g} arcmin of {cone[0].to_string('hmsdms')}"
    return table_response(columns, rows, fmt=fmt, filename=filename, title=title)


def light_curve_download(target, points, fmt):
    """A target's photometry, oldest first, one row a measurement, with its calibrated value."""
    rows = []
    for point in bounded(points):
        calibrated = getattr(point, "calibrated", None)
        rows.append((point.mjd, point.filter_name, point.mag, point.mag_err, point.flux_adu, point.flux_err_adu,
                     point.zero_point, point.aperture_radius_arcsec, point.site.code if point.site else None,
                     point.link.frame_id, calibrated.mag if calibrated else None,
                     calibrated.mag_err if calibrated else None,
                     calibrated.calibration.zero_point if calibrated else None))  # fmt: skip
    title = f"Light curve of {target.name} (RA {target.ra_deg:.6f} deg, Dec {target.dec_deg:+.6f} deg)"
    return table_response(LIGHT_CURVE_COLUMNS, rows, fmt=fmt, filename=f"light-curve-{target.pk}", title=title)


FUSED_LIGHT_CURVE_COLUMNS = [
    Column("mjd", "f8", "inverse-variance weighted mid-time of the epoch, MJD (UTC)", "d", "time.epoch"),
    Column("filter", "U", "the filter's name", ucd="instr.filter"),
    Column("mag", "f8", "magnitude of the epoch's inverse-variance weighted mean flux", "mag", "phot.mag"),
    Column("mag_err", "f8", "uncertainty of mag", "mag", "stat.error;phot.mag"),
    Column("measurements", "i4", "measurements combined", ucd="meta.number"),
    Column("sites", "U", "the sites that measured it, separated by '; '", ucd="instr.obsty"),
    Column("calibrated", "U", "yes: on the cross-site scale; no: each site's own zero point", ucd="meta.code"),
    Column("chi2", "f8", "the measurements' scatter about the mean, per degree of freedom", ucd="stat.fit.chi2"),
]


def fused_light_curve_download(target, curve, fmt):
    """A target's light curve fused across sites, one row an epoch and band."""
    rows = [(epoch.mjd, epoch.band, epoch.mag, epoch.mag_err, epoch.count, "; ".join(epoch.sites),
             "yes" if epoch.calibrated else "no", epoch.chi2) for epoch in curve.epochs]  # fmt: skip
    title = (f"Light curve of {target.name} fused across sites, epochs of {curve.window_hours:g} h "
             f"(RA {target.ra_deg:.6f} deg, Dec {target.dec_deg:+.6f} deg)")  # fmt: skip
    return table_response(FUSED_LIGHT_CURVE_COLUMNS, rows, fmt=fmt, filename=f"fused-light-curve-{target.pk}",
                          title=title)  # fmt: skip
