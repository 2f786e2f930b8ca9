#!/bin/bash
# Runs once, when the target's data directory is first created (docker-entrypoint-initdb.d).
# The applier's least-privilege user — the same grants as the local stack
# (binlog_pipeline/stack/mariadb.py: APPLIER_GRANTS). It creates replicated tables and its
# checkpoint table (binlog_pipeline.applier_checkpoint) itself.
set -euo pipefail
password="$(cat /run/secrets/applier_password)"
mysql -uroot -p"$(cat /run/secrets/target_root_password)" <<SQL
CREATE USER IF NOT EXISTS 'binlog_applier'@'%' IDENTIFIED BY '${password}';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON *.* TO 'binlog_applier'@'%';
SQL
