#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Measures what one llmgw pod costs per 1,000 requests/s, for the resource
# requests in deploy/k8s (docs/deploy.md, Sizing). Not a test: numbers, on
# 127.0.0.1, as the pod runs them: llmgw-mock as an OpenAI upstream,
# llmgw-gateway (one worker) sending spans over ipc:// to llmgw-exporter
# (disk queue, OTLP/HTTP protobuf + gzip) and otlp-sink as the backend;
# wrk drives chat completions for DURATION after a warm-up.
#
# CPU is read from /proc/PID/stat before and after the measured run:
# CPU microseconds per request = millicores per 1,000 requests/s.
# Memory is the peak RSS (VmHWM) of each process.
#
#   make && bash tests/deploy/sizing.sh            # B=build DURATION=10 CONNS=32
#
# Needs wrk (deploy/deps.sh --bench). Pins the load tools to CPU 0 and llmgw
# to the other CPUs when taskset and two CPUs are there.
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
command -v wrk >/dev/null || { echo "sizing.sh: wrk not found (bash deploy/deps.sh --bench)" >&2; exit 2; }
for b in llmgw-gateway llmgw-exporter llmgw-mock otlp-sink; do
	[ -x "$B/$b" ] || { echo "sizing.sh: $B/$b not built (make)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmgw-sizing.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
load="" app=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	load="taskset -c 0"
	app="taskset -c 1-$(($(nproc) - 1))"
fi
up=$(free_port) sink=$(free_port) gw=$(free_port) admin=$(free_port)

cat >"$tmp/exporter.yaml" <<YAML
receive: { url: "ipc://$tmp/spans.sock", rcvbuf: 4MiB }
export: { endpoint: "http://127.0.0.1:$sink/v1/traces", protocol: http/protobuf, compression: gzip, concurrency: 4 }
queue: { dir: "$tmp/queue", max_bytes: 512MiB }
batch: { max_spans: 512, max_bytes: 1MiB, timeout: 1s }
resource: { service_name: llmgw-gateway, attributes: { deployment.environment.name: sizing } }
admin: { listen: "127.0.0.1:$admin", ready_failing_for: 0 }
log: { level: warn }
YAML
cat >"$tmp/gateway.yaml" <<YAML
server: { listen: "127.0.0.1:$gw", workers: 1 }
telemetry: { spans_url: "ipc://$tmp/spans.sock", sndbuf: 4MiB }
log: { level: warn }
auth: { enabled: false }
providers:
  - { name: up, type: openai, base_url: "http://127.0.0.1:$up/v1", timeout: 30s }
models:
  - { name: gpt-4o-mini, targets: [ { provider: up, model: gpt-4o-mini } ] }
YAML
cat >"$tmp/chat.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local msg = string.rep("Summarise the incident report in three bullet points. ", 6)
wrk.body = '{"model":"gpt-4o-mini","max_tokens":256,"temperature":0.2,' ..
	(os.getenv("STREAM") == "1" and '"stream":true,' or '') ..
	'"messages":[{"role":"system","content":"You are a helpful assistant."},' ..
	'{"role":"user","content":"' .. msg .. '"}]}'
LUA

$load "$B/otlp-sink" --listen "127.0.0.1:$sink" >"$tmp/sink.log" 2>&1 &
pids="$pids $!"
$load "$B/llmgw-mock" --listen "127.0.0.1:$up" --chunks 20 >"$tmp/mock.log" 2>&1 &
pids="$pids $!"
$app "$B/llmgw-exporter" -c "$tmp/exporter.yaml" >"$tmp/exporter.log" 2>&1 &
expid=$!
pids="$pids $expid"
$app "$B/llmgw-gateway" -c "$tmp/gateway.yaml" >"$tmp/gateway.log" 2>&1 &
gwpid=$!
pids="$pids $gwpid"
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$gw/readyz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
metric() { curl -fs "$1" | awk -v m="$2" '$1 == m {print $2}'; }
hz=$(getconf CLK_TCK)

echo "llmgw sizing: $(nproc) CPUs, wrk -c$CONNS ${DURATION}s per scenario, gateway workers 1"
printf '%-6s %9s %14s %14s %12s %12s %10s\n' scenario rps 'gw µs/req' 'ex µs/req' 'gw RSS MiB' 'ex RSS MiB' exported
for sc in json sse; do
	stream=0
	[ "$sc" = sse ] && stream=1
	STREAM=$stream $load wrk -t1 -c"$CONNS" -d3s -s "$tmp/chat.lua" "http://127.0.0.1:$gw/v1/chat/completions" >/dev/null
	g0=$(ticks "$gwpid") e0=$(ticks "$expid")
	out=$(STREAM=$stream $load wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$tmp/chat.lua" "http://127.0.0.1:$gw/v1/chat/completions")
	# Let the exporter flush and deliver what the run produced before reading its CPU.
	sleep 3
	g1=$(ticks "$gwpid") e1=$(ticks "$expid")
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	rps=$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')
	non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	[ -n "$non2xx" ] && echo "sizing.sh: $sc: $non2xx non-2xx answers" >&2
	per() { awk -v t="$1" -v hz="$hz" -v n="$reqs" 'BEGIN {printf "%.1f", t * 1000000 / hz / n}'; }
	printf '%-6s %9s %14s %14s %12s %12s %10s\n' "$sc" "$rps" \
		"$(per $((g1 - g0)))" "$(per $((e1 - e0)))" \
		"$(hwm "$gwpid")" "$(hwm "$expid")" \
		"$(metric "http://127.0.0.1:$admin/metrics" llmgw_exporter_spans_exported_total)"
done
echo "dropped at the gateway: $(metric "http://127.0.0.1:$gw/metrics" 'llmgw_spans_dropped_total{reason="pipe_full"}'), by the exporter: $(curl -fs "http://127.0.0.1:$admin/metrics" | awk '/^llmgw_exporter_spans_dropped_total/ {s += $2} END {print s + 0}')"
