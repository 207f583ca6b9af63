# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Helpers for tests/bench/run.sh (sourced, not run): process management by
# PID, free ports, /proc sampling (CPU ticks, RSS, CPU busy), Prometheus
# text scraping, the nginx mock's config, and wrk. They use the globals
# run.sh sets (WORK, RAW, LOAD_CPU, PROXY_CPU, HERE, ...).
#
# Only processes started through start_proc are ever signalled, each by its
# own PID; run.sh's EXIT trap calls stop_all.

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ------------------------------------------------------------ processes
declare -A STARTED=() # pid -> log file
LAST_PID=

alive() { # PID -> running and not a zombie
	[[ -r /proc/$1/stat ]] || return 1
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[[ -n $st && $st != Z ]]
}

start_proc() { # LOGFILE CMD... ; sets LAST_PID
	local logf=$1
	shift
	"$@" >"$logf" 2>&1 </dev/null &
	LAST_PID=$!
	STARTED[$LAST_PID]=$logf
}

stop_proc() { # PID: SIGTERM, SIGKILL after 5 s; nginx's master takes its worker along
	local pid=$1 i
	[[ -n $pid && -n ${STARTED[$pid]+x} ]] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "pid $pid did not stop on SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	unset "STARTED[$pid]"
}

stop_all() {
	local pid
	for pid in "${!STARTED[@]}"; do stop_proc "$pid"; done
}

# ------------------------------------------------------------ ports
declare -A PORTS_TAKEN=()
port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

free_port() { # -> a port nobody listens on and not handed out before in this run
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 30000))
		[[ -n ${PORTS_TAKEN[$p]+x} ]] && continue
		port_busy "$p" && continue
		PORTS_TAKEN[$p]=1
		echo "$p"
		return 0
	done
	die "no free port found"
}

wait_http() { # URL PID SECONDS -> 0 once URL answers any HTTP status
	local url=$1 pid=$2 secs=$3 i
	for ((i = 0; i < secs * 20; i++)); do
		[[ -n $pid ]] && ! alive "$pid" && return 1
		curl -s -o /dev/null --max-time 1 "$url" && return 0
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------------------ /proc sampling
tree_pids() { # PID -> PID and all its descendants
	local p=$1 c
	echo "$p"
	for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}

cpu_ticks() { # PID... -> utime+stime (clock ticks) of the process trees, all threads
	local sum=0 p root f
	for root in "$@"; do
		[[ -n $root ]] || continue
		for p in $(tree_pids "$root"); do
			# after "comm) " field 3 (state) is f[0]: utime (14) is f[11], stime (15) f[12]
			read -r -a f <<<"$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null)"
			((${#f[@]} > 12)) || continue
			sum=$((sum + f[11] + f[12]))
		done
	done
	echo "$sum"
}

mem_kb() { # FIELD(VmRSS|VmHWM) PID -> KiB summed over the process tree
	local field=$1 sum=0 p v
	for p in $(tree_pids "$2"); do
		v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

cpu_stat() { # -> "busy total" for LOAD_CPU then PROXY_CPU, from /proc/stat
	awk -v a="cpu$LOAD_CPU" -v b="cpu$PROXY_CPU" '
		$1 == a || $1 == b { t = 0; for (i = 2; i <= NF; i++) t += $i; v[$1] = (t - $5 - $6) " " t }
		END { print v[a], v[b] }' /proc/stat
}

# children_ticks: sets CHILD_TICKS to the CPU time (clock ticks) of this shell's finished
# children so far (bash `times`). Call it directly, never in $(...): a subshell would
# report its own, empty, children.
children_ticks() {
	local t
	times >"$WORK/times.txt"
	t=$(sed -n 2p "$WORK/times.txt") # "0m1.250s 0m0.310s": user, system
	# shellcheck disable=SC2034 # read by run.sh
	CHILD_TICKS=$(awk -v t="$t" -v c="$CLK_TCK" 'BEGIN {
		n = split(t, f, /[ms ]+/); s = 0
		for (i = 1; i + 1 <= n; i += 2) if (f[i] != "") s += f[i] * 60 + f[i + 1]
		printf "%.0f", s * c }')
}

busy_pct() { # "b0 t0 b1 t1" "b0 t0 b1 t1" -> "cpuL% cpuP%"
	local a b
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	awk -v b0=$((b[0] - a[0])) -v t0=$((b[1] - a[1])) -v b1=$((b[2] - a[2])) -v t1=$((b[3] - a[3])) \
		'BEGIN { printf "%.0f %.0f", t0 ? 100 * b0 / t0 : 0, t1 ? 100 * b1 / t1 : 0 }'
}

secs_of() { # 10s | 2m | 500ms | 7 -> whole seconds
	case $1 in
	*ms) echo 0 ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*) echo "$1" ;;
	esac
}

# ------------------------------------------------------------ Prometheus text
metric() { # FILE NAME -> value of NAME, summed over all its label sets (0 when absent)
	awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }' "$1"
}

scrape() { # URL FILE -> 0 when /metrics could be read into FILE
	curl -sf --max-time 2 -o "$2" "$1"
}

# ------------------------------------------------------------ mock upstream (nginx)
nginx_escape() { # STRING -> escaped for an nginx single-quoted string
	local s=$1
	[[ $s != *'$'* ]] || die "mock body contains '\$' (nginx would read a variable)"
	s=${s//\\/\\\\}
	s=${s//\'/\\\'}
	s=${s//$'\n'/\\n}
	printf '%s' "$s"
}

# FILE VARPREFIX -> directives that return the file's bytes with status 200. nginx
# limits one config token to 4 KB: a bigger body is split at SSE event
# boundaries into `set` variables returned together.
nginx_return() {
	local s rest ev cur='' parts=() i refs=''
	IFS= read -r -d '' s <"$1" || true
	if ((${#s} <= 3000)); then
		printf "return 200 '%s';" "$(nginx_escape "$s")"
		return
	fi
	rest=$s
	while [[ -n $rest ]]; do
		if [[ $rest == *$'\n\n'* ]]; then
			ev=${rest%%$'\n\n'*}$'\n\n'
			rest=${rest#*$'\n\n'}
		else
			ev=$rest
			rest=''
		fi
		if [[ -n $cur ]] && ((${#cur} + ${#ev} > 3000)); then
			parts+=("$cur")
			cur=''
		fi
		cur+=$ev
	done
	[[ -n $cur ]] && parts+=("$cur")
	for i in "${!parts[@]}"; do
		printf "set \$%s_%d '%s';\n            " "$2" "$i" "$(nginx_escape "${parts[$i]}")"
		refs+="\${$2_$i}"
	done
	printf "return 200 '%s';" "$refs"
}

fill() { # TEMPLATE OUT KEY=VALUE... -> OUT with every __KEY__ replaced
	local t kv
	IFS= read -r -d '' t <"$1" || true
	shift
	local out=$1
	shift
	for kv in "$@"; do t=${t//__${kv%%=*}__/${kv#*=}}; done
	printf '%s' "$t" >"$out"
}

# ------------------------------------------------------------ wrk
scen_kind() { echo "${1%%:*}"; } # json:c1 -> json
scen_conns() { if [[ $1 == *:c* ]]; then echo "${1##*:c}"; else echo "$CONNS"; fi; }

run_wrk() { # SCENARIO URL HEADERS DURATION OUTFILE
	local scen=$1 url=$2 headers=$3 dur=$4 out=$5 stream=0 conns guard
	conns=$(scen_conns "$scen")
	[[ $(scen_kind "$scen") == sse ]] && stream=1
	guard=$(($(secs_of "$dur") + 30))
	WRK_BODY_FILE=$HERE/request.json WRK_STREAM=$stream WRK_HEADERS=$headers \
		timeout -k 5 "$guard" taskset -c "$LOAD_CPU" \
		wrk -t"$THREADS" -c"$conns" -d"$dur" --timeout 5s --latency -s "$HERE/chat.lua" "$url" >"$out" 2>&1
}
