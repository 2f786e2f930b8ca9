"""Operations on a running pipeline, one module per command: lag (and producer_lag), replay,
tail, verify, snapshot requests and progress. The CLI (:mod:`binlog_pipeline.cli`) renders them."""
