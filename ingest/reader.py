"""Stream the records of an event file in bounded batches, never loading it whole.

JSON Lines (plain or gzip) are split into lines here so that every line keeps its number and
its raw text, a line that is not JSON is still counted (and quarantined as ``malformed``), and
hostile inputs are bounded: a line longer than ``MAX_RECORD_BYTES`` is cut and quarantined as
``record_too_large``; a gzip stream that inflates past ``MAX_INFLATION`` times its size is
refused as a likely gzip bomb; a file with NUL bytes is refused as binary; a UTF-8 byte-order
mark at the start of the file is dropped. Only regular files are opened: a named pipe, a device
or a socket is refused without reading (opening a FIFO would block until someone writes).

Refusal messages never name the file: the caller knows which file it gave, and shows or stores
the name beside the message.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

MAX_RECORD_BYTES = 1 << 20  # 1 MiB: far above any real event, far below memory trouble
KEEP_OVERSIZE_BYTES = 64 << 10  # how much of an oversize record the quarantine keeps
MAX_INFLATION = 200  # gzip'd JSON inflates ~5-15×; 200× is a bomb
INFLATION_GRACE_BYTES = 256 << 20  # small files may inflate more without harm
CHUNK_BYTES = 8 << 20
BATCH_RECORDS = 250_000

JSON_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv", ".csv.gz")
BOM = b"\xef\xbb\xbf"  # the UTF-8 byte-order mark some editors and exporters write first


class FileRefused(ValueError):
    """The whole file cannot be ingested; the message says why (nothing was written)."""


@dataclass(frozen=True)
class FileInfo:
    path: Path
    fmt: str  # jsonl | parquet | csv
    sha256: str
    size: int


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _not_regular(mode: int) -> str:
    """What a non-regular file is, for the refusal message."""
    if stat.S_ISFIFO(mode):
        what = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode):
        what = "a character device"
    elif stat.S_ISBLK(mode):
        what = "a block device"
    elif stat.S_ISSOCK(mode):
        what = "a socket"
    elif stat.S_ISDIR(mode):
        what = "a folder"
    else:
        what = "a special file"
    return f"{what}, not a regular file; not read"


def inspect_file(path: Path) -> FileInfo:
    """Format and content hash (streamed) of an event file.

    Anything but a regular file (a FIFO, a device, a socket) is refused before it is opened,
    and checked again on the open descriptor (opened non-blocking, so that a FIFO swapped in
    meanwhile cannot block either).
    """
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise FileRefused(f"cannot be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise FileRefused(_not_regular(mode))
    fmt = file_format(path)
    if fmt is None:
        raise FileRefused("unknown file type (expected .jsonl, .jsonl.gz, .parquet or .csv)")
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FileRefused(f"cannot be opened ({exc.strerror or exc})") from None
    with open(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(_not_regular(mode))
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return FileInfo(path=path, fmt=fmt, sha256=digest.hexdigest(), size=size)


def precheck_json(info: FileInfo) -> bool:
    """Refuse binaries and gzip bombs cheaply; say whether DuckDB's fast line reader fits.

    Looks at the first MiB of (decompressed) text and at the gzip trailer's ISIZE (the
    uncompressed size modulo 4 GiB). The fast reader handles ``\\n`` line ends only: a file
    with ``\\r\\n`` goes through the Python reader, which keeps line numbers exact.
    """
    with _open_stream(info.path) as stream:
        try:
            head = stream.read(1 << 20)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRefused(f"corrupt compressed data ({exc})") from None
    if b"\x00" in head:
        raise FileRefused("binary data (NUL bytes), not JSON Lines")
    isize = 0
    with open(info.path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
        if gzipped and info.size >= 18:
            fh.seek(-4, 2)
            isize = int.from_bytes(fh.read(4), "little")
    limit = max(INFLATION_GRACE_BYTES, MAX_INFLATION * info.size)
    if gzipped and info.size >= 18 and isize > limit and _inflates_past(info.path, limit):
        # the trailer is only a hint (a truncated file has garbage there): confirmed by
        # inflating up to the limit, which costs little next to what a bomb would
        raise FileRefused(f"inflates to more than {MAX_INFLATION}× its size (a gzip bomb?)")
    if gzipped:
        _check_gzip_complete(info.path)
    return b"\r" not in head


def _check_gzip_complete(path: Path) -> None:
    """Refuse a gzip file whose stream ends early or is damaged past its first MiB.

    DuckDB 1.5's reader stops quietly at a truncated stream (it would ingest half a file
    as whole), so the whole stream is inflated once here, keeping nothing of the output.
    """
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as fh:
        try:
            while chunk := fh.read(CHUNK_BYTES):
                while chunk:
                    # bounded output per call: a bomb never fills memory here
                    inflater.decompress(chunk, CHUNK_BYTES)
                    chunk = inflater.unconsumed_tail
                    if inflater.eof and inflater.unused_data:  # the next gzip member
                        chunk = inflater.unused_data + chunk
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        except zlib.error as exc:
            raise FileRefused(f"corrupt compressed data ({exc})") from None
    if not inflater.eof:
        raise FileRefused("corrupt compressed data (the gzip stream ends early: truncated)")


def precheck_csv(info: FileInfo) -> None:
    """Refuse a CSV file of nothing but blank lines (DuckDB would read one empty record).

    Stops at the first byte that is not white space, so a normal file costs one read.
    """
    first = True
    with open(info.path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            _check_gzip_complete(info.path)
    with _open_stream(info.path) as stream:
        try:
            while chunk := stream.read(CHUNK_BYTES):
                if first and chunk.startswith(BOM):
                    chunk = chunk[len(BOM) :]
                first = False
                if chunk.strip():
                    return
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRefused(f"corrupt compressed data ({exc})") from None
    raise FileRefused("no records (only blank lines)")


def _inflates_past(path: Path, limit: int) -> bool:
    inflated = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                inflated += len(chunk)
                if inflated > limit:
                    return True
    except (OSError, EOFError, zlib.error):
        return False  # corrupt, not a bomb: the reader reports that
    return False


def _open_stream(path: Path):
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if path.name.lower().endswith(".gz"):
        raise FileRefused("named .gz but not gzip data")
    return open(path, "rb")


def json_line_batches(path: Path, compressed_size: int) -> Iterator[pa.Table]:
    """Batches of ``(record_number, raw, oversize)`` for each line of a JSON Lines file.

    Blank lines carry no record and are skipped, but still count, so ``record_number`` is
    always the 1-based line number in the file. A UTF-8 byte-order mark opening the file is
    not part of the first record (DuckDB's line reader drops it too).
    """
    numbers: list[int] = []
    raws: list[str] = []
    oversize: list[bool] = []
    line_no = 0

    def emit(line: bytes) -> None:
        nonlocal line_no
        line_no += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        too_large = len(line) > MAX_RECORD_BYTES
        if not too_large and not line.strip():
            return
        numbers.append(line_no)
        raws.append(line[:KEEP_OVERSIZE_BYTES].decode("utf-8", errors="replace"))
        oversize.append(too_large)

    def flush() -> pa.Table:
        table = pa.table(
            {
                "record_number": pa.array(numbers, pa.int64()),
                "raw": pa.array(raws, pa.string()),
                "oversize": pa.array(oversize, pa.bool_()),
            }
        )
        numbers.clear()
        raws.clear()
        oversize.clear()
        return table

    carry = b""
    dropping = False  # inside an oversize line whose head was already emitted
    inflated = 0
    first = True
    with _open_stream(path) as stream:
        while True:
            try:
                chunk = stream.read(CHUNK_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise FileRefused(f"corrupt compressed data ({exc})") from None
            if not chunk:
                break
            if first and chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
            first = False
            inflated += len(chunk)
            if inflated > INFLATION_GRACE_BYTES and inflated > MAX_INFLATION * max(
                compressed_size, 1
            ):
                raise FileRefused(f"inflates to more than {MAX_INFLATION}× its size (a gzip bomb?)")
            if b"\x00" in chunk:
                raise FileRefused("binary data (NUL bytes), not JSON Lines")
            parts = chunk.split(b"\n")
            tail = parts.pop()
            for i, part in enumerate(parts):
                if i == 0:
                    if dropping:
                        dropping = False  # the rest of the oversize line ends here
                        carry = b""
                        continue
                    part = carry + part
                    carry = b""
                emit(part)
            if dropping:
                continue
            carry = carry + tail if not parts else tail
            if len(carry) > MAX_RECORD_BYTES:
                emit(carry)  # quarantined as record_too_large, head kept
                carry = b""
                dropping = True
            if len(numbers) >= BATCH_RECORDS:
                yield flush()
    if carry and not dropping:
        emit(carry)
    if numbers:
        yield flush()
