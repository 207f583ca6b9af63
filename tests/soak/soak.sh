#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The soak run behind `make soak` (and, short, the "soak" suite of
# tests/run.sh):
#
#   B=<build dir> [SOAK_SECONDS=180] [SOAK_RATE=40] [SOAK_CONCURRENCY=32]
#   [SOAK_RSS_BOUND_MIB=8] bash tests/soak/soak.sh
#
# Mixed traffic against llmgw-mock -> llmgw-gateway -> llmgw-exporter ->
# otlp-sink on 127.0.0.1 (free ports, a temp dir, everything stopped at the
# end); RSS of the gateway and the exporter sampled every second. What it
# checks and why the bound is what it is: tests/soak/soak.mjs and
# docs/reliability.md ("Faults and soak"). Prints a summary table (also in
# $B/soak/summary.txt, samples in $B/soak/rss.csv); exits 0 on pass, 1 on
# fail. Needs only node (no bench dependencies).
set -u
cd "$(dirname "$0")/../.."

B=${B:-build}
[ -d "$B" ] || { echo "soak: build dir $B does not exist (run make first)" >&2; exit 1; }
for b in llmgw-gateway llmgw-exporter llmgw-mock otlp-sink; do
	[ -x "$B/$b" ] || { echo "soak: $B/$b is not built (make B=$B)" >&2; exit 1; }
done
command -v node >/dev/null 2>&1 || { echo "soak: node not found (deploy/deps.sh installs it)" >&2; exit 1; }

SOAK_SECONDS=${SOAK_SECONDS:-180}
# The run itself, plus start-up, draining the spans (up to 60 s) and shutdown.
limit=$((SOAK_SECONDS + 180))
LLMGW_BUILD=$(cd "$B" && pwd) SOAK_SECONDS=$SOAK_SECONDS \
	timeout --kill-after=20 "$limit" node tests/soak/soak.mjs
rc=$?
# 124: SIGTERM at the limit (soak.mjs stops its processes and fails); 137: it had to be killed.
[ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "soak: FAIL (stopped after $limit s)"
exit "$rc"
