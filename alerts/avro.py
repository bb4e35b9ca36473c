"""Alerts as Avro, the way ZTF and Rubin publish them: one packet per record, the writer's
schema inside the file (or the Kafka message), so any broker's packets are read with their
own schema and only the fields the portal uses are looked at (``alerts.packets``)."""

import json
from pathlib import Path

import fastavro

SCHEMA = fastavro.parse_schema(json.loads((Path(__file__).parent / "schema" / "alert.avsc").read_text()))
# What a broken file or message raises in fastavro, whichever byte is wrong.
UNREADABLE = (ValueError, EOFError, OSError, IndexError, KeyError, TypeError, UnicodeDecodeError, OverflowError)


class AvroUnreadable(ValueError):
    """A file or message that stops being Avro; ``read`` says how many records came before."""

    def __init__(self, message, read):
        super().__init__(message)
        self.read = read


def write_alerts(fileobj, packets):
    """Write ZTF-schema packets (dicts) as one Avro container, deflated as brokers do."""
    fastavro.writer(fileobj, SCHEMA, packets, codec="deflate")


def read_alerts(fileobj):
    """The records of an Avro container, in order; AvroUnreadable where it breaks, after
    the records before the break have been yielded."""
    read = 0
    try:
        for record in fastavro.reader(fileobj):
            yield record
            read += 1
    except UNREADABLE as error:
        where = "it is not an Avro file" if read == 0 else f"unreadable after record {read}"
        raise AvroUnreadable(f"{where} ({type(error).__name__}: {error})", read) from error
