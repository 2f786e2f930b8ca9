"""The foundation both services and the operator commands stand on: configuration, errors and
their classification, Kafka and SQL helpers, metrics, logs, retries, health, process bootstrap.
Imports only :mod:`binlog_pipeline.schemas` (the contract) of ours."""
