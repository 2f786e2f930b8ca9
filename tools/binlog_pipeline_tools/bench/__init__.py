"""`binlog-pipeline bench`: throughput, latency and memory of the pipeline next to the raw
ceilings (bare binlog decode, bare batched upsert), measured in one run on the local stack."""
