#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs one libFuzzer target for a bounded time on a scratch copy of its
# seed corpus (the repo's corpus is never written):
#
#   tests/fuzz/fuzz-run.sh BINARY SEED_DIR SECONDS [WORK_DIR]
#
# WORK_DIR (emptied first) keeps the grown corpus and any reproducer; without
# it a temporary directory is used and removed after a clean run. Prints one
# line "  FUZZ <name>: <execs> execs in <s> s (<execs/s>/s), corpus <a> -> <b>
# inputs, max_len <n>" and exits 0, or on a crash, leak, timeout or OOM the
# tail of libFuzzer's log and "reproducer: <path>" (replay it with the same
# binary, or with $B/tests/fuzz/replay_<name> <path>), exit 1.
#
# Tunables (environment): FUZZ_RSS_MB (2048), FUZZ_TIMEOUT per input (10 s),
# FUZZ_MAX_LEN (default: the largest seed, at least 4096 bytes).
set -u

bin=$1 seeds=$2 secs=$3 work=${4:-}
name=$(basename "$bin")
[ -x "$bin" ] || { echo "fuzz-run: $bin is not built" >&2; exit 1; }
[ -d "$seeds" ] || { echo "fuzz-run: no seed corpus $seeds" >&2; exit 1; }

scratch=0
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/llmgw-fuzz-$name.XXXXXX") || exit 1
	scratch=1
else
	rm -rf "$work"
	mkdir -p "$work"
fi
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/" 2>/dev/null || true

seedn=$(find "$work/corpus" -type f | wc -l)
if [ -z "${FUZZ_MAX_LEN:-}" ]; then
	big=$(find "$seeds" -type f -printf '%s\n' | sort -n | tail -n 1)
	FUZZ_MAX_LEN=$((${big:-0} > 4096 ? ${big:-0} : 4096))
fi

# A hung input is reported by libFuzzer after FUZZ_TIMEOUT; the outer
# timeout only guards against the fuzzer itself not stopping.
timeout --signal=KILL $((secs + ${FUZZ_TIMEOUT:-10} + 60)) \
	"$bin" -max_total_time="$secs" -max_len="$FUZZ_MAX_LEN" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
	-timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$work/corpus" >"$work/log" 2>&1
rc=$?

if [ "$rc" -ne 0 ]; then
	tail -n 60 "$work/log"
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
	echo "  FUZZ $name: FAILED (exit $rc)"
	if [ -n "$repro" ]; then
		echo "reproducer: $repro"
	else
		echo "reproducer: none written (log: $work/log)"
	fi
	exit 1
fi

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -n 1)
grown=$(find "$work/corpus" -type f | wc -l)
echo "  FUZZ $name: ${execs:-?} execs in ${took:-?} s (${rate:-?}/s), corpus $seedn -> $grown inputs, max_len $FUZZ_MAX_LEN"
[ "$scratch" = 1 ] && rm -rf "$work"
exit 0
