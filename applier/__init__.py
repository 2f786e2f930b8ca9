"""The applier: consumes the change events and writes the target; commits Kafka offsets and
its checkpoint rows only after the target COMMIT that contains them returned without error."""
