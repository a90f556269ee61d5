#!/usr/bin/env bash
# Hostile run over mhzoo's search side (issue 16's 16 classes + SIGKILL/SIGTERM resumes).
# Usage: bash benchmarks/hostile/run.sh [--only SUBSTRING ...] [--rebuild-data]
# Writes $MHZOO_HOSTILE_DIR (default /tmp/mhzoo-hostile)/report.md (every case) and FAILING.md (failing cases with
# command and output). Cases run one after another under `nice -n 10`.
set -u
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SRC/../.." && pwd)"
OUT="${MHZOO_HOSTILE_DIR:-/tmp/mhzoo-hostile}"
mkdir -p "$OUT"
# a read-only bind mount left by a run that was killed
if mount | grep -q " $OUT/work/ro_mount "; then umount -l "$OUT/work/ro_mount" || true; fi
exec nice -n 10 "$REPO/.venv/bin/python" "$SRC/run.py" "$@"
