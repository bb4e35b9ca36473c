"""Importing target lists: CSV (any delimiter astropy recognises) and VOTable.

Rows are imported one by one: a row with a bad position or a duplicate name is reported
with its reason and the rest carry on, the way astronomers expect a list to be read. A
file that cannot be read as a table at all is refused whole.
"""

import io
from dataclasses import dataclass, field

from astropy.io import ascii as astropy_ascii
from astropy.io import votable
from astropy.table import Table
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Target
from .services import create_target
from .sky import PositionError, parse_position

MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024
COLUMNS = {
    "name": ("name", "target", "object", "main_id", "id", "designation"),
    "ra": ("ra", "ra_deg", "raj2000", "_raj2000", "ra_icrs", "radeg", "alpha"),
    "dec": ("dec", "dec_deg", "dej2000", "_dej2000", "decj2000", "dec_icrs", "dedeg", "delta"),
    "kind": ("kind", "type", "otype"),
    "tags": ("tags",),
}


class TargetListError(ValueError):
    """The file as a whole cannot be imported; the message says why."""


@dataclass
class ImportReport:
    rows: int = 0
    created: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (row number, name, reason)

    def as_dict(self):
        return {
            "rows": self.rows,
            "created": [target.name for target in self.created],
            "skipped": [{"row": row, "name": name, "reason": reason} for row, name, reason in self.skipped],
        }


def read_table(data, filename=""):
    if len(data) > MAX_BYTES:
        size = f"{len(data) / 1e6:.1f} MB"
        raise TargetListError(f"{filename or 'the file'} is {size}; target lists are limited to 5 MB.")
    text_start = data[:200].lstrip().lower()
    try:
        if filename.lower().endswith((".xml", ".vot")) or text_start.startswith((b"<?xml", b"<votable")):
            return votable.parse_single_table(io.BytesIO(data)).to_table(use_names_over_ids=True)
        return astropy_ascii.read(data.decode("utf-8-sig"), guess=True, fast_reader=False)
    except Exception as error:  # astropy raises many kinds for unreadable input
        raise TargetListError(f"{filename or 'the file'} is not a CSV or VOTable target list ({error}).") from error


def _column(table: Table, role):
    names = {name.lower(): name for name in table.colnames}
    for candidate in COLUMNS[role]:
        if candidate in names:
            return names[candidate]
    return None


def import_targets(tenant, user, data, filename="", *, visibility="tenant"):
    """Create a target for each row; returns an ImportReport of what was created and skipped."""
    table = read_table(data, filename)
    if len(table) > MAX_ROWS:
        raise TargetListError(f"the list has {len(table)} rows; import at most {MAX_ROWS} at a time.")
    columns = {role: _column(table, role) for role in COLUMNS}
    missing = [role for role in ("name", "ra", "dec") if columns[role] is None]
    if missing:
        raise TargetListError(
            f"no {' or '.join(missing)} column; found {', '.join(table.colnames)}. "
            f"Name columns e.g. {COLUMNS['name'][0]}, {COLUMNS['ra'][0]}, {COLUMNS['dec'][0]}."
        )
    kinds = set(Target.Kind.values)
    report = ImportReport(rows=len(table))
    for number, row in enumerate(table, start=1):
        name = str(row[columns["name"]]).strip()
        try:
            if not name or name == "--":
                raise ValidationError("the name is empty")
            coordinate = parse_position(f"{row[columns['ra']]} {row[columns['dec']]}")
            kind = str(row[columns["kind"]]).strip().lower() if columns["kind"] else ""
            tags = str(row[columns["tags"]]).split(";") if columns["tags"] else []
            with transaction.atomic():
                target = create_target(
                    tenant, user, name=name, coordinate=coordinate, visibility=visibility,
                    kind=kind if kind in kinds else Target.Kind.OTHER, tags=[t.strip() for t in tags if t.strip()],
                )  # fmt: skip
        except PositionError as error:
            report.skipped.append((number, name, error.message))
        except ValidationError as error:
            report.skipped.append((number, name, "; ".join(error.messages)))
        else:
            report.created.append(target)
    return report
