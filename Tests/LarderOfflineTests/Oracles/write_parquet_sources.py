"""Writes the rows of a driver_stats CSV as Parquet files, with pyarrow, pandas, DuckDB and Polars,
in a matrix of encodings, compressions and data page versions, for ParquetOracleIngestTests.

    python write_parquet_sources.py CSV OUT_DIR

Prints the names of the files it wrote in OUT_DIR, one a line, and only after checking that each
file holds what it was asked for (codec, data page version, encodings, physical types, row
groups): a writer that ignored an option fails here, instead of leaving a file that tests less
than its name says. The writers' versions and each file's layout go to stderr, for the logs.

The CSV (driver_id, event_timestamp, created, conv_rate, acc_rate, avg_daily_trips) is read with
Python's own parsers and explicit types (int, float, datetime in UTC), so every value is exact:
the doubles are the ones the CSV's digits round to, as in Larder's CSV ingest.
"""

import csv
import datetime as dt
import os
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["driver_id", "event_timestamp", "created", "conv_rate", "acc_rate", "avg_daily_trips"]
INTEGERS = ["driver_id", "avg_daily_trips"]
TIMESTAMPS = ["event_timestamp", "created"]
DOUBLES = ["conv_rate", "acc_rate"]


def fail(message):
    sys.exit(f"write_parquet_sources.py: {message}")


def read_csv(path):
    """The CSV as a pyarrow table with Larder's source types: int64, timestamp[us, UTC], float64."""

    def timestamp(text):
        if text == "":
            return None
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.utcoffset() is None:
            fail(f"{path}: {text!r} has no time zone")
        return value.astimezone(dt.timezone.utc)

    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != COLUMNS:
            fail(f"{path}: header {header}, expected {COLUMNS}")
        rows = list(reader)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
    arrays = {}
    for name in COLUMNS:
        texts = columns[name]
        if name in INTEGERS:
            arrays[name] = pa.array([int(t) for t in texts], pa.int64())
        elif name in TIMESTAMPS:
            arrays[name] = pa.array([timestamp(t) for t in texts], pa.timestamp("us", tz="UTC"))
        else:
            arrays[name] = pa.array([float(t) for t in texts], pa.float64())
    return pa.table(arrays)


def exact_cast(table, name, type):
    """`table` with column `name` cast to `type`, which must hold every value exactly."""
    column = table.column(name)
    narrowed = column.cast(type, safe=False)
    if not narrowed.cast(column.type).equals(column):
        fail(f"column {name} does not fit in {type} exactly")
    return table.set_column(table.schema.get_field_index(name), pa.field(name, type), narrowed)


ENCODINGS = {
    0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
    6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT",
}


def thrift_struct(data, at):
    """A Thrift compact struct at `data[at:]`: ({field id: value}, the offset after it). Lists
    are returned as lists, nested structs as dicts, strings as bytes."""

    def varint(at):
        value, shift = 0, 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, at

    def zigzag(at):
        value, at = varint(at)
        return (value >> 1) ^ -(value & 1), at

    def value(kind, at):
        if kind in (1, 2):  # a bool field: the value is the type
            return kind == 1, at
        if kind == 3:
            return data[at], at + 1
        if kind in (4, 5, 6):
            return zigzag(at)
        if kind == 7:
            return data[at:at + 8], at + 8
        if kind == 8:
            size, at = varint(at)
            return data[at:at + size], at + size
        if kind in (9, 10):
            size, element = data[at] >> 4, data[at] & 0x0F
            at += 1
            if size == 15:
                size, at = varint(at)
            items = []
            for _ in range(size):
                if element in (1, 2):  # bools in a list: one byte each
                    item, at = data[at] == 1, at + 1
                else:
                    item, at = value(element, at)
                items.append(item)
            return items, at
        if kind == 11:
            size, at = varint(at)
            if size == 0:
                return {}, at
            key_kind, value_kind = data[at] >> 4, data[at] & 0x0F
            at += 1
            items = {}
            for _ in range(size):
                key, at = value(key_kind, at)
                items[key], at = value(value_kind, at)
            return items, at
        if kind == 12:
            return thrift_struct(data, at)
        raise ValueError(f"Thrift compact type {kind} at byte {at}")

    fields, last = {}, 0
    while True:
        header = data[at]
        at += 1
        if header == 0:
            return fields, at
        delta, kind = header >> 4, header & 0x0F
        if delta:
            field = last + delta
        else:
            field, at = zigzag(at)
        fields[field], at = value(kind, at)
        last = field


def data_pages(path, chunk):
    """(data page version, encoding name) of each data page of a column chunk, read from the
    page headers themselves (DATA_PAGE is v1, DATA_PAGE_V2 is v2)."""
    start = chunk.data_page_offset
    if chunk.dictionary_page_offset:
        start = min(start, chunk.dictionary_page_offset)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(chunk.total_compressed_size)
    pages, at = [], 0
    while at < len(data):
        header, at = thrift_struct(data, at)
        kind, size = header[1], header[3]
        if kind == 0:
            pages.append((1, ENCODINGS.get(header[5][2], header[5][2])))
        elif kind == 3:
            pages.append((2, ENCODINGS.get(header[8][4], header[8][4])))
        at += size
    return pages


def check(path, expect):
    """Fails unless the file at `path` is laid out as `expect` says, and describes it."""
    meta = pq.ParquetFile(path).metadata
    if meta.num_rows != expect["rows"]:
        fail(f"{path}: {meta.num_rows} rows, expected {expect['rows']}")
    if meta.num_row_groups < expect.get("row_groups", 1):
        fail(f"{path}: {meta.num_row_groups} row groups, expected at least {expect['row_groups']}")
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if sorted(names) != sorted(COLUMNS):
        fail(f"{path}: columns {names}")
    if "order" in expect and names != expect["order"]:
        fail(f"{path}: columns in the order {names}, expected {expect['order']}")
    codecs, versions, encodings, physical, most_pages = set(), set(), {}, {}, 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema
            codecs.add(chunk.compression)
            pages = data_pages(path, chunk)
            most_pages = max(most_pages, len(pages))
            versions.update(v for v, _ in pages)
            encodings.setdefault(name, set()).update(e for _, e in pages)
            physical[name] = chunk.physical_type
    if "codec" in expect and codecs != {expect["codec"]}:
        fail(f"{path}: codecs {codecs}, expected {expect['codec']}")
    if "pages" in expect and versions != {expect["pages"]}:
        fail(f"{path}: data pages v{versions}, expected v{expect['pages']}")
    if most_pages < expect.get("pages_per_chunk", 1):
        fail(f"{path}: at most {most_pages} data pages in a column chunk, expected {expect['pages_per_chunk']}")
    for name, wanted in expect.get("encodings", {}).items():
        for encoding in [wanted] if isinstance(wanted, str) else wanted:
            if encoding not in encodings[name]:
                fail(f"{path}: column {name}'s data pages are {sorted(encodings[name])}, expected {encoding} among them")
    for name, unwanted in expect.get("without", {}).items():
        if unwanted in encodings[name]:
            fail(f"{path}: column {name}'s data pages are {sorted(encodings[name])}, expected no {unwanted}")
    for name, wanted in expect.get("physical", {}).items():
        if physical[name] != wanted:
            fail(f"{path}: column {name} is {physical[name]}, expected {wanted}")
    units = {}
    for name in TIMESTAMPS:
        logical = str(meta.schema.column(names.index(name)).logical_type)
        units[name] = next((f" {u}" for u in ("milliseconds", "microseconds", "nanoseconds") if u in logical), "")
        if physical[name] == "INT64" and "isAdjustedToUTC=true" not in logical:
            fail(f"{path}: column {name} is {logical}, not a UTC timestamp")
        if "unit" in expect and expect["unit"] not in logical:
            fail(f"{path}: column {name} is {logical}, expected {expect['unit']}")
    layout = ", ".join(f"{n} {physical[n]}{units.get(n, '')} {'/'.join(sorted(encodings[n]))}" for n in names)
    print(
        f"  {os.path.basename(path)}: {meta.created_by}; {meta.num_row_groups} row groups, up to {most_pages} data pages "
        f"a chunk; {'/'.join(sorted(codecs))}; pages {'/'.join(f'v{v}' for v in sorted(versions))}; {layout}",
        file=sys.stderr,
    )


def main():
    if len(sys.argv) != 3:
        fail("usage: write_parquet_sources.py CSV OUT_DIR")
    csv_path, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    table = read_csv(csv_path)
    rows = table.num_rows
    if rows == 0:
        fail(f"{csv_path} has no rows")
    print(
        f"write_parquet_sources.py: pyarrow {pa.__version__}, pandas {pd.__version__}, "
        f"duckdb {duckdb.__version__}, polars {pl.__version__}",
        file=sys.stderr,
    )
    written = []

    def wrote(name, expect):
        path = os.path.join(out, name)
        check(path, {"rows": rows, **expect})
        written.append(name)

    # pyarrow: dictionary or not, data page v1 or v2, each codec (16 files).
    for dictionary in (True, False):
        for pages in ("1.0", "2.0"):
            for codec in ("none", "snappy", "gzip", "zstd"):
                name = f"pyarrow_{'dict' if dictionary else 'plain'}_v{pages[0]}_{codec}.parquet"
                pq.write_table(
                    table, os.path.join(out, name), use_dictionary=dictionary, data_page_version=pages, compression=codec
                )
                expect = {"codec": "UNCOMPRESSED" if codec == "none" else codec.upper(), "pages": int(pages[0])}
                if dictionary:
                    expect["encodings"] = {n: "RLE_DICTIONARY" for n in COLUMNS}
                else:
                    expect["encodings"] = {n: "PLAIN" for n in COLUMNS}
                    expect["without"] = {n: "RLE_DICTIONARY" for n in COLUMNS}
                wrote(name, expect)

    # DELTA_BINARY_PACKED integers and timestamps, in data pages v1 and v2.
    for pages in ("1.0", "2.0"):
        name = f"pyarrow_delta_v{pages[0]}.parquet"
        pq.write_table(
            table, os.path.join(out, name), use_dictionary=False, data_page_version=pages,
            column_encoding={n: "DELTA_BINARY_PACKED" for n in INTEGERS + TIMESTAMPS},
        )
        wrote(name, {"pages": int(pages[0]), "encodings": {n: "DELTA_BINARY_PACKED" for n in INTEGERS + TIMESTAMPS}})

    # BYTE_STREAM_SPLIT (DuckDB's choice for doubles in its v2 files), on every column.
    name = "pyarrow_byte_stream_split.parquet"
    pq.write_table(
        table, os.path.join(out, name), use_dictionary=False, data_page_version="2.0",
        column_encoding={n: "BYTE_STREAM_SPLIT" for n in COLUMNS},
    )
    wrote(name, {"pages": 2, "encodings": {n: "BYTE_STREAM_SPLIT" for n in COLUMNS}})

    # Spark's INT96 timestamps.
    name = "pyarrow_int96.parquet"
    pq.write_table(table, os.path.join(out, name), use_deprecated_int96_timestamps=True)
    wrote(name, {"physical": {n: "INT96" for n in TIMESTAMPS}})

    # Timestamps in milliseconds and nanoseconds.
    for unit, word in (("ms", "milliseconds"), ("ns", "nanoseconds")):
        timed = table
        for n in TIMESTAMPS:
            timed = exact_cast(timed, n, pa.timestamp(unit, tz="UTC"))
        name = f"pyarrow_timestamps_{unit}.parquet"
        pq.write_table(timed, os.path.join(out, name))
        wrote(name, {"unit": f"timeUnit={word}"})

    # INT32 and FLOAT, widened on ingest.
    narrow = exact_cast(table, "driver_id", pa.int32())
    narrow = exact_cast(narrow, "avg_daily_trips", pa.int32())
    narrow = exact_cast(narrow, "acc_rate", pa.float32())
    name = "pyarrow_int32_float.parquet"
    pq.write_table(narrow, os.path.join(out, name))
    wrote(name, {"physical": {"driver_id": "INT32", "avg_daily_trips": "INT32", "acc_rate": "FLOAT"}})

    # Columns in another order than the source's.
    order = ["avg_daily_trips", "created", "conv_rate", "driver_id", "acc_rate", "event_timestamp"]
    name = "pyarrow_reordered.parquet"
    pq.write_table(table.select(order), os.path.join(out, name))
    wrote(name, {"order": order})

    # Several row groups, several data pages per column chunk.
    name = "pyarrow_row_groups.parquet"
    pq.write_table(table, os.path.join(out, name), row_group_size=300, data_page_size=128, write_batch_size=50)
    wrote(name, {"row_groups": 7, "pages_per_chunk": 2})

    # A dictionary that outgrows its page: the chunk's later pages fall back to PLAIN.
    name = "pyarrow_dictionary_fallback.parquet"
    pq.write_table(table, os.path.join(out, name), dictionary_pagesize_limit=256, write_batch_size=100)
    wrote(name, {"encodings": {"conv_rate": ["RLE_DICTIONARY", "PLAIN"], "created": ["RLE_DICTIONARY", "PLAIN"]}})

    # The legacy format version 1.0 (converted types as well as logical ones).
    name = "pyarrow_format_1_0.parquet"
    pq.write_table(table, os.path.join(out, name), version="1.0")
    wrote(name, {"encodings": {n: "PLAIN_DICTIONARY" for n in COLUMNS}})

    # pandas, its defaults.
    frame = pd.DataFrame({n: table.column(n).to_pylist() for n in COLUMNS})
    for n in INTEGERS:
        frame[n] = frame[n].astype("int64")
    for n in TIMESTAMPS:
        frame[n] = pd.to_datetime(frame[n], utc=True)
    for n in DOUBLES:
        frame[n] = frame[n].astype("float64")
    name = "pandas_default.parquet"
    frame.to_parquet(os.path.join(out, name))
    wrote(name, {})

    # DuckDB: its default, each codec, in format versions 1 and 2. DuckDB (2.0) writes data pages v1
    # in either; PARQUET_VERSION V2 changes the encodings: RLE_DICTIONARY, and DELTA_BINARY_PACKED
    # and BYTE_STREAM_SPLIT where it finds no dictionary worth it (forced with DICTIONARY_SIZE_LIMIT).
    # Timestamps are TIMESTAMPTZ, so they are written as UTC instants.
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("csv_rows", table)
    con.execute(
        "CREATE TABLE driver_stats AS SELECT driver_id::BIGINT AS driver_id, event_timestamp::TIMESTAMPTZ AS event_timestamp, "
        "created::TIMESTAMPTZ AS created, conv_rate::DOUBLE AS conv_rate, acc_rate::DOUBLE AS acc_rate, "
        "avg_daily_trips::BIGINT AS avg_daily_trips FROM csv_rows"
    )

    def duckdb_copy(name, options):
        path = os.path.join(out, name).replace("'", "''")
        con.execute(f"COPY driver_stats TO '{path}' (FORMAT parquet{options})")

    duckdb_copy("duckdb_default.parquet", "")
    wrote("duckdb_default.parquet", {"pages": 1})
    for version in ("V1", "V2"):
        for codec in ("uncompressed", "snappy", "gzip", "zstd"):
            name = f"duckdb_{version.lower()}_{codec}.parquet"
            duckdb_copy(name, f", PARQUET_VERSION {version}, COMPRESSION {codec}")
            dictionary = "RLE_DICTIONARY" if version == "V2" else "PLAIN_DICTIONARY"
            wrote(name, {"codec": codec.upper(), "pages": 1, "encodings": {"driver_id": dictionary}})
    for version in ("V1", "V2"):
        name = f"duckdb_{version.lower()}_no_dictionary.parquet"
        duckdb_copy(name, f", PARQUET_VERSION {version}, DICTIONARY_SIZE_LIMIT 1")
        if version == "V2":
            encodings = {n: "DELTA_BINARY_PACKED" for n in INTEGERS + TIMESTAMPS}
            encodings.update({n: "BYTE_STREAM_SPLIT" for n in DOUBLES})
        else:
            encodings = {n: "PLAIN" for n in COLUMNS}
        wrote(name, {"pages": 1, "encodings": encodings})

    # Polars: its defaults (zstd), and the other codecs Larder reads.
    frame = pl.from_arrow(table)
    for n in TIMESTAMPS:
        if frame.schema[n] != pl.Datetime("us", "UTC"):
            fail(f"Polars made column {n} {frame.schema[n]}, not a UTC datetime")
    frame.write_parquet(os.path.join(out, "polars_default.parquet"))
    wrote("polars_default.parquet", {"codec": "ZSTD"})
    for codec in ("uncompressed", "snappy", "gzip"):
        name = f"polars_{codec}.parquet"
        frame.write_parquet(os.path.join(out, name), compression=codec)
        wrote(name, {"codec": codec.upper()})

    for name in written:
        print(name)


if __name__ == "__main__":
    main()
