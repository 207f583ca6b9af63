#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `make bench`: llmgw measured side by side with its peers in one run, the
# team's peer-harness method (shared/bench/peers): an nginx mock upstream
# answers a fixed chat completion (596 B JSON) or a 20-chunk SSE stream
# (5404 B); wrk and the mock run on LOAD_CPU, the proxy under test alone on
# PROXY_CPU (taskset). Every peer starts fresh for every cell, is checked
# with curl, warmed up, then measured with `wrk --latency`.
#
#   peers      direct (wrk -> mock), nginx (plain proxy), haproxy, llmgw (the
#              real path: 1 worker, auth with a virtual key, key and tenant
#              rate limits and a budget, prices, spans to llmgw-exporter over
#              ipc:// and on as OTLP/HTTP protobuf + gzip), llmgw-noexp (the
#              same gateway and config with no exporter running: its records
#              are dropped at the pipe, counted); opt-in: llmgw-open (llmgw-noexp
#              with governance off: auth disabled, no keys, limits, budgets or
#              prices; the difference is what governance costs per request)
#   scenarios  json, sse (32 connections), json:c1, sse:c1 (one connection)
#   columns    RPS, p50/p99, added p50/p99 vs direct, CPU us per request of the
#              proxy (utime+stime from /proc/PID/stat over the measured window,
#              all threads and child processes), VmRSS at the end of the cell
#              and VmHWM, the exporter's CPU per request, CPU busy %
#   then       the issue-8 ratios with their targets (met / not met), and the
#              exporter benchmark: bench-inject pushes gateway-shaped records
#              at a fixed rate and at saturation into the exporter (alone on
#              PROXY_CPU) -> OTLP protobuf + gzip; spans/s, CPU us per span,
#              RSS, drops; plus one delivery check into otlp-sink.
#
# The report (machine, versions, command, tables) is printed and written to
# $B/bench/bench-<stamp>.md (raw wrk output, replies, logs: bench-<stamp>.raw/).
#
# Environment (all optional):
#   B=build                build dir holding the binaries (make bench passes it)
#   DURATION=10s WARMUP=3s CONNS=32 THREADS=1   wrk settings per cell
#   PEERS="direct nginx haproxy llmgw llmgw-noexp"   (direct is needed for the +latency columns)
#   SCENARIOS="json sse json:c1 sse:c1"              (":cN" = N connections)
#                          PEERS= SCENARIOS= (set but empty) runs the exporter benchmark only
#   LOAD_CPU=0 PROXY_CPU=1  EXPORTER_CPU=$LOAD_CPU   where the exporter (and the OTLP
#                          receiver) run in the llmgw cells
#   OTLP_RECEIVER=null     null: nginx that discards the body (see conf/otlp-null.conf.tmpl);
#                          sink: otlp-sink (decodes every span; it becomes the bottleneck)
#   EXPORTER_BENCH=1       0 skips the exporter benchmark
#   EXP_RATE=50000         records/s of the fixed-rate exporter run
#   EXP_SECONDS=10         length of each exporter run
#   EXP_SINK_RATE=10000    records/s of the 3 s delivery check into otlp-sink
#   NOISE_MAX=10 NOISE_RETRIES=2   a cell during which other processes kept either CPU more than
#                          NOISE_MAX % busy is measured again (up to NOISE_RETRIES times); the
#                          report flags any cell above 5 %
#   PERF=0                 1: one more llmgw json cell and one more exporter saturation run
#                          under `perf record -g` (after the measured ones, so the profiler
#                          disturbs nothing); top symbols go in the report
#   PERF_SCENARIO=json     the scenario of the profiled llmgw cell (json or sse)
#   PERF_OPTS=-g           perf record options (e.g. "--call-graph dwarf -F 300" for callers
#                          inside libraries built without frame pointers); the data stays in the raw dir
#
# Everything started is stopped by PID (trap on EXIT); everything listens on
# 127.0.0.1 on ports checked to be free; every load run is bounded.
set -uo pipefail
shopt -u patsub_replacement 2>/dev/null || true

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/bench/lib.sh
. "$HERE/lib.sh"

B=${B:-build}
[[ $B == /* ]] || B=$ROOT/$B
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
PEERS=${PEERS-direct nginx haproxy llmgw llmgw-noexp}
SCENARIOS=${SCENARIOS-json sse json:c1 sse:c1}
LOAD_CPU=${LOAD_CPU:-0}
PROXY_CPU=${PROXY_CPU:-1}
EXPORTER_CPU=${EXPORTER_CPU:-$LOAD_CPU}
OTLP_RECEIVER=${OTLP_RECEIVER:-null}
EXPORTER_BENCH=${EXPORTER_BENCH:-1}
EXP_RATE=${EXP_RATE:-50000}
EXP_SECONDS=${EXP_SECONDS:-10}
EXP_SINK_RATE=${EXP_SINK_RATE:-10000}
PERF=${PERF:-0}
PERF_OPTS=${PERF_OPTS:--g}
PERF_SCENARIO=${PERF_SCENARIO:-json}
NOISE_MAX=${NOISE_MAX:-10}
NOISE_RETRIES=${NOISE_RETRIES:-2}
MOCK_ID=chatcmpl-bench0000000000000000000000001
CLK_TCK=$(getconf CLK_TCK)

for tool in nginx haproxy wrk curl taskset ss awk; do
	command -v "$tool" >/dev/null || die "$tool not found: run deploy/deps.sh --bench"
done
for bin in llmgw-gateway llmgw-exporter otlp-sink; do
	[[ -x $B/$bin ]] || die "$B/$bin missing: run make B=${B#"$ROOT"/} first"
done
[[ $OTLP_RECEIVER == null || $OTLP_RECEIVER == sink ]] || die "OTLP_RECEIVER must be null or sink"
(($(nproc) > PROXY_CPU && $(nproc) > LOAD_CPU)) || die "need CPUs $LOAD_CPU and $PROXY_CPU (nproc $(nproc))"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUTDIR=$B/bench
REPORT=$OUTDIR/bench-$STAMP.md
RAW=$OUTDIR/bench-$STAMP.raw
mkdir -p "$RAW"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmgw-bench.XXXXXX")

cleanup() {
	local f
	stop_all
	for f in "$WORK"/*.log; do # keep the tail of every process log with the raw results
		[[ -f $f ]] && tail -n 40 "$f" >"$RAW/log-$(basename "$f")"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# The exporter benchmark's load generator: built here (the Makefile builds
# only the shipped tools) with the project's flags, against $B/libcommon.a.
build_inject() {
	local src=$HERE/bench_inject.c out=$B/bench/bench-inject
	[[ -x $out && $out -nt $src && $out -nt $B/libcommon.a ]] && return 0
	log "building $out"
	# shellcheck disable=SC2046
	cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -g -Wall -Wextra -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith -Werror \
		-I"$ROOT" -I"$B/gen" $(pkg-config --cflags nanomsg) -o "$out" "$src" "$B/libcommon.a" \
		$(pkg-config --libs nanomsg) -lpthread -lm || die "cannot build bench-inject"
}

# ------------------------------------------------------------ fixed processes
MOCK_PORT=$(free_port)
MOCK_PID=
start_mock() {
	local prefix=$WORK/mock
	mkdir -p "$prefix/tmp"
	fill "$HERE/conf/mock-nginx.conf.tmpl" "$prefix/mock.conf" \
		"JSON_RETURN=$(nginx_return "$HERE/mock/response.json" json)" \
		"SSE_RETURN=$(nginx_return "$HERE/mock/stream.sse" sse)" "MOCK_PORT=$MOCK_PORT"
	start_proc "$WORK/mock.log" taskset -c "$LOAD_CPU" nginx -p "$prefix/" -c "$prefix/mock.conf" -e stderr -g 'daemon off;'
	MOCK_PID=$LAST_PID
	wait_http "http://127.0.0.1:$MOCK_PORT/health" "$MOCK_PID" 10 || die "mock did not start: $(tail -c 300 "$WORK/mock.log")"
	log "mock upstream pid $MOCK_PID on 127.0.0.1:$MOCK_PORT (CPU $LOAD_CPU)"
}

# The virtual key wrk sends to llmgw: generated per run, only its SHA-256 in the config.
gen_key() {
	local out
	out=$("$B/llmgw-gateway" --gen-key) || die "llmgw-gateway --gen-key failed"
	BENCH_KEY=$(sed -n 1p <<<"$out")
	BENCH_KEY_SHA=$(sed -n 2p <<<"$out")
	[[ -n $BENCH_KEY && ${#BENCH_KEY_SHA} == 64 ]] || die "unexpected --gen-key output"
}

# ------------------------------------------------------------ the telemetry side
# start_receiver TAG KIND(null|sink) CPU -> RCV_PID RCV_PORT
start_receiver() {
	local tag=$1 kind=$2 cpu=$3
	RCV_PORT=$(free_port)
	if [[ $kind == null ]]; then
		local prefix=$WORK/otlp-null-$tag
		mkdir -p "$prefix/tmp"
		fill "$HERE/conf/otlp-null.conf.tmpl" "$prefix/otlp-null.conf" "PORT=$RCV_PORT"
		start_proc "$WORK/otlp-null-$tag.log" taskset -c "$cpu" nginx -p "$prefix/" -c "$prefix/otlp-null.conf" -e stderr -g 'daemon off;'
	else
		start_proc "$WORK/otlp-sink-$tag.log" taskset -c "$cpu" "$B/otlp-sink" --listen "127.0.0.1:$RCV_PORT" --max-spans 2000
	fi
	RCV_PID=$LAST_PID
	# otlp-sink counts any other request as a rejected export: ask its control endpoint
	local ready=/
	[[ $kind == sink ]] && ready=/_sink/stats
	wait_http "http://127.0.0.1:$RCV_PORT$ready" "$RCV_PID" 10 || return 1
}

# start_exporter TAG SPANS_URL OTLP_PORT CPU -> EX_PID EX_ADMIN
start_exporter() {
	local tag=$1 url=$2 oport=$3 cpu=$4 aport
	aport=$(free_port)
	fill "$HERE/conf/exporter.yaml.tmpl" "$WORK/exporter-$tag.yaml" "SPANS_URL=$url" "OTLP_PORT=$oport" "ADMIN_PORT=$aport"
	start_proc "$WORK/exporter-$tag.log" taskset -c "$cpu" "$B/llmgw-exporter" -c "$WORK/exporter-$tag.yaml"
	EX_PID=$LAST_PID
	EX_ADMIN=http://127.0.0.1:$aport
	local i
	for ((i = 0; i < 100; i++)); do
		curl -sf -o /dev/null --max-time 1 "$EX_ADMIN/readyz" && return 0
		alive "$EX_PID" || break
		sleep 0.05
	done
	return 1
}

# wait_exporter_idle ADMIN EXPECTED_RECEIVED FILE: polls /metrics (up to 8 s) until the
# exporter has read EXPECTED records and every one is exported or dropped; FILE keeps the last scrape.
wait_exporter_idle() {
	local admin=$1 want=$2 f=$3 i rec exp drop
	for ((i = 0; i < 80; i++)); do
		if scrape "$admin/metrics" "$f"; then
			rec=$(metric "$f" llmgw_exporter_records_received_total)
			exp=$(metric "$f" llmgw_exporter_spans_exported_total)
			drop=$(metric "$f" llmgw_exporter_spans_dropped_total)
			((rec >= want && exp + drop >= rec)) && return 0
		fi
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------ peers
# start_peer PEER KIND TAG -> P_PID P_URL P_HEADERS P_SIDE_PIDS (exporter, receiver), or P_SKIP
start_peer() {
	local peer=$1 kind=$2 tag=$3 mpath=/v1/chat/completions port prefix
	[[ $kind == sse ]] && mpath=/stream/v1/chat/completions
	P_PID='' P_URL='' P_HEADERS='' P_SKIP='' P_SIDE_PIDS='' EX_PID='' EX_ADMIN='' RCV_PID='' GW_URL=''
	case $peer in
	direct)
		P_URL=http://127.0.0.1:$MOCK_PORT$mpath
		return 0
		;;
	nginx)
		port=$(free_port) prefix=$WORK/nginx-$tag
		mkdir -p "$prefix/tmp"
		fill "$HERE/conf/nginx-proxy.conf.tmpl" "$prefix/nginx-proxy.conf" "PORT=$port" "MOCK_PORT=$MOCK_PORT"
		start_proc "$WORK/nginx-$tag.log" taskset -c "$PROXY_CPU" nginx -p "$prefix/" -c "$prefix/nginx-proxy.conf" -e stderr -g 'daemon off;'
		;;
	haproxy)
		port=$(free_port)
		fill "$HERE/conf/haproxy.cfg.tmpl" "$WORK/haproxy-$tag.cfg" "PORT=$port" "MOCK_PORT=$MOCK_PORT"
		start_proc "$WORK/haproxy-$tag.log" taskset -c "$PROXY_CPU" haproxy -db -f "$WORK/haproxy-$tag.cfg"
		;;
	llmgw | llmgw-noexp | llmgw-open)
		start_llmgw "$peer" "$kind" "$tag" || return 1
		return 0
		;;
	*)
		P_SKIP="unknown peer"
		return 1
		;;
	esac
	P_PID=$LAST_PID
	P_URL=http://127.0.0.1:$port$mpath
	wait_http "http://127.0.0.1:$port/" "$P_PID" 30 && return 0
	P_SKIP="did not come up: $(tail -c 300 "$WORK/$peer-$tag.log" | tr '\n' ' ')"
	stop_proc "$P_PID"
	return 1
}

start_llmgw() { # PEER KIND TAG
	local peer=$1 kind=$2 tag=$3 port spans=ipc://$WORK/spans-$3.sock base=http://127.0.0.1:$MOCK_PORT/v1
	[[ $kind == sse ]] && base=http://127.0.0.1:$MOCK_PORT/stream/v1
	if [[ $peer == llmgw ]]; then
		start_receiver "$tag" "$OTLP_RECEIVER" "$EXPORTER_CPU" || {
			P_SKIP="OTLP receiver did not start"
			return 1
		}
		start_exporter "$tag" "$spans" "$RCV_PORT" "$EXPORTER_CPU" || {
			P_SKIP="exporter did not start: $(tail -c 300 "$WORK/exporter-$tag.log" | tr '\n' ' ')"
			return 1
		}
		P_SIDE_PIDS="$EX_PID $RCV_PID"
	fi
	port=$(free_port)
	fill "$HERE/conf/gateway.yaml.tmpl" "$WORK/gateway-$tag.yaml" "PORT=$port" "SPANS_URL=$spans" \
		"KEY_SHA256=$BENCH_KEY_SHA" "UPSTREAM_BASE_URL=$base"
	[[ $peer == llmgw-open ]] && open_config "$WORK/gateway-$tag.yaml"
	start_proc "$WORK/$peer-$tag.log" taskset -c "$PROXY_CPU" "$B/llmgw-gateway" -c "$WORK/gateway-$tag.yaml"
	P_PID=$LAST_PID
	GW_URL=http://127.0.0.1:$port
	P_URL=$GW_URL/v1/chat/completions
	P_HEADERS="Authorization: Bearer $BENCH_KEY"
	wait_http "$GW_URL/healthz" "$P_PID" 30 && return 0
	P_SKIP="did not come up: $(tail -c 300 "$WORK/$peer-$tag.log" | tr '\n' ' ')"
	return 1
}

# open_config FILE: the benchmark config with governance taken out (llmgw-open): the
# keys, tenants and prices sections dropped and auth turned off explicitly; all else equal.
open_config() {
	awk '/^(keys|tenants|prices):/ { skip = 1; next } /^[a-z]/ { skip = 0 } !skip' "$1" >"$1.tmp" &&
		printf 'auth: { enabled: false }\n' >>"$1.tmp" && mv "$1.tmp" "$1"
}

stop_peer() {
	local p
	for p in $P_PID $P_SIDE_PIDS; do stop_proc "$p"; done
}

# verify KIND PEER URL HEADERS -> 0 when the reply is the mock's; sets V_MSG
verify() {
	local kind=$1 peer=$2 url=$3 headers=$4 body out code f=$RAW/verify-$1-$2.txt h=$RAW/verify-$1-$2.headers
	IFS= read -r -d '' body <"$HERE/request.json" || true
	body=${body%$'\n'}
	[[ $kind == sse ]] && body="${body%\}},\"stream\":true}"
	local args=(-sS --max-time 10 -o "$f" -D "$h" -w '%{http_code}' -X POST -H 'Content-Type: application/json')
	# the same Authorization wrk sends: chat.lua's "Bearer test", or the peer's own (llmgw's key)
	if [[ -n $headers ]]; then args+=(-H "$headers"); else args+=(-H 'Authorization: Bearer test'); fi
	out=$(curl "${args[@]}" --data-binary "$body" "$url" 2>&1) || {
		V_MSG="curl failed: $out"
		return 1
	}
	code=$out
	[[ $code == 200 ]] || {
		V_MSG="HTTP $code: $(head -c 200 "$f")"
		return 1
	}
	if [[ $kind == json ]]; then
		grep -q "$MOCK_ID" "$f" && grep -q '"total_tokens":151' "$f" || {
			V_MSG="200 but not the mock body: $(head -c 200 "$f")"
			return 1
		}
		if cmp -s "$f" "$HERE/mock/response.json"; then V_MSG="200, byte-identical to the mock body"; else V_MSG="200, body re-serialized ($(wc -c <"$f") B)"; fi
	else
		local n
		n=$(grep -c 'chat.completion.chunk' "$f")
		grep -q '^data: \[DONE\]' "$f" && ((n >= 20)) || {
			V_MSG="200 but not the mock stream ($n chunks)"
			return 1
		}
		if cmp -s "$f" "$HERE/mock/stream.sse"; then V_MSG="200, byte-identical to the mock stream"; else V_MSG="200, $n chunks + [DONE], re-framed ($(wc -c <"$f") B)"; fi
	fi
	if [[ $peer == llmgw-open ]]; then
		grep -qi '^x-request-id:' "$h" && ! grep -qi '^x-ratelimit-remaining-requests:' "$h" || {
			V_MSG="200 but x-request-id missing or x-ratelimit-* present (governance not off?)"
			return 1
		}
		V_MSG+="; x-request-id present, no x-ratelimit-* (governance off)"
	elif [[ $peer == llmgw* ]]; then # the real path: request id and governance headers
		grep -qi '^x-request-id:' "$h" && grep -qi '^x-ratelimit-remaining-requests:' "$h" || {
			V_MSG="200 but no x-request-id / x-ratelimit-* headers (auth and limits not active?)"
			return 1
		}
		V_MSG+="; x-request-id and x-ratelimit-* present"
	fi
	return 0
}

# ------------------------------------------------------------ one cell
declare -A R=() # R[scenario/peer/field]

run_cell() { # SCENARIO PEER
	local scen=$1 peer=$2 k="$1/$2" kind tag
	kind=$(scen_kind "$scen")
	tag=${scen/:/-}-$peer
	log "[$scen] $peer: starting"
	if ! start_peer "$peer" "$kind" "$tag"; then
		R[$k/status]="skipped: $P_SKIP"
		log "[$scen] $peer: $P_SKIP"
		stop_peer
		return
	fi
	if ! verify "$kind" "$peer" "$P_URL" "$P_HEADERS"; then
		R[$k/status]="verify failed: $V_MSG"
		log "[$scen] $peer: verify failed: $V_MSG"
		stop_peer
		return
	fi
	R[$k/verify]=$V_MSG
	[[ $WARMUP != 0 && $WARMUP != 0s ]] && run_wrk "$scen" "$P_URL" "$P_HEADERS" "$WARMUP" "$WORK/warmup.txt"
	local t0 t1 x0 x1 r0 r1 m0 m1 w0 w1 s0 s1 rc busy out=$RAW/wrk-$tag.txt
	t0=$(cpu_ticks "$P_PID") x0=$(cpu_ticks "$EX_PID") r0=$(cpu_ticks "$RCV_PID") m0=$(cpu_ticks "$MOCK_PID")
	children_ticks
	w0=$CHILD_TICKS s0=$(cpu_stat)
	run_wrk "$scen" "$P_URL" "$P_HEADERS" "$DURATION" "$out"
	rc=$?
	s1=$(cpu_stat) t1=$(cpu_ticks "$P_PID") x1=$(cpu_ticks "$EX_PID") r1=$(cpu_ticks "$RCV_PID") m1=$(cpu_ticks "$MOCK_PID")
	children_ticks
	w1=$CHILD_TICKS
	R[$k/loadticks]=$((m1 - m0 + w1 - w0)) # wrk and the mock: what LOAD_CPU is for
	if [[ -n $P_PID ]]; then
		R[$k/ticks]=$((t1 - t0))
		R[$k/rss]=$(mem_kb VmRSS "$P_PID")
		R[$k/hwm]=$(mem_kb VmHWM "$P_PID")
	fi
	if [[ -n $EX_PID ]]; then
		R[$k/exticks]=$((x1 - x0))
		R[$k/rcvticks]=$((r1 - r0))
		R[$k/exrss]=$(mem_kb VmRSS "$EX_PID")
	fi
	busy=$(busy_pct "$s0" "$s1")
	R[$k/busyL]=${busy% *}
	R[$k/busyP]=${busy#* }
	local line kv
	line=$(grep '^RESULT ' "$out")
	if [[ $rc != 0 || -z $line ]]; then
		R[$k/status]="wrk failed (rc $rc): $(tail -c 200 "$out" | tr '\n' ' ')"
	else
		for kv in ${line#RESULT }; do R[$k/${kv%%=*}]=${kv#*=}; done
		R[$k/errors]=$((R[$k/err_status] + R[$k/err_connect] + R[$k/err_read] + R[$k/err_write] + R[$k/err_timeout]))
		R[$k/status]=ok
		log "[$scen] $peer: rps=${R[$k/rps]} p50=${R[$k/p50_us]}us p99=${R[$k/p99_us]}us errors=${R[$k/errors]} cpu1=${R[$k/busyP]}% cpu0=${R[$k/busyL]}%"
	fi
	[[ $peer == llmgw* ]] && pipeline_stats "$k"
	stop_peer
}

# A cell whose proxy CPU was busy with other processes for more than NOISE_MAX % is
# measured again, up to NOISE_RETRIES times; the last measurement is kept.
run_cell_retry() { # SCENARIO PEER
	local k="$1/$2" i f note=''
	run_cell "$1" "$2"
	for ((i = 0; i < NOISE_RETRIES; i++)); do
		f=$(noisiest "$k")
		((f > NOISE_MAX)) || break
		note+="${note:+, }${f}%"
		log "[$1] $2: a CPU was ${f}% busy with other processes: measuring again"
		local key
		for key in "${!R[@]}"; do [[ $key == "$k/"* ]] && unset "R[$key]"; done
		run_cell "$1" "$2"
	done
	[[ -n $note ]] && R[$k/rerun]="measured again after noise (other processes busy on a CPU: $note)"
	return 0
}

# What happened to the cell's span records (warm-up and verify included):
# sent / dropped at the gateway's pipe, read / exported / dropped by the exporter.
pipeline_stats() { # KEY
	local k=$1 f=$WORK/gw-metrics.txt e=$WORK/ex-metrics.txt
	scrape "$GW_URL/metrics" "$f" || return 0
	R[$k/sp_sent]=$(metric "$f" llmgw_spans_sent_total)
	R[$k/sp_pipe]=$(metric "$f" llmgw_spans_dropped_total)
	[[ -n $EX_ADMIN ]] || return 0
	wait_exporter_idle "$EX_ADMIN" "${R[$k/sp_sent]}" "$e" || log "exporter not idle 8 s after the run"
	R[$k/ex_recv]=$(metric "$e" llmgw_exporter_records_received_total)
	R[$k/ex_exp]=$(metric "$e" llmgw_exporter_spans_exported_total)
	R[$k/ex_drop]=$(metric "$e" llmgw_exporter_spans_dropped_total)
	cp "$e" "$RAW/exporter-metrics-${k//[:\/]/-}.txt"
}

# ------------------------------------------------------------ tables
table() { # SCENARIO
	local scen=$1 peer k
	local d50=${R[$scen/direct/p50_us]:-} d99=${R[$scen/direct/p99_us]:-}
	echo "| peer | RPS | p50 ms | p99 ms | +p50 ms | +p99 ms | errors | CPU µs/req | VmRSS MiB | VmHWM MiB | exporter CPU µs/req | CPU$LOAD_CPU busy % | CPU$PROXY_CPU busy % |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for peer in $PEERS; do
		k=$scen/$peer
		[[ -n ${R[$k/status]+x} ]] || continue
		if [[ ${R[$k/status]} != ok ]]; then
			echo "| $peer | ${R[$k/status]} |||||||||||"
			continue
		fi
		awk -v name="$peer" -v rps="${R[$k/rps]}" -v p50="${R[$k/p50_us]}" -v p99="${R[$k/p99_us]}" \
			-v d50="$d50" -v d99="$d99" -v err="${R[$k/errors]}" -v n="${R[$k/requests]}" -v tck="$CLK_TCK" \
			-v ticks="${R[$k/ticks]:-}" -v rss="${R[$k/rss]:-}" -v hwm="${R[$k/hwm]:-}" -v ex="${R[$k/exticks]:-}" \
			-v bl="${R[$k/busyL]}" -v bp="${R[$k/busyP]}" -v direct="$([[ $peer == direct ]] && echo 1 || echo 0)" '
			function ms(us) { return sprintf("%.3f", us / 1000) }
			function add(a, b) { return (direct ? "0" : (b == "" ? "-" : sprintf("%+.3f", (a - b) / 1000))) }
			function per(t) { return (t == "" || !n ? "-" : sprintf("%.1f", 1e6 * t / tck / n)) }
			function mib(kb) { return (kb == "" ? "-" : sprintf("%.1f", kb / 1024)) }
			BEGIN {
				printf "| %s | %.0f | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", name, rps, ms(p50), ms(p99),
					add(p50, d50), add(p99, d99), err, per(ticks), mib(rss), mib(hwm), per(ex), bl, bp
			}'
	done
}

# foreign KEY [L|P] -> % of PROXY_CPU (P, default) or LOAD_CPU (L) that was busy with other
# processes than ours during the measured run: a test run or a build disturbed the cell.
# PROXY_CPU holds the proxy (and the exporter when it shares that CPU); LOAD_CPU holds wrk,
# the mock (and the exporter with its receiver when they share that CPU).
foreign() {
	local k=$1 which=${2:-P} busy ours side
	[[ ${R[$k/status]:-} == ok ]] || {
		echo 0
		return
	}
	side=$((${R[$k/exticks]:-0} + ${R[$k/rcvticks]:-0}))
	if [[ $which == P ]]; then
		busy=${R[$k/busyP]} ours=${R[$k/ticks]:-0}
		[[ $EXPORTER_CPU == "$PROXY_CPU" ]] && ours=$((ours + side))
	else
		busy=${R[$k/busyL]} ours=${R[$k/loadticks]:-0}
		[[ $EXPORTER_CPU == "$LOAD_CPU" ]] && ours=$((ours + side))
	fi
	awk -v b="$busy" -v t="$ours" -v c="$CLK_TCK" -v d="${R[$k/duration_s]}" \
		'BEGIN { f = b - 100 * t / c / d; printf "%.0f", f < 0 ? 0 : f }'
}
noisiest() { # KEY -> the larger of the two CPUs' foreign %
	local p l
	p=$(foreign "$1" P) l=$(foreign "$1" L)
	echo $((p > l ? p : l))
}

pipeline_notes() { # SCENARIO
	local scen=$1 peer k f
	for peer in $PEERS; do
		k=$scen/$peer
		f=$(foreign "$k" P)
		((f > 5)) && echo "- **noise**: $peer: CPU $PROXY_CPU was ${f}% busy with other processes (or hypervisor steal) during the measured run"
		f=$(foreign "$k" L)
		((f > 5)) && echo "- **noise**: $peer: CPU $LOAD_CPU was ${f}% busy with other processes (or hypervisor steal) during the measured run"
		[[ -n ${R[$k/rerun]:-} ]] && echo "- $peer: ${R[$k/rerun]}"
		[[ -n ${R[$k/verify]:-} ]] && echo "- $peer: verify: ${R[$k/verify]}"
		[[ -n ${R[$k/sp_sent]:-} ]] || continue
		if [[ -n ${R[$k/ex_recv]:-} ]]; then
			echo "- $peer spans (warm-up included): gateway sent ${R[$k/sp_sent]}, dropped at the pipe ${R[$k/sp_pipe]}; exporter read ${R[$k/ex_recv]}, exported ${R[$k/ex_exp]}, dropped ${R[$k/ex_drop]}; exporter $(awk -v t="${R[$k/exticks]}" -v c="$CLK_TCK" -v d="${R[$k/duration_s]}" 'BEGIN { printf "%.0f", 100 * t / c / d }')% of a CPU, OTLP receiver ($OTLP_RECEIVER) $(awk -v t="${R[$k/rcvticks]}" -v c="$CLK_TCK" -v d="${R[$k/duration_s]}" 'BEGIN { printf "%.0f", 100 * t / c / d }')%, exporter VmRSS $(awk -v r="${R[$k/exrss]}" 'BEGIN { printf "%.1f", r / 1024 }') MiB"
		else
			echo "- $peer spans: gateway sent ${R[$k/sp_sent]}, dropped at the pipe ${R[$k/sp_pipe]} (no exporter running)"
		fi
	done
}

# ratio NUM DEN -> "x.xx" or "n/a"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 <= 0) print "n/a"; else printf "%.2f", a / b }'; }
verdict() { # VALUE OP LIMIT -> met | not met | n/a
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		if (v == "n/a" || v == "") { print "n/a"; exit }
		ok = (op == "<=" ? v + 0 <= l + 0 : v + 0 >= l + 0); print (ok ? "met" : "**not met**") }'
}
cpu_per_req() { # KEY
	local k=$1
	[[ ${R[$k/status]:-} == ok && -n ${R[$k/ticks]:-} ]] || return 0
	awk -v t="${R[$k/ticks]}" -v c="$CLK_TCK" -v n="${R[$k/requests]}" 'BEGIN { if (n) printf "%.1f", 1e6 * t / c / n }'
}
added() { # SCENARIO PEER FIELD(p50_us|p99_us) -> added ms vs direct
	local s=$1 p=$2 f=$3
	[[ ${R[$s/$p/status]:-} == ok && ${R[$s/direct/status]:-} == ok ]] || return 0
	awk -v a="${R[$s/$p/$f]}" -v d="${R[$s/direct/$f]}" 'BEGIN { printf "%.3f", (a - d) / 1000 }'
}
okval() { # KEY FIELD
	[[ ${R[$1/status]:-} == ok ]] && echo "${R[$1/$2]:-}"
}

row() { # TARGET MEASURED RATIO OP LIMIT -> one table row, none when not measured in this run
	[[ $3 == n/a || -z $3 ]] && return 0
	echo "| $1 | $2 | $3 | $(verdict "$3" "$4" "$5") |"
}
mib() { awk -v r="$1" 'BEGIN { printf "%.1f", r / 1024 }'; }

ratios() {
	local c g n v f
	echo "| issue 8 target | measured (this run) | ratio | verdict |"
	echo "|---|---|---:|---|"
	g=$(cpu_per_req json/llmgw) n=$(cpu_per_req json/nginx) v=$(ratio "$g" "$n")
	row "gateway CPU per non-streaming request ≤ 1.5× nginx's, json 32 conns" "llmgw $g µs vs nginx $n µs" "$v" "<=" 1.5
	row "… stretch: ≤ 1.0× nginx's" "" "$v" "<=" 1.0
	for c in json:c1 sse:c1; do
		for f in p50_us p99_us; do
			g=$(added "$c" llmgw "$f") n=$(added "$c" nginx "$f") v=$(ratio "$g" "$n")
			row "added latency at 1 connection ≤ 1.3× nginx's, ${f%_us}, $c" "llmgw +$g ms vs nginx +$n ms" "$v" "<=" 1.3
		done
	done
	for c in json:c1 sse:c1; do # the exporter shares the load CPU: how much of the above is its doing
		for f in p50_us p99_us; do
			g=$(added "$c" llmgw-noexp "$f") n=$(added "$c" nginx "$f") v=$(ratio "$g" "$n")
			row "(informative) the same without the exporter running, ${f%_us}, $c" "llmgw-noexp +$g ms vs nginx +$n ms" "$v" "<=" 1.3
		done
	done
	for c in json sse; do # opt-in peer llmgw-open: what governance costs (both without the exporter)
		g=$(cpu_per_req "$c/llmgw-noexp") n=$(cpu_per_req "$c/llmgw-open") v=$(ratio "$g" "$n")
		[[ -n $g && -n $n ]] && echo "| (informative) governance cost, CPU per request, $c 32 conns | llmgw-noexp $g µs vs llmgw-open $n µs: +$(awk -v a="$g" -v b="$n" 'BEGIN { printf "%.1f", a - b }') µs | $v | - |"
	done
	g=$(okval sse/llmgw rps) n=$(okval sse/haproxy rps) v=$(ratio "$g" "$n")
	row "streaming throughput ≥ haproxy's on the same core, sse 32 conns" "llmgw ${g%.*} RPS vs haproxy ${n%.*} RPS" "$v" ">=" 1.0
	g=$(okval json/llmgw rss) n=$(okval json/nginx rss) v=$(ratio "$g" "$n")
	row "gateway RSS under the 32-connection load ≤ 2× nginx's (VmRSS, json)" "llmgw $(mib "$g") MiB vs nginx $(mib "$n") MiB" "$v" "<=" 2.0
	for c in json sse; do
		g=$(okval "$c/llmgw" rps) n=$(okval "$c/llmgw-noexp" rps) v=$(ratio "$g" "$n")
		row "gateway throughput with the exporter running ≥ 95% of without, $c 32 conns" "with ${g%.*} RPS vs without ${n%.*} RPS" "$v" ">=" 0.95
	done
	v=$(okval_x sat rate_exp)
	row "exporter ≥ 300,000 spans/s on one core into gzip'd OTLP (saturation run)" "$v spans/s exported (read: $(okval_x sat rate_recv)/s)" "$(ratio "$v" 300000)" ">=" 1.0
	v=$(okval_x sat us_span)
	row "exporter ≤ 3 µs CPU per span (saturation run)" "$v µs (fixed rate: $(okval_x rate us_span) µs)" "$(ratio "$v" 3)" "<=" 1.0
	v=$(okval_x rate rss)
	row "exporter RSS ≤ 32 MiB at steady state (fixed rate)" "$(mib "$v") MiB (saturation: $(mib "$(okval_x sat rss)") MiB)" "$(ratio "$v" 32768)" "<=" 1.0
	v=$(okval_x rate drops_all)
	[[ -n $v ]] && echo "| no drops below saturation (fixed rate ${EXP_RATE}/s) | $v dropped (pipe + exporter) | - | $(verdict "$v" "<=" 0) |"
	return 0
}

# ------------------------------------------------------------ exporter benchmark
declare -A X=() # X[run/field]
okval_x() { [[ ${X[$1/status]:-} == ok ]] && echo "${X[$1/$2]:-}"; }

# exporter_run NAME RATE(0 = saturation) SECONDS RECEIVER(null|sink): the exporter alone on
# PROXY_CPU; bench-inject and the receiver on LOAD_CPU.
exporter_run() {
	local name=$1 rate=$2 secs=$3 rcv=$4 url=ipc://$WORK/exp-$1.sock m=$WORK/exp-metrics-$1.txt
	log "[exporter] $name: rate ${rate:-0}/s for ${secs}s into $rcv"
	EX_PID='' RCV_PID=''
	if ! start_receiver "exp-$name" "$rcv" "$LOAD_CPU" || ! start_exporter "exp-$name" "$url" "$RCV_PORT" "$PROXY_CPU"; then
		X[$name/status]="did not start: $(tail -c 200 "$WORK/exporter-exp-$name.log" 2>/dev/null | tr '\n' ' ')"
		stop_proc "$EX_PID"
		stop_proc "$RCV_PID"
		return
	fi
	local x0 x1 r0 r1 line kv out=$RAW/inject-$name.txt
	local s0 s1 e1 busy
	x0=$(cpu_ticks "$EX_PID") r0=$(cpu_ticks "$RCV_PID") s0=$(cpu_stat)
	timeout -k 5 $((secs + 30)) taskset -c "$LOAD_CPU" nice -n 19 "$B/bench/bench-inject" "$url" --rate "$rate" --seconds "$secs" >"$out" 2>&1
	s1=$(cpu_stat) e1=$(cpu_ticks "$EX_PID")
	X[$name/rss]=$(mem_kb VmRSS "$EX_PID") # steady state: right at the end of the load
	busy=$(busy_pct "$s0" "$s1")
	X[$name/foreign]=$(awk -v b="${busy#* }" -v t=$((e1 - x0)) -v c="$CLK_TCK" -v d="$secs" 'BEGIN { f = b - 100 * t / c / d; printf "%.0f", f < 0 ? 0 : f }')
	line=$(grep '^INJECT ' "$out")
	if [[ -z $line ]]; then
		X[$name/status]="bench-inject failed: $(tail -c 200 "$out" | tr '\n' ' ')"
	else
		for kv in ${line#INJECT }; do X[$name/${kv%%=*}]=${kv#*=}; done
		wait_exporter_idle "$EX_ADMIN" "${X[$name/sent]}" "$m" || log "[exporter] $name: not idle 8 s after the run"
		x1=$(cpu_ticks "$EX_PID") r1=$(cpu_ticks "$RCV_PID") # after the drain: all the work those records caused
		X[$name/hwm]=$(mem_kb VmHWM "$EX_PID")
		X[$name/recv]=$(metric "$m" llmgw_exporter_records_received_total)
		X[$name/exp]=$(metric "$m" llmgw_exporter_spans_exported_total)
		X[$name/drop]=$(metric "$m" llmgw_exporter_spans_dropped_total)
		X[$name/ticks]=$((x1 - x0))
		X[$name/rate_recv]=$(awk -v r="${X[$name/recv]}" -v s="${X[$name/seconds]}" 'BEGIN { printf "%.0f", r / s }')
		X[$name/rate_exp]=$(awk -v r="${X[$name/exp]}" -v s="${X[$name/seconds]}" 'BEGIN { printf "%.0f", r / s }')
		X[$name/rcv_us]=$(awk -v t="$((r1 - r0))" -v c="$CLK_TCK" -v r="${X[$name/exp]}" 'BEGIN { if (r) printf "%.2f", 1e6 * t / c / r }')
		X[$name/us_span]=$(awk -v t="${X[$name/ticks]}" -v c="$CLK_TCK" -v r="${X[$name/recv]}" 'BEGIN { if (r) printf "%.2f", 1e6 * t / c / r }')
		X[$name/rss_mib]=$(awk -v r="${X[$name/rss]}" 'BEGIN { printf "%.1f", r / 1024 }')
		X[$name/drops_all]=$((X[$name/dropped] + X[$name/drop]))
		cp "$m" "$RAW/exporter-metrics-exp-$name.txt"
		[[ $rcv == sink ]] && sink_check "$name"
		X[$name/status]=ok
		log "[exporter] $name: sent ${X[$name/sent]} (${X[$name/rate]}/s), pipe drops ${X[$name/dropped]}, exported ${X[$name/exp]}, dropped ${X[$name/drop]}, ${X[$name/us_span]} us/span"
	fi
	stop_proc "$EX_PID"
	stop_proc "$RCV_PID"
	EX_PID='' RCV_PID=''
}

# Delivery into otlp-sink: every record read must arrive once, decoded, with its tenant.
sink_check() { # NAME
	local name=$1 st=$RAW/sink-stats-$1.json spans
	curl -sf --max-time 5 -o "$st" "http://127.0.0.1:$RCV_PORT/_sink/stats" || {
		X[$name/sink]="cannot read /_sink/stats"
		return
	}
	curl -sf --max-time 5 "http://127.0.0.1:$RCV_PORT/_sink/spans" | head -c 4000 >"$RAW/sink-spans-sample-$name.json"
	local uniq dup rej
	uniq=$(grep -o '"unique_spans":[0-9]*' "$st" | cut -d: -f2)
	dup=$(grep -o '"duplicate_spans":[0-9]*' "$st" | cut -d: -f2)
	rej=$(grep -o '"rejected":[0-9]*' "$st" | cut -d: -f2)
	spans=${X[$name/exp]}
	if [[ $uniq == "$spans" && $uniq == "${X[$name/sent]}" && $dup == 0 && $rej == 0 ]] &&
		grep -q 'bench-tenant' "$RAW/sink-spans-sample-$name.json"; then
		X[$name/sink]="ok: otlp-sink decoded ${uniq} unique spans = sent = exported, 0 duplicates, 0 rejected, tenant_id on the resource"
	else
		X[$name/sink]="MISMATCH: sent ${X[$name/sent]}, exported $spans, sink unique ${uniq:-?} duplicates ${dup:-?} rejected ${rej:-?}"
	fi
}

exporter_bench() {
	build_inject
	exporter_run rate "$EXP_RATE" "$EXP_SECONDS" null
	exporter_run sat 0 "$EXP_SECONDS" null
	exporter_run sink "$EXP_SINK_RATE" 3 sink
}

exporter_table() {
	local name label
	echo "| run | target rate/s | records sent/s | dropped at the pipe | exporter read/s | exported/s | exporter drops | exporter CPU µs/span read | VmRSS MiB (end of load) | VmHWM MiB | receiver CPU µs/span |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for name in rate sat sink; do
		[[ -n ${X[$name/status]:-} ]] || continue
		case $name in
		rate) label="fixed rate → null OTLP receiver" ;;
		sat) label="saturation (blocking sends) → null OTLP receiver" ;;
		sink) label="delivery check → otlp-sink (3 s)" ;;
		esac
		if [[ ${X[$name/status]} != ok ]]; then
			echo "| $label | ${X[$name/status]} ||||||||||"
			continue
		fi
		awk -v l="$label" -v tr="${X[$name/target_rate]}" -v r="${X[$name/rate]}" -v d="${X[$name/dropped]}" \
			-v rr="${X[$name/rate_recv]}" -v e="${X[$name/rate_exp]}" -v xd="${X[$name/drop]}" -v us="${X[$name/us_span]}" \
			-v rss="${X[$name/rss]}" -v hwm="${X[$name/hwm]}" -v ru="${X[$name/rcv_us]}" 'BEGIN {
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f | %s |\n", l, (tr == 0 ? "max" : tr), r, d, rr, e, xd, us, rss / 1024, hwm / 1024, ru }'
	done
	echo
	[[ -n ${X[sink/sink]:-} ]] && echo "- otlp-sink delivery check: ${X[sink/sink]}"
	for name in rate sat sink; do
		((${X[$name/foreign]:-0} > 5)) && echo "- **noise**: exporter run $name: CPU $PROXY_CPU was ${X[$name/foreign]}% busy with other processes"
	done
	[[ ${X[rate/skipped]:-0} != 0 || ${X[sink/skipped]:-0} != 0 ]] &&
		echo "- records bench-inject itself was too late to attempt (it shares CPU $LOAD_CPU; not sent, not counted above): fixed rate ${X[rate/skipped]:-0}, delivery check ${X[sink/skipped]:-0}"
}

# ------------------------------------------------------------ perf profiles
PERF_TXT=
EXP_PERF_TXT=

# perf_summary DATA BINARY -> markdown: self time by shared object, top symbols, the binary's own
perf_summary() {
	local data=$1 bin=$2 f
	f=$(basename "$data")
	echo '```'
	echo "perf report -i $f --no-children -g none --sort dso --stdio"
	echo "perf report -i $f --no-children -g none --sort dso,symbol --stdio"
	echo "perf report -i $f --no-children -g none --dsos $bin --sort symbol --stdio"
	echo '```'
	echo
	echo "By shared object (self time):"
	echo
	echo '```'
	perf report -i "$data" --no-children -g none --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -12
	echo '```'
	echo
	echo "Top symbols (self time):"
	echo
	echo '```'
	perf report -i "$data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30
	echo '```'
	echo
	echo "$bin's own functions (self time, share of all samples):"
	echo
	echo '```'
	perf report -i "$data" --no-children -g none --dsos "$bin" --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -15
	echo '```'
}

# perf_attach PID SECONDS DATA -> starts perf record on PID (pinned to LOAD_CPU); sets PERF_PID
perf_attach() {
	# shellcheck disable=SC2086
	start_proc "$WORK/perf-$(basename "$3").log" taskset -c "$LOAD_CPU" perf record $PERF_OPTS -p "$1" -o "$3" -- sleep "$2"
	PERF_PID=$LAST_PID
}
perf_wait() {
	wait "$PERF_PID" 2>/dev/null
	unset "STARTED[$PERF_PID]"
}

# One more llmgw $PERF_SCENARIO cell (after the table, so the profiler does not disturb it).
perf_profile() {
	local secs data=$RAW/perf-gateway-$PERF_SCENARIO.data
	secs=$(secs_of "$DURATION")
	log "[perf] llmgw $PERF_SCENARIO under perf record $PERF_OPTS for ${secs}s"
	start_peer llmgw "$PERF_SCENARIO" perf || {
		PERF_TXT="llmgw did not start: $P_SKIP"
		stop_peer
		return
	}
	run_wrk "$PERF_SCENARIO" "$P_URL" "$P_HEADERS" "$WARMUP" "$WORK/warmup.txt"
	perf_attach "$P_PID" "$secs" "$data"
	run_wrk "$PERF_SCENARIO" "$P_URL" "$P_HEADERS" "$DURATION" "$RAW/wrk-$PERF_SCENARIO-llmgw-perf.txt"
	perf_wait
	stop_peer
	PERF_TXT=$(
		printf '```
perf record %s -p <llmgw-gateway pid> -- sleep %s   # during the %s 32-connection load
```

' "$PERF_OPTS" "$secs" "$PERF_SCENARIO"
		perf_summary "$data" llmgw-gateway
	)
}

# The exporter under saturation: one more saturation run with perf attached.
exporter_perf() {
	local secs=$EXP_SECONDS url=ipc://$WORK/exp-perf.sock data=$RAW/perf-exporter-sat.data
	log "[perf] llmgw-exporter saturation run under perf record $PERF_OPTS for ${secs}s"
	EX_PID='' RCV_PID=''
	if start_receiver exp-perf null "$LOAD_CPU" && start_exporter exp-perf "$url" "$RCV_PORT" "$PROXY_CPU"; then
		perf_attach "$EX_PID" "$secs" "$data"
		timeout -k 5 $((secs + 30)) taskset -c "$LOAD_CPU" nice -n 19 "$B/bench/bench-inject" "$url" --rate 0 --seconds "$secs" >"$RAW/inject-perf.txt" 2>&1
		perf_wait
		EXP_PERF_TXT=$(
			printf '```
perf record %s -p <llmgw-exporter pid> -- sleep %s   # during a saturation run (bench-inject --rate 0)
```

' "$PERF_OPTS" "$secs"
			perf_summary "$data" llmgw-exporter
		)
	else
		EXP_PERF_TXT="the exporter did not start"
	fi
	stop_proc "$EX_PID"
	stop_proc "$RCV_PID"
}

# ------------------------------------------------------------ report
machine_info() {
	local cpu hv
	cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
	hv=$(lscpu | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | head -1)
	echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), llmgw $("$B/llmgw-gateway" --version 2>&1 | head -1) (git $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'))"
	echo "- machine: nproc=$(nproc), CPU: ${cpu:-unknown}${hv:+ (hypervisor: $hv)}, kernel $(uname -r), RAM $(free -g | awk '/^Mem:/ { print $2 }') GiB, load average before the run: $LOADAVG"
	echo "- versions: nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), haproxy $(haproxy -v 2>/dev/null | awk 'NR == 1 { print $3 }'), wrk $(dpkg-query -W -f='${Version}' wrk 2>/dev/null), $(cc --version | head -1), libevent $(pkg-config --modversion libevent), nanomsg $(pkg-config --modversion nanomsg), zlib $(pkg-config --modversion zlib), protobuf-c $(pkg-config --modversion libprotobuf-c), jansson $(pkg-config --modversion jansson)"
	echo "- command: \`$CMDLINE\`"
	echo "- pinning: wrk and the mock upstream (nginx, 1 worker) on CPU $LOAD_CPU; the proxy under test alone on CPU $PROXY_CPU; in the llmgw cells llmgw-exporter and the OTLP receiver ($OTLP_RECEIVER) on CPU $EXPORTER_CPU"
	echo "- load: \`wrk -t$THREADS -c$CONNS|1 -d$DURATION --timeout 5s --latency -s tests/bench/chat.lua\`, POST of tests/bench/request.json ($(wc -c <"$HERE/request.json") B; sse adds \"stream\":true), after a $WARMUP warm-up (discarded); every peer started fresh per cell"
	echo "- mock replies: json $(wc -c <"$HERE/mock/response.json") B; sse $(wc -c <"$HERE/mock/stream.sse") B, 20 chunks + [DONE]"
	echo "- llmgw: 1 worker, auth on (virtual key), key + tenant requests/tokens per minute limits of 10^11 and a daily budget (never refusing), prices, spans to llmgw-exporter over ipc:// → OTLP/HTTP protobuf + gzip (exporter defaults: batches of 512 or 1 s); llmgw-noexp = the same gateway and config with no exporter (its records are dropped at the pipe, counted)"
	echo "- CPU µs/req: utime+stime of the process tree (all threads) over the measured run / requests; VmRSS (end of the cell) and VmHWM summed over the process tree (nginx: master + worker); CPU busy %: /proc/stat"
}

report() {
	local scen
	machine_info
	for scen in $SCENARIOS; do
		echo
		case $(scen_kind "$scen") in
		json) echo "### $scen: non-streaming, $(scen_conns "$scen") connection(s)" ;;
		sse) echo "### $scen: streaming (20 chunks + [DONE]), $(scen_conns "$scen") connection(s)" ;;
		esac
		echo
		table "$scen"
		echo
		pipeline_notes "$scen"
	done
	if [[ -n ${X[rate/status]:-}${X[sat/status]:-} ]]; then
		echo
		echo "### exporter: gateway-shaped records (SERVER + CLIENT pairs) → OTLP protobuf + gzip"
		echo
		echo "llmgw-exporter alone on CPU $PROXY_CPU; bench-inject (batches of up to 32 records per message like the gateway, NN_SNDBUF 1 MiB, NN_DONTWAIT: a full pipe is a drop; at nice 19 so the receiver keeps its share) and the receiver on CPU $LOAD_CPU. CPU per span counts the exporter's utime+stime until everything read was exported."
		echo
		exporter_table
	fi
	echo
	echo "### issue 8 targets"
	echo
	ratios
	if [[ -n $PERF_TXT ]]; then
		echo
		echo "### perf: llmgw-gateway, $PERF_SCENARIO 32 connections (a separate cell after the table)"
		echo
		echo "$PERF_TXT"
	fi
	if [[ -n $EXP_PERF_TXT ]]; then
		echo
		echo "### perf: llmgw-exporter, saturation (a separate run after the exporter table)"
		echo
		echo "$EXP_PERF_TXT"
	fi
}

main() {
	local scen peer
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
	CMDLINE="B=${B#"$ROOT"/} DURATION=$DURATION WARMUP=$WARMUP PEERS=\"$PEERS\" SCENARIOS=\"$SCENARIOS\" OTLP_RECEIVER=$OTLP_RECEIVER EXP_RATE=$EXP_RATE PERF=$PERF bash tests/bench/run.sh"
	log "results: $REPORT"
	gen_key
	start_mock
	for scen in $SCENARIOS; do
		for peer in $PEERS; do run_cell_retry "$scen" "$peer"; done
	done
	[[ $EXPORTER_BENCH == 1 ]] && exporter_bench
	if [[ $PERF == 1 ]]; then
		if command -v perf >/dev/null; then
			[[ -n $PEERS && -n $SCENARIOS ]] && perf_profile
			[[ $EXPORTER_BENCH == 1 ]] && exporter_perf
		else
			PERF_TXT="perf is not installed"
		fi
	fi
	stop_proc "$MOCK_PID"
	report >"$REPORT"
	ln -sf "$(basename "$REPORT")" "$OUTDIR/latest.md"
	echo
	cat "$REPORT"
	log "report written to $REPORT (raw data in $RAW/)"
}

main "$@"
