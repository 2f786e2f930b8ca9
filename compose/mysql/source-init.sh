#!/bin/bash
# Runs once, when the source's data directory is first created (docker-entrypoint-initdb.d).
# The producer's least-privilege user — the same grants as the local stack
# (binlog_pipeline/stack/mariadb.py: PRODUCER_GRANTS) — and a small example database.
set -euo pipefail
password="$(cat /run/secrets/producer_password)"
mysql -uroot -p"$(cat /run/secrets/source_root_password)" <<SQL
CREATE USER IF NOT EXISTS 'binlog_producer'@'%' IDENTIFIED BY '${password}';
GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'binlog_producer'@'%';
-- MySQL only: the snapshot's per-chunk FLUSH TABLES WITH READ LOCK, held around START TRANSACTION
-- WITH CONSISTENT SNAPSHOT + SHOW BINARY LOG STATUS (MariaDB reports the position without a lock).
GRANT RELOAD ON *.* TO 'binlog_producer'@'%';
CREATE DATABASE IF NOT EXISTS shop;
CREATE TABLE IF NOT EXISTS shop.orders (
  id BIGINT PRIMARY KEY AUTO_INCREMENT,
  customer VARCHAR(64) NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
SQL
