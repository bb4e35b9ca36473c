"""Tables astronomers download — target lists, light curves, alert lists — from the pages and
the API alike: an IVOA VOTable (TOPCAT, pyvo and astropy read its units and descriptions) or
CSV (a spreadsheet, pandas; each column's unit is in its name).

A download holds every row the search matched, not one page of them, up to
``DOWNLOAD_ROWS_MAX``: a bigger one is refused naming the count, rather than cut short
without a word."""

import io
from dataclasses import dataclass

import numpy as np
from astropy.io.votable import from_table
from astropy.table import MaskedColumn, Table
from django.http import HttpResponse

from .parameters import ParameterInvalid

DOWNLOAD_FORMATS = {"votable": ("application/x-votable+xml", "vot"), "csv": ("text/csv; charset=utf-8", "csv")}
DOWNLOAD_ROWS_MAX = 100_000
FILLS = {"f8": np.nan, "i8": 0, "U": "", "?": False}


@dataclass(frozen=True)
class Column:
    """One column: ``dtype`` one of f8, i8, U (text) or ? (true/false); ``unit`` as astropy
    writes units; ``ucd`` the IVOA unified content descriptor VO clients find columns by."""

    name: str
    dtype: str
    description: str
    unit: str | None = None
    ucd: str | None = None


def download_format(params):
    """The format asked for with ``download``, or None for the usual answer; ParameterInvalid
    names the formats there are."""
    wanted = params.get("download")
    if wanted is None:
        return None
    if wanted not in DOWNLOAD_FORMATS:
        raise ParameterInvalid("download", f"one of {', '.join(DOWNLOAD_FORMATS)} is required, got {wanted!r}")
    return wanted


def bounded(rows):
    """``rows`` (a queryset or list) as a list, refused when more than DOWNLOAD_ROWS_MAX match."""
    rows = list(rows[: DOWNLOAD_ROWS_MAX + 1])
    if len(rows) > DOWNLOAD_ROWS_MAX:
        raise ParameterInvalid(
            "download", f"more than {DOWNLOAD_ROWS_MAX:,} rows match; narrow the search to download them"
        )
    return rows


def table_response(columns, rows, *, fmt, filename, title):
    """``rows`` (tuples in the order of ``columns``; None where a value is unknown) as a file
    named ``filename`` plus the format's extension."""
    table = Table(meta={"description": title})
    for position, column in enumerate(columns):
        values = [row[position] for row in rows]
        missing = [value is None for value in values]
        filled = [FILLS[column.dtype] if value is None else value for value in values]
        table[column.name] = MaskedColumn(np.array(filled, dtype=column.dtype if column.dtype != "U" else str),
                                          mask=missing, unit=column.unit, description=column.description)  # fmt: skip
    content_type, extension = DOWNLOAD_FORMATS[fmt]
    out = io.BytesIO()
    if fmt == "votable":
        votable = from_table(table)
        resource_table = votable.get_first_table()
        resource_table.description = title
        for field, column in zip(resource_table.fields, columns):
            field.ucd = column.ucd
        votable.to_xml(out, tabledata_format="tabledata")
    else:
        text = io.StringIO()
        table.write(text, format="ascii.csv")
        out.write(text.getvalue().encode())
    response = HttpResponse(out.getvalue(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{extension}"'
    return response
