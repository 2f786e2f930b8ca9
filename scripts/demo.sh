#!/usr/bin/env bash
# End-to-end demo on the local stack: installs what is missing, starts Kafka + source + target
# MariaDB, runs the producer and the applier, writes rows on the source and shows them arriving
# on the target. Leaves the stack running (stop it with `.venv/bin/binlog-pipeline stack down`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
BP=.venv/bin/binlog-pipeline
$BP stack up
eval "$($BP stack env)"
.venv/bin/python scripts/demo.py
echo
echo "The stack is still up. Point any shell at it with:  eval \"\$($BP stack env)\""
echo "Stop it with: $BP stack down   (add --purge to delete its data)"
