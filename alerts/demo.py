"""The demo's alert stream: tonight's synthetic alerts written as Avro files and replayed a
few a second, so the dashboard fills live while someone watches; and two filters for the
demo astronomer, so narrowing the feed can be tried at once.

Each start writes a new night (new candidates), so a restarted portal fills live again
rather than replaying alerts it already has. One alert in eight falls on a demo target, so
target filters and crossmatches have something to show.
"""

import numpy as np
from astropy.time import Time
from django.conf import settings

from observations.models import Target

from .avro import write_alerts
from .models import AlertFilter, AlertStream
from .synthetic import make_alert

STREAM_NAME = "demo-night"
ALERTS_PER_NIGHT = 1200
ALERTS_PER_FILE = 100
RATE_PER_S = 2.0  # ten minutes of arrivals
ON_A_TARGET = 8  # one alert in this many is on a demo target
DEMO_FILTERS = [
    ("Bright real supernovae", {"min_real_bogus": 0.8, "classes": ["sn_ia", "sn_ii"], "brighter_than": 19.5}),
    ("On our targets", {"known_targets_only": True}),
]


def load_demo_alerts(tenant, astronomer):
    """Write tonight's alerts and point the tenant's replay stream at them; give the
    astronomer the demo filters. Returns the stream."""
    folder = settings.VAR_DIR / "alerts" / tenant.slug
    targets = list(Target.objects.filter(tenant=tenant, tags__contains=["demo"]).values_list("ra_deg", "dec_deg"))
    write_demo_night(folder, seed=int(Time.now().unix * 1000), targets=targets)
    stream, _ = AlertStream.objects.update_or_create(
        tenant=tenant, name=STREAM_NAME,
        defaults={"kind": "replay", "folder": str(folder), "rate_per_s": RATE_PER_S, "enabled": True,
                  "replayed_file": "", "replayed_count": 0},
    )  # fmt: skip
    for name, conditions in DEMO_FILTERS:
        AlertFilter.objects.get_or_create(tenant=tenant, user=astronomer, name=name,
                                          defaults={"conditions": conditions})  # fmt: skip
    return stream


def write_demo_night(folder, *, seed, targets, count=ALERTS_PER_NIGHT):
    """Replace the folder's Avro files with ``count`` alerts detected over the coming
    minutes, in files of ALERTS_PER_FILE, some on ``targets`` ((ra, dec) in degrees)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.avro"):
        old.unlink()
    rng = np.random.default_rng(seed)
    now = Time.now().mjd
    packets = []
    for index in range(count):
        position = {}
        if targets and index % ON_A_TARGET == 0:
            ra, dec = targets[rng.integers(len(targets))]
            # Within an arcsecond of the target's position: the crossmatch radius is 1.5″.
            position = {"ra_deg": (ra + rng.normal(0, 1e-4)) % 360, "dec_deg": float(np.clip(dec, -89.9, 89.9))}
        mjd = now + index / RATE_PER_S / 86400
        packets.append(make_alert(seed * 10_007 + index, mjd=mjd, **position).packet)
    for start in range(0, count, ALERTS_PER_FILE):
        with (folder / f"night-{seed}-{start // ALERTS_PER_FILE:03d}.avro").open("wb") as avro:
            write_alerts(avro, packets[start : start + ALERTS_PER_FILE])
    return packets
