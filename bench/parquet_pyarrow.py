"""pyarrow writing the same rows as tp-bench-parquet, with ZSTD, on one core.

usage: parquet_pyarrow.py OURS.parquet OUT.parquet
Reads our file into memory (not timed), writes it with pyarrow (ZSTD,
dictionary on, the same 131072-row row groups), and prints
"rows=N seconds=S cpu_seconds=C rows_per_s=R rows_per_cpu_s=RC bytes=B".
"""
import os
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

pa.set_cpu_count(1)
pa.set_io_thread_count(1)
table = pq.read_table(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
pq.write_table(table, sys.argv[2], compression="zstd", row_group_size=131072)
secs, cpu = time.perf_counter() - t0, time.process_time() - c0
print(f"rows={table.num_rows} seconds={secs:.3f} cpu_seconds={cpu:.3f} "
      f"rows_per_s={table.num_rows / secs:.0f} rows_per_cpu_s={table.num_rows / cpu:.0f} "
      f"bytes={os.path.getsize(sys.argv[2])}")
