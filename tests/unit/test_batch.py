"""The batch being filled (applier/batch.py): each owned partition's messages once, in offset
order, from its committed position; a revoked partition's messages leave it at once."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binlog_pipeline.applier.batch import Batch, Diverted, partition_of
from binlog_pipeline.applier.messages import Coordinates

A, B = ("a", 0), ("b", 1)


def entry(partition: tuple[str, int], offset: int, size: int = 10) -> Diverted:
    return Diverted(Coordinates(*partition, offset), None, b"x", "cause", size)


def test_accepts_only_the_next_new_message_of_an_owned_partition() -> None:
    """From its start on, a partition's new messages are accepted; older ones, re-deliveries and
    other partitions' are not."""
    batch = Batch({A: 5})
    assert not batch.accepts(Coordinates("a", 0, 4))
    assert batch.accepts(Coordinates("a", 0, 5)) and batch.accepts(Coordinates("a", 0, 9))
    assert not batch.accepts(Coordinates("b", 1, 5))
    batch.add(entry(A, 7))
    assert not batch.accepts(Coordinates("a", 0, 7)) and batch.accepts(Coordinates("a", 0, 8))


def test_a_partition_with_nothing_committed_starts_anywhere() -> None:
    """A negative start (nothing committed: the beginning) accepts the first message delivered."""
    assert Batch({A: -1001}).accepts(Coordinates("a", 0, 0))


def test_counts_rows_and_bytes() -> None:
    """Rows and bytes count what is in the batch; an empty batch is false."""
    batch = Batch({A: 0, B: 0})
    assert not batch
    batch.add(entry(A, 0, size=3))
    batch.add(entry(B, 0, size=4))
    assert batch and (batch.rows, batch.size) == (2, 7)


def test_adding_what_is_not_accepted_is_a_bug() -> None:
    """Adding a message the batch does not accept fails loudly."""
    batch = Batch({A: 5})
    with pytest.raises(AssertionError, match=r"a\[0\]@4 is not the next message"):
        batch.add(entry(A, 4))


def test_revoke_drops_the_partitions_messages_and_keeps_the_others() -> None:
    """Revoking drops that partition's messages, counts and start; the kept ones are untouched."""
    batch = Batch({A: 0, B: 0})
    kept = [entry(A, 0, 3), entry(A, 1, 3)]
    batch.add(kept[0])
    batch.add(entry(B, 0, 5))
    batch.add(kept[1])
    batch.revoke([B, ("c", 9)])
    assert batch.entries == kept
    assert (batch.rows, batch.size) == (2, 6)
    assert batch.starts == {A: 0}
    assert not batch.accepts(Coordinates("b", 1, 1))
    batch.revoke([])
    assert batch.entries == kept


operations = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.sampled_from([A, B]), st.integers(0, 12), st.integers(0, 50)),
        st.tuples(st.just("revoke"), st.sampled_from([A, B]), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(st.integers(0, 4), st.integers(-1, 4), operations)
def test_no_message_twice_none_out_of_order_none_revoked(
    start_a: int, start_b: int, ops: list[tuple[str, tuple[str, int], int, int]]
) -> None:
    """Whatever the fetcher delivers again or out of order and whatever is revoked meanwhile, the
    batch holds each owned partition's messages once, in increasing offsets from its start."""
    batch = Batch({A: start_a, B: start_b})
    revoked: set[tuple[str, int]] = set()
    for op, partition, offset, size in ops:
        if op == "revoke":
            batch.revoke([partition])
            revoked.add(partition)
            continue
        where = Coordinates(*partition, offset)
        if batch.accepts(where):  # as the consumer loop does
            batch.add(entry(partition, offset, size))
    for partition, start in ((A, start_a), (B, start_b)):
        offsets = [e.where.offset for e in batch.entries if partition_of(e) == partition]
        assert offsets == sorted(set(offsets))
        assert all(offset >= start for offset in offsets)
        if partition in revoked:
            assert offsets == [] and partition not in batch.starts
    assert batch.rows == len(batch.entries)
    assert batch.size == sum(e.size for e in batch.entries)
