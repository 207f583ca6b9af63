#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# CANDIDATE_CMD for the team's peer harness (shared/bench/peers/run.sh), so
# llmgw is measured side by side with direct / nginx / haproxy in one run:
#
#   cd ../shared/bench/peers && PEERS="direct nginx candidate" CANDIDATE_NAME=llmgw \
#     CANDIDATE_CMD="$PWD/../../../main/tests/bench/peer-candidate.sh" ./run.sh
#
# The harness exports CANDIDATE_PORT and UPSTREAM_BASE_URL (its nginx mock,
# /v1 or /stream/v1) and pins this process to one CPU, so one worker.
# LLMGW_BIN overrides the binary (default: build/llmgw-gateway beside this script).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${LLMGW_BIN:-$here/build/llmgw-gateway}
cfg=$(mktemp "${TMPDIR:-/tmp}/llmgw-bench.XXXXXX.yaml")
trap 'rm -f "$cfg"' EXIT
cat >"$cfg" <<YAML
server: { listen: "127.0.0.1:${CANDIDATE_PORT:?}", workers: 1 }
log: { level: warn }
auth: { enabled: false }
providers:
  - { name: up, type: openai, base_url: "${UPSTREAM_BASE_URL:?}", timeout: 30s }
models:
  - { name: gpt-4o-mini, targets: [ { provider: up, model: gpt-4o-mini } ] }
YAML
"$bin" -c "$cfg" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; rm -f "$cfg"' EXIT TERM INT
wait $pid
