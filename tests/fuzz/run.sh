#!/usr/bin/env bash
# Runs one libFuzzer harness for a fixed time on a scratch copy of its
# checked-in corpus, so that the run never writes into the source tree.
#   run.sh HARNESS CORPUS_DIR SECONDS
set -eu
harness=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
[ -d "$corpus" ] && cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
cd "$work"
# -rss_limit_mb keeps a runaway allocation a finding, not a machine-wide OOM.
exec "$harness" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
     -artifact_prefix="$work/" "$work/corpus"
