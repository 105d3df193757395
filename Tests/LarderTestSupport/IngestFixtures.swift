/// Files that `larder ingest` must reject whole, each with the message it must give: the
/// SQLite store's tests and the PostgreSQL store's run the same ones (driver_stats' columns).
public enum IngestFixtures {
    public static let header = "driver_id,event_timestamp,created,conv_rate,acc_rate,avg_daily_trips"

    /// CSV files named bad.csv; the message follows the file's path.
    public static let badCSV: [(name: String, content: String, message: String)] = [
        (
            "quote in unquoted field", header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1\n10\"02,2026-01-01T00:00:00Z,,0.5,0.5,1\n",
            "bad.csv:3: a quote inside an unquoted field"
        ),
        (
            "text after closing quote", header + "\n\"1001\"x,2026-01-01T00:00:00Z,,0.5,0.5,1\n",
            "bad.csv:2: unexpected text after a closing quote"
        ),
        (
            "unclosed quote", header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1\n1002,\"2026-01-01T00:00:00Z,,0.5,0.5,1\n",
            "bad.csv:3: a quoted field starting on this line is never closed"
        ),
        (
            "wrong type", header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1\n1002,2026-01-01T00:00:00Z,,abc,0.5,1\n",
            "bad.csv:3: column 'conv_rate', value \"abc\": not a finite double"
        ),
        (
            "float for int", header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1.5\n",
            "bad.csv:2: column 'avg_daily_trips', value \"1.5\": not an int64"
        ),
        (
            "int overflow", header + "\n9223372036854775808,2026-01-01T00:00:00Z,,0.5,0.5,1\n",
            "column 'driver_id', value \"9223372036854775808\": not an int64"
        ),
        (
            "null in non-nullable", header + "\n1001,2026-01-01T00:00:00Z,,,0.5,1\n",
            "bad.csv:2: column 'conv_rate': empty, but the column is not nullable"
        ),
        (
            "missing column", "driver_id,event_timestamp,created,conv_rate,acc_rate\n1001,2026-01-01T00:00:00Z,,0.5,0.5\n",
            "bad.csv:1: missing column 'avg_daily_trips'"
        ),
        (
            "extra column", header + ",bonus\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1,9\n",
            "bad.csv:1: unknown column 'bonus'"
        ),
        (
            "duplicate header", header + ",conv_rate\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1,0.5\n",
            "bad.csv:1: column 'conv_rate' appears twice in the header"
        ),
        (
            "too many fields", header + "\n1001,2026-01-01T00:00:00Z,,0.5,0.5,1,7\n",
            "bad.csv:2: expected 6 fields as in the header, found 7"
        ),
        (
            "naive timestamp", header + "\n1001,2026-01-01T00:00:00,,0.5,0.5,1\n",
            "bad.csv:2: column 'event_timestamp', value \"2026-01-01T00:00:00\": no time zone"
        ),
        (
            "epoch number as timestamp", header + "\n1001,1767225600,,0.5,0.5,1\n",
            "column 'event_timestamp', value \"1767225600\": not a timestamp"
        ),
        (
            "bad date", header + "\n1001,2026-02-30T00:00:00Z,,0.5,0.5,1\n",
            "column 'event_timestamp', value \"2026-02-30T00:00:00Z\": day 30 is out of range"
        ),
        (
            "bad created", header + "\n1001,2026-01-01T00:00:00Z,soon,0.5,0.5,1\n",
            "bad.csv:2: column 'created', value \"soon\": not a timestamp"
        ),
        (
            "infinite double", header + "\n1001,2026-01-01T00:00:00Z,,inf,0.5,1\n",
            "column 'conv_rate', value \"inf\": not a finite double"
        ),
        ("empty file", "", "bad.csv: the file is empty"),
        ("header only", header + "\n", "bad.csv: the file has no data rows"),
    ]

    /// JSON Lines files named bad.jsonl, after one good line: the line numbers in the messages
    /// are of the bad line alone (the tests shift them).
    public static let badJSON: [(name: String, content: String, message: String)] = [
        ("not json", "{\"driver_id\": 1", "bad.jsonl:1: malformed JSON at character 16"),
        ("array line", "[1, 2]", "bad.jsonl:1: each line must be one JSON object, got an array"),
        ("nested", #"{"driver_id": {"x": 1}}"#, "column 'driver_id': an object: values must be strings, numbers, booleans or null"),
        (
            "string for int",
            #"{"driver_id": "1001", "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#,
            "bad.jsonl:1: column 'driver_id', value \"1001\": a string, but the column is int64"
        ),
        (
            "missing key", #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5}"#,
            "bad.jsonl:1: column 'avg_daily_trips': missing, and the column is not nullable"
        ),
        (
            "unknown key",
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1, "x": 2}"#,
            "bad.jsonl:1: unknown column 'x'"
        ),
        (
            "naive timestamp",
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01 00:00:00", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 1}"#,
            "column 'event_timestamp', value \"2026-01-01 00:00:00\": no time zone"
        ),
        (
            "null non-nullable",
            #"{"driver_id": 1001, "event_timestamp": "2026-01-01T00:00:00Z", "conv_rate": null, "acc_rate": 0.5, "avg_daily_trips": 1}"#,
            "column 'conv_rate', value \"null\": null, but the column is not nullable"
        ),
        (
            "duplicate key", #"{"driver_id": 1001, "driver_id": 1002}"#,
            "bad.jsonl:1: malformed JSON at character 34: duplicate key \"driver_id\""
        ),
        ("empty file", "", "bad.jsonl: the file has no data rows"),
    ]
}
