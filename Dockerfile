# syntax=docker/dockerfile:1
# The producer and the applier (and the binlog-pipeline ops CLI) in one slim, non-root image.
# Build stage: a venv with the project and its dependencies (all from binary wheels).
# Final stage: the same Python base plus that venv only — no compiler, no pip cache, no sources.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/binlog-pipeline
WORKDIR /src
COPY pyproject.toml README.md ./
# The runtime only: the development tools (tools/: stack, bench, chaos) are not in the image.
COPY binlog_pipeline binlog_pipeline
COPY schemas schemas
COPY core core
COPY producer producer
COPY applier applier
COPY ops ops
RUN /opt/binlog-pipeline/bin/pip install --only-binary=:all: . \
    && /opt/binlog-pipeline/bin/pip uninstall -y pip setuptools wheel

FROM python:${PYTHON_VERSION}-slim-bookworm
LABEL org.opencontainers.image.title="binlog-pipeline" \
      org.opencontainers.image.description="MySQL/MariaDB binlog -> Avro -> Kafka -> MySQL/MariaDB CDC" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 binlog \
    && useradd --system --uid 10001 --gid binlog --no-create-home --shell /usr/sbin/nologin binlog
COPY --from=build /opt/binlog-pipeline /opt/binlog-pipeline
ENV PATH=/opt/binlog-pipeline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BINLOG_PIPELINE_METRICS_PORT=9100 \
    BINLOG_PIPELINE_METRICS_HOST=0.0.0.0
USER 10001:10001
EXPOSE 9100
# /readyz: 200 while the process makes progress, 503 with the reason while it retries.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=4 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/readyz', timeout=4)"]
# Pick the process with the command: binlog-producer | binlog-applier | binlog-pipeline <ops command>
CMD ["binlog-pipeline", "--help"]
