"""The bulk histogram exposes what prometheus-client's Histogram exposes for the same
observations (core/metrics.BulkHistogram: the applier counts a batch's rows per source second)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from binlog_pipeline.core.metrics import E2E_BUCKETS, BulkHistogram


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0, 1800.0, 1e9]) | st.floats(0, 4000), st.integers(1, 50))
    )
)
def test_same_samples_as_a_histogram(observations: list[tuple[float, int]]) -> None:
    """Each (value, times) is ``times`` observations of ``value``; every bucket, the count and the
    sum come out as a Histogram's (whose ``_created`` sample is the only difference)."""
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    bulk = BulkHistogram("h", "help", E2E_BUCKETS, registry=ours)
    reference = Histogram("h", "help", buckets=E2E_BUCKETS, registry=theirs)
    for value, times in observations:
        bulk.observe(value, times)
        for _ in range(times):
            reference.observe(value)
    expected = [line for line in generate_latest(theirs).decode().splitlines() if "h_created" not in line]
    got = generate_latest(ours).decode().splitlines()
    assert [line for line in got if "_sum" not in line] == [line for line in expected if "_sum" not in line]
    ours_sum, theirs_sum = (
        float(next(x for x in text if x.startswith("h_sum")).split()[1]) for text in (got, expected)
    )
    assert abs(ours_sum - theirs_sum) <= 1e-9 * max(
        1.0, abs(theirs_sum)
    )  # one multiplication, not n additions
