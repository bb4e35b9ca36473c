"""Demo targets: well-known galaxies and stars at their real positions, and a few hundred
fainter synthetic galaxies scattered around them so cone searches have something to find."""

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from .models import Target, Visibility
from .sky import healpix_index

# name, ra, dec (ICRS degrees), kind, aliases
KNOWN = [
    ("M31", 10.6847, 41.2687, "galaxy", ["Andromeda Galaxy", "NGC 224"]),
    ("M33", 23.4621, 30.6599, "galaxy", ["Triangulum Galaxy", "NGC 598"]),
    ("M51", 202.4696, 47.1952, "galaxy", ["Whirlpool Galaxy", "NGC 5194"]),
    ("M81", 148.8882, 69.0653, "galaxy", ["Bode's Galaxy", "NGC 3031"]),
    ("M82", 148.9685, 69.6797, "galaxy", ["Cigar Galaxy", "NGC 3034"]),
    ("M101", 210.8023, 54.3490, "galaxy", ["Pinwheel Galaxy", "NGC 5457"]),
    ("M104", 189.9976, -11.6231, "galaxy", ["Sombrero Galaxy", "NGC 4594"]),
    ("M87", 187.7059, 12.3911, "galaxy", ["Virgo A", "NGC 4486"]),
    ("M64", 194.1821, 21.6830, "galaxy", ["Black Eye Galaxy", "NGC 4826"]),
    ("M63", 198.9555, 42.0293, "galaxy", ["Sunflower Galaxy", "NGC 5055"]),
    ("M74", 24.1740, 15.7836, "galaxy", ["NGC 628"]),
    ("M77", 40.6696, -0.0133, "qso", ["NGC 1068"]),
    ("M83", 204.2538, -29.8658, "galaxy", ["Southern Pinwheel", "NGC 5236"]),
    ("M94", 192.7211, 41.1203, "galaxy", ["NGC 4736"]),
    ("M106", 184.7400, 47.3040, "qso", ["NGC 4258"]),
    ("NGC 253", 11.8880, -25.2882, "galaxy", ["Sculptor Galaxy"]),
    ("NGC 300", 13.7229, -37.6844, "galaxy", []),
    ("NGC 891", 35.6392, 42.3491, "galaxy", []),
    ("NGC 1300", 49.9208, -19.4111, "galaxy", []),
    ("NGC 1365", 53.4016, -36.1404, "galaxy", ["Great Barred Spiral"]),
    ("NGC 2403", 114.2142, 65.6026, "galaxy", []),
    ("NGC 2841", 140.5110, 50.9765, "galaxy", []),
    ("NGC 3628", 170.0709, 13.5895, "galaxy", ["Hamburger Galaxy"]),
    ("NGC 4038", 180.4709, -18.8677, "galaxy", ["Antennae Galaxies"]),
    ("NGC 4565", 189.0866, 25.9877, "galaxy", ["Needle Galaxy"]),
    ("NGC 4631", 190.5334, 32.5415, "galaxy", ["Whale Galaxy"]),
    ("NGC 5128", 201.3651, -43.0191, "qso", ["Centaurus A"]),
    ("NGC 6946", 308.7180, 60.1539, "galaxy", ["Fireworks Galaxy"]),
    ("NGC 7331", 339.2671, 34.4159, "galaxy", []),
    ("NGC 7479", 346.2360, 12.3229, "galaxy", []),
    ("IC 342", 56.7021, 68.0961, "galaxy", []),
    ("LMC", 80.8942, -69.7561, "galaxy", ["Large Magellanic Cloud"]),
    ("SMC", 13.1866, -72.8286, "galaxy", ["Small Magellanic Cloud"]),
    ("SN 2011fe", 210.7742, 54.2737, "transient", ["PTF11kly"]),
    ("ASASSN-14lp", 191.2879, -0.4590, "transient", []),
    ("Betelgeuse", 88.7929, 7.4071, "variable", ["alf Ori"]),
    ("Polaris", 37.9546, 89.2641, "star", ["alf UMi"]),
    ("Vega", 279.2347, 38.7837, "star", ["alf Lyr"]),
    ("Mira", 34.8366, -2.9776, "variable", ["omi Cet"]),
    ("Sgr A*", 266.4168, -29.0078, "other", []),
    ("3C 273", 187.2779, 2.0524, "qso", []),
]
FIELD_GALAXIES_PER_TARGET = 8
FIELD_RADIUS_ARCMIN = 20


def _field_galaxies(rng):
    """Synthetic galaxies around each known galaxy, named by position like survey catalogues."""
    centres = [(ra, dec) for _, ra, dec, kind, _ in KNOWN if kind in ("galaxy", "qso")]
    for ra, dec in centres:
        centre = SkyCoord(ra * u.deg, dec * u.deg)
        n = FIELD_GALAXIES_PER_TARGET
        points = centre.directional_offset_by(
            rng.uniform(0, 360, n) * u.deg, np.sqrt(rng.uniform(0.01, 1, n)) * FIELD_RADIUS_ARCMIN * u.arcmin
        )
        for point in points:
            ra_text = point.ra.to_string(unit=u.hourangle, sep="", precision=2, pad=True)
            dec_text = point.dec.to_string(sep="", precision=1, alwayssign=True, pad=True)
            yield f"ARS J{ra_text}{dec_text}", float(point.ra.deg), float(point.dec.deg)


def load_demo_targets(tenant, user):
    """Add the demo targets the tenant does not have yet; known objects are public."""
    existing = set(Target.objects.filter(tenant=tenant).values_list("name", flat=True))
    rows = [
        dict(name=name, ra_deg=ra, dec_deg=dec, kind=kind, aliases=aliases, visibility=Visibility.PUBLIC,
             tags=["demo", "famous"])
        for name, ra, dec, kind, aliases in KNOWN
    ] + [
        dict(name=name, ra_deg=ra, dec_deg=dec, kind=Target.Kind.GALAXY, tags=["demo", "field"])
        for name, ra, dec in _field_galaxies(np.random.default_rng(2026))
    ]  # fmt: skip
    new = [row for row in rows if row["name"] not in existing]
    pixels = healpix_index([row["ra_deg"] for row in new], [row["dec_deg"] for row in new]) if new else []
    Target.objects.bulk_create(
        Target(tenant=tenant, created_by=user, healpix=int(pixel), **row) for row, pixel in zip(new, pixels)
    )
    return len(new)


# target, site, telescope, instrument, filter, night start (UTC), pixel scale
DEMO_FRAMES = [
    ("M51", "tfn", "1m0a", "sinistro", "r", "2026-03-14T22:10:00", 0.389),
    ("M51", "tfn", "1m0a", "sinistro", "g", "2026-03-14T22:14:00", 0.389),
    ("M51", "elp", "1m0a", "sinistro", "r", "2026-03-16T06:40:00", 0.389),
    ("M101", "tfn", "0m4a", "qhy600", "V", "2026-04-02T23:30:00", 0.571),
    ("M101", "elp", "1m0a", "sinistro", "i", "2026-04-03T07:05:00", 0.389),
    ("SN 2011fe", "tfn", "1m0a", "sinistro", "r", "2026-04-04T00:20:00", 0.389),
    ("M81", "elp", "1m0a", "sinistro", "r", "2026-02-10T05:00:00", 0.389),
    ("M104", "coj", "2m0a", "spectral", "r", "2026-04-20T12:30:00", 0.304),
    ("M83", "coj", "2m0a", "spectral", "g", "2026-04-21T13:10:00", 0.304),
    ("NGC 1365", "coj", "2m0a", "spectral", "i", "2026-01-05T11:45:00", 0.304),
    ("NGC 253", "coj", "2m0a", "spectral", "r", "2026-01-06T10:30:00", 0.304),
]
# Frames spoiled the ways real ones are, for the quality pages and the frame-quality model.
DEFECT_FRAMES = [
    ("M51", "tfn", "1m0a", "sinistro", "r", "2026-03-18T23:00:00", 0.389, ("clouds",)),
    ("M101", "elp", "1m0a", "sinistro", "r", "2026-04-05T06:30:00", 0.389, ("satellite",)),
    ("M81", "elp", "1m0a", "sinistro", "r", "2026-02-12T05:10:00", 0.389, ("defocus",)),
    ("M104", "coj", "2m0a", "spectral", "r", "2026-04-22T12:40:00", 0.304, ("cosmic_rays", "satellite")),
]


# M104, low enough in the south and high enough in the north for all three sites: its r frames
# (Siding Spring's above, one with a trail and cosmic rays) and these share one sky, for the
# demo's fused image (load_demo_fusion).
FUSION_TARGET, FUSION_BAND = "M104", "r"
FUSION_FRAMES = [
    ("M104", "tfn", "1m0a", "sinistro", "r", "2026-04-21T23:00:00", 0.389),
    ("M104", "elp", "1m0a", "sinistro", "r", "2026-04-22T05:30:00", 0.389),
    ("M104", "tfn", "1m0a", "sinistro", "r", "2026-04-22T23:10:00", 0.389),
]


# What the site's control software writes instead of the portal's codes (mapped by its header rules).
SITE_HEADER_NAMES = {"coj": ("FTS", "fs01", "{}p")}


# ASASSN-14lp (a type Ia supernova in NGC 4666), near the equator, so that all three sites follow
# it: every fourth night Teide, then McDonald seven hours later, then Siding Spring seven after
# that, in r; Teide and Siding Spring in g every other time. The sites' headers all say zero
# point 25, but McDonald's true one is 0.25 mag lower and Siding Spring's 0.15 higher, and each
# night's transparency moves them by a few hundredths; and in r each site's filter passes a
# little more or less red light (FOLLOW_UP_COLOUR_TERMS). The raw light curve is three offset
# curves; calibrated on the field's stars (load_demo_calibration), it is one.
FOLLOW_UP_TARGET = "ASASSN-14lp"
FOLLOW_UP_SITES = {"tfn": (0.0, 25.0), "elp": (7.0, 24.75), "coj": (14.0, 25.15)}  # hours after Teide, true zero point
FOLLOW_UP_EXPTIME_S = 60.0
FOLLOW_UP_COLOUR_TERMS = {"tfn": 0.02, "elp": -0.06, "coj": 0.04}  # r read fainter per mag of g − r past 0.7
HEADER_ZERO_POINT = 25.0


def follow_up_frames():
    """(site, filter, start, night number, true zero point) of each frame."""
    from astropy.time import Time

    first = Time("2026-05-01T22:00:00", scale="utc")
    rng = np.random.default_rng(14)
    for night in range(1, 30, 4):
        for site, (hours, zero_point) in FOLLOW_UP_SITES.items():
            transparency = float(rng.normal(0, 0.02))
            bands = ("r", "g") if site != "elp" and night % 8 == 1 else ("r",)
            for minutes, band in enumerate(bands):
                start = (first + night * u.day + (hours * 60 + 5 * minutes) * u.min).isot[:19]
                yield site, band, start, night, zero_point + transparency


def follow_up_field(ra, dec, site, band, night):
    """The followed field's stars and the supernova as ``site``'s ``band`` filter sees them on
    ``night``: stars of many colours (g − r from −0.1 to 1.5), and in r the site's colour term."""
    from .synthetic import sky_field

    stars = sky_field(ra, dec, radius_arcsec=150, count=60, seed=14, magnitudes=(14.5, 19.5))
    colours = np.random.default_rng(15).uniform(-0.1, 1.5, len(stars))
    supernova = (ra, dec, supernova_magnitude(night, "r"))
    field = [*zip(stars, colours), (supernova, supernova_magnitude(night, "g") - supernova[2])]
    if band == "g":
        return [(star_ra, star_dec, mag + colour) for (star_ra, star_dec, mag), colour in field]
    term = FOLLOW_UP_COLOUR_TERMS[site]
    return [(star_ra, star_dec, mag + term * (colour - 0.7)) for (star_ra, star_dec, mag), colour in field]


def supernova_magnitude(day, band):
    """A type Ia's shape: a rise to 15.0 in r on day 12, a fade after, faster and redder in g."""
    peak = 15.0 if band == "r" else 14.9
    if day <= 12:
        return peak + 0.02 * (12 - day) ** 2
    return peak + (0.05 if band == "r" else 0.09) * (day - 12)


def load_demo_frames(tenant, user):
    """Ingest synthetic frames pointed at demo targets, once (a tenant with frames is left as it is)."""
    import io

    from .ingest import ingest_frame
    from .models import Frame
    from .synthetic import make_frame, sky_field

    if Frame.objects.filter(tenant=tenant).exists():
        return 0
    positions = {name: (ra, dec) for name, ra, dec, *_ in KNOWN}
    plans = [(*row, (), None) for row in DEMO_FRAMES] + [(*row, None) for row in DEFECT_FRAMES]
    plans += [(FOLLOW_UP_TARGET, site, "1m0a", "sinistro", band, start, 0.389, (), (zero_point, night))
              for site, band, start, night, zero_point in follow_up_frames()]  # fmt: skip
    plans += [(*row, (), None) for row in FUSION_FRAMES]
    for number, (target, site, telescope, instrument, filter_name, start, scale, defects, truth) in enumerate(plans):
        ra, dec = positions[target]
        band = filter_name  # as the portal names it; the site's header may call it otherwise
        if site in SITE_HEADER_NAMES:
            telescope, instrument, filter_pattern = SITE_HEADER_NAMES[site]
            filter_name = filter_pattern.format(filter_name)
        # The fused and the followed targets' frames show one sky each; the others' stars are
        # drawn frame by frame.
        sources, stars, zero_point, exptime = [(ra, dec, 12000)], [], 25.0, 120.0
        if target == FUSION_TARGET:
            stars = sky_field(ra, dec, radius_arcsec=150, count=60, seed=104)
        elif truth is not None:
            (zero_point, night), sources, exptime = truth, [], FOLLOW_UP_EXPTIME_S
            stars = follow_up_field(ra, dec, site, band, night)
        hdu = make_frame(ra_deg=ra + 0.004, dec_deg=dec - 0.003, site=site, telescope=telescope, instrument=instrument,
                         filter_name=filter_name, obs_time=start, pixel_scale_arcsec=scale, width=512, height=512,
                         n_stars=0 if stars else 60, stars=stars, seed=number, extra_sources=sources,
                         with_wcs=number != 6, zero_point=zero_point, exptime_s=exptime, defects=defects)  # fmt: skip
        hdu.header["MAGZP"] = HEADER_ZERO_POINT  # what every site's pipeline writes, right or not
        hdu.header["OBJECT"] = target
        buffer = io.BytesIO()
        hdu.writeto(buffer)
        ingest_frame(
            tenant, user, buffer.getvalue(), f"{site}{telescope}-{start[:10].replace('-', '')}-{number:04d}.fits"
        )
    return len(plans)


def load_demo_calibration(tenant, user):
    """Ask once for the follow-up's calibration across sites in each of its bands; a worker
    ties them, and the target's page shows one light curve."""
    from .calibrated_photometry import request_calibration
    from .models import PhotometryCalibration

    if PhotometryCalibration.objects.filter(tenant=tenant).exists():
        return []
    target = Target.objects.get(tenant=tenant, name=FOLLOW_UP_TARGET)
    return [request_calibration(tenant, user, target, band) for band in ("r", "g")]


# The fused images the demo asks for: M104's, with a frame left out for its trail, and the
# followed supernova's, so that its page shows a deep image beside its fused light curve.
DEMO_FUSIONS = [(FUSION_TARGET, FUSION_BAND), (FOLLOW_UP_TARGET, "r")]


def load_demo_fusion(tenant, user):
    """Ask once for each of DEMO_FUSIONS' fused images, 120″ across, from the three sites'
    frames; a worker makes them."""
    from .fused_images import request_fusion
    from .models import FusedImage

    requested = []
    for name, band in DEMO_FUSIONS:
        target = Target.objects.get(tenant=tenant, name=name)
        if not FusedImage.objects.filter(tenant=tenant, target=target).exists():
            requested.append(request_fusion(tenant, user, target, band=band, size_arcsec=120))
    return requested
