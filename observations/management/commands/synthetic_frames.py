from pathlib import Path

from astropy import units as u
from astropy.time import Time
from django.core.management.base import BaseCommand, CommandError

from observations.demo import KNOWN
from observations.synthetic import make_frame

# The demo sites' 1 m telescopes take turns, as a network follows a target through the night.
SITES = [("tfn", "1m0a", "sinistro"), ("elp", "1m0a", "sinistro")]


class Command(BaseCommand):
    help = (
        "Write a night of synthetic FITS frames of one of the demo's targets, from the demo sites, "
        "into a folder: something to try `ingest` on."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--target", default="M51", help="a demo target's name (default M51)")
        parser.add_argument("--count", type=int, default=12)
        parser.add_argument("--size", type=int, default=1024, help="pixels a side")
        parser.add_argument("--night", default="2026-06-01", help="YYYY-MM-DD")

    def handle(self, *args, folder, target, count, size, night, **options):
        known = {name.lower(): (name, ra, dec) for name, ra, dec, *_ in KNOWN}
        if target.lower() not in known:
            raise CommandError(f"{target!r} is not a demo target; try one of {', '.join(sorted(known)[:8])}…")
        if not 16 <= size <= 8192 or count < 1:
            raise CommandError("--size must be 16 … 8192 pixels and --count at least 1.")
        try:
            start = Time(f"{night}T21:00:00", scale="utc")
        except ValueError as error:
            raise CommandError(f"--night {night!r} is not a date (YYYY-MM-DD).") from error
        name, ra, dec = known[target.lower()]
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(count):
            site, telescope, instrument = SITES[number % len(SITES)]
            taken = start + number * 20 * u.min
            hdu = make_frame(ra_deg=ra + 0.003, dec_deg=dec - 0.002, site=site, telescope=telescope,
                             instrument=instrument, filter_name="g" if number % 3 == 2 else "r", obs_time=taken.isot,
                             width=size, height=size, n_stars=max(20, size**2 // 10_000), seed=number,
                             extra_sources=[(ra, dec, 12000)], zero_point=25.0,
                             defects=("cosmic_rays",) if number % 5 == 4 else ())  # fmt: skip
            hdu.header["OBJECT"] = name
            path = folder / f"{site}{telescope}-{night.replace('-', '')}-{number:04d}.fits"
            hdu.writeto(path, overwrite=True)
            self.stdout.write(str(path))
        self.stdout.write(self.style.SUCCESS(f"{count} frames of {name} in {folder}."))
