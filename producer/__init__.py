"""The producer: reads the source binlog, publishes Avro change events and its own binlog
position to Kafka in one transaction per source transaction (or batch of them)."""
