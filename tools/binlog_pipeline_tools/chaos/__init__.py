"""`binlog-pipeline chaos`: a seeded random schedule of real faults under load, then proof that
the target equals the source."""
