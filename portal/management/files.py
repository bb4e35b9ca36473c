"""What the commands that take files and folders share: finding the files, and a progress bar."""

import sys
from pathlib import Path

from django.core.management.base import CommandError


def files_under(paths, suffixes):
    """The files named, and those found (recursively) in the folders named whose names end in
    one of ``suffixes`` (any case), in order; a path that does not exist stops the command."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        elif path.exists():
            yield path
        else:
            raise CommandError(f"{path} does not exist.")


def progress(items, total):
    """``items`` as they come (``total`` of them), a bar on stderr moving after each when stderr
    is a terminal: a log file gets the command's own lines and no carriage returns."""
    drawing = sys.stderr.isatty()
    done = 0
    for done, item in enumerate(items, start=1):
        yield item
        if drawing:
            bar = "#" * (30 * done // total)
            sys.stderr.write(f"\r[{bar:<30}] {done}/{total}")
    if drawing and done:
        sys.stderr.write("\n")
