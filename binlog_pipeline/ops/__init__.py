"""Operations on a running pipeline: lag, tail (more to come: replay, verify)."""
