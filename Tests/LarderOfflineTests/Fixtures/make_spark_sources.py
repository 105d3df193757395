# Writes driver_stats_spark.parquet (run once; the file is committed), with pyspark 4.3.0
# (parquet-mr 1.17.0) on OpenJDK 17.0.15:
#   python3 -m venv /tmp/spark-venv && /tmp/spark-venv/bin/pip install pyspark==4.3.0
#   /tmp/spark-venv/bin/python Tests/LarderOfflineTests/Fixtures/make_spark_sources.py
# driver_stats.csv's rows as Apache Spark writes Parquet with its defaults: parquet-mr's writer,
# snappy, dictionary encoding, data page v1, and timestamps as INT96 (the default of
# spark.sql.parquet.outputTimestampType in Spark 3.x and 4.x; asserted below, so a Spark whose
# default differs stops here instead of writing another file under the same name). Spark makes
# every column OPTIONAL whatever the schema says. Reruns give the same pages; only the order of
# each column chunk's list of encodings in the footer may differ (parquet-mr gathers them in a set).
import glob
import os
import shutil
import tempfile

from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, LongType, StructField, StructType, TimestampType

here = os.path.dirname(os.path.abspath(__file__)) + "/"
spark = (
    SparkSession.builder.master("local[1]")
    .appName("larder-fixtures")
    # INT96 holds UTC wall-clock time only when the session's time zone is UTC.
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.ui.enabled", "false")
    .getOrCreate()
)
assert spark.conf.get("spark.sql.parquet.outputTimestampType") == "INT96"
assert spark.conf.get("spark.sql.parquet.compression.codec") == "snappy"
schema = StructType([
    StructField("driver_id", LongType(), False),
    StructField("event_timestamp", TimestampType(), False),
    StructField("created", TimestampType(), True),  # empty = null
    StructField("conv_rate", DoubleType(), False),
    StructField("acc_rate", DoubleType(), False),
    StructField("avg_daily_trips", LongType(), False),
])
rows = spark.read.csv(here + "driver_stats.csv", header=True, schema=schema, mode="FAILFAST")
assert rows.count() == 2000 and rows.filter(rows.created.isNull()).count() == 400
with tempfile.TemporaryDirectory() as tmp:
    # One partition: one part-*.parquet file in the directory Spark writes.
    rows.coalesce(1).write.parquet(tmp + "/driver_stats")
    (part,) = glob.glob(tmp + "/driver_stats/part-*.parquet")
    shutil.copyfile(part, here + "driver_stats_spark.parquet")
spark.stop()
