"""Alerts as Avro, the way ZTF and Rubin publish them: one packet per record, the writer's
schema inside the file (or the Kafka message), so any broker's packets are read with their
own schema — ZTF's 3.x and 4.x, Rubin's LSST schemas — and only the fields the portal uses are
looked at (``alerts.packets``)."""

import io
import json
from pathlib import Path

import fastavro

SCHEMA = fastavro.parse_schema(json.loads((Path(__file__).parent / "schema" / "alert.avsc").read_text()))
MAGIC = b"Obj\x01"  # how every Avro container file starts
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
    the records before the break have been yielded, saying how it broke in a person's terms."""
    head = fileobj.read(len(MAGIC))
    if not head:
        raise AvroUnreadable("it is empty: an Avro container file starts with 'Obj\\x01' and a schema", 0)
    if head != MAGIC:
        registry = head[:1] == b"\0"
        framed = " (a schema registry's framing: Avro without its schema, which needs the registry)" * registry
        raise AvroUnreadable(f"it is not an Avro file: it starts {head!r}, where an Avro container starts "
                             f"{MAGIC!r}{framed}", 0)  # fmt: skip
    read = 0
    try:
        for record in fastavro.reader(_Rejoined(head, fileobj)):
            yield record
            read += 1
    except EOFError as error:
        where = "its header" if read == 0 else f"record {read}"
        raise AvroUnreadable(f"it is cut short after {where}: the file ends part way through (EOFError: {error})",
                             read) from error  # fmt: skip
    except UNREADABLE as error:
        where = "its header cannot be read: cut short or corrupt" if read == 0 else f"it is corrupt after record {read}"
        raise AvroUnreadable(f"{where} ({type(error).__name__}: {error})", read) from error


class _Rejoined(io.RawIOBase):
    """The stream with the bytes already read from its start put back, for fastavro."""

    def __init__(self, head, rest):
        self.head, self.rest = head, rest

    def readable(self):
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data + (self.rest.read(size - len(data)) if len(data) < size else b"")

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
