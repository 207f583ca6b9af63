#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The test runner behind `make test` / `make unit`:
#
#   B=<build dir> SAN=0|1 [ONLY=unit|fuzz|integration|soak|e2e|deploy|lint] bash tests/run.sh
#
# Runs every cmocka unit test binary under $B/tests/unit/, then the fuzz
# targets (one test each: tests/fuzz/fuzz_<x>.c replayed over its corpus, then
# a short libFuzzer run when $FUZZ_B has the libFuzzer build), then the
# integration tests (node:test, real processes on 127.0.0.1), a short soak
# (tests/soak/, one test), then the
# end-to-end tests when they exist, then the deploy checks (tests/deploy/),
# then `make lint` as one test.
# Prints each suite's counts and ends with exactly one line
# "N passed, N failed". Exits 1 if anything failed or if no test ran at all.
#
# A unit binary that crashes or exits non-zero without a cmocka summary
# counts as one failed test; so does a node run that fails without
# reporting a failed test (a crash in a hook, a syntax error). node:test
# tests marked `todo` (written ahead of the code they test) are reported
# apart, as "N todo": they are neither passed nor failed.
set -u
cd "$(dirname "$0")/.."

B=${B:-build}
SAN=${SAN:-0}
ONLY=${ONLY:-}
[ -d "$B" ] || { echo "tests/run.sh: build dir $B does not exist (run make first)" >&2; echo "0 passed, 1 failed"; exit 1; }
BDIR=$(cd "$B" && pwd)

if [ "$SAN" = 1 ]; then
	# Sanitized processes spawned by the integration tests inherit these too.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

VALGRIND=${VALGRIND:-0}
if [ "$VALGRIND" = 1 ]; then
	# The integration tests start the gateway and the exporter under valgrind
	# (tests/integration/lib/stack.mjs reads LLMGW_WRAP); each process writes
	# its own log, checked after the suite: any error or definite leak fails.
	command -v valgrind >/dev/null 2>&1 || { echo "VALGRIND=1 needs valgrind" >&2; exit 1; }
	vgdir=$(mktemp -d "${TMPDIR:-/tmp}/llmgw-vg.XXXXXX")
	export LLMGW_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no --log-file=$vgdir/%p.log"
fi

UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}         # seconds per unit binary
NODE_SUITE_TIMEOUT=${NODE_SUITE_TIMEOUT:-1200} # seconds per node suite

total_pass=0
total_fail=0
total_todo=0
log=$(mktemp "${TMPDIR:-/tmp}/llmgw-run.XXXXXX")
trap 'rm -f "$log"' EXIT

suite_report() { # name pass fail [todo]
	local todo=${4:-0}
	if [ "$todo" -gt 0 ]; then
		echo "== $1: $2 pass, $3 fail, $todo todo"
	else
		echo "== $1: $2 pass, $3 fail"
	fi
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	total_todo=$((total_todo + todo))
}

# Sums the N of every line matching "<prefix> N test(s)" in $log.
sum_cmocka() {
	sed -n "s/^\[  $1  \] \([0-9][0-9]*\) test(s).*/\1/p" "$log" | awk '{s += $1} END {print s + 0}'
}

run_unit() {
	local pass=0 fail=0 t p f rc
	local bins
	bins=$(find "$BDIR/tests/unit" -type f -perm -u+x 2>/dev/null | sort)
	for t in $bins; do
		echo "-- unit: ${t#"$BDIR"/}"
		timeout --signal=KILL "$UNIT_TIMEOUT" "$t" >"$log" 2>&1
		rc=$?
		cat "$log"
		p=$(sum_cmocka PASSED)
		f=$(sum_cmocka FAILED)
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# Crash, sanitizer report at exit, timeout, or no summary: one failure.
			echo "-- unit: ${t##*/} exited with status $rc without reporting a failed test: counted as 1 failed"
			f=1
		fi
		pass=$((pass + p))
		fail=$((fail + f))
	done
	[ -z "$bins" ] && echo "-- unit: no test binaries under $B/tests/unit"
	suite_report unit "$pass" "$fail"
}

# run_node_suite NAME DIR: node's built-in runner, TAP output, one file at a time.
# node counts a `todo` test under "# todo" whether it passed or failed (never
# under "# pass" or "# fail"), so todo tests are reported on their own.
run_node_suite() {
	local name=$1 dir=$2 rc p f c t
	if ! command -v node >/dev/null 2>&1; then
		echo "-- $name: node not found (deploy/deps.sh installs it)"
		suite_report "$name" 0 1
		return
	fi
	echo "-- $name: node --test $dir"
	LLMGW_BUILD="$BDIR" timeout --signal=KILL "$NODE_SUITE_TIMEOUT" \
		node --test --test-reporter=tap --test-concurrency=1 "$dir" >"$log" 2>&1
	rc=$?
	cat "$log"
	# The last summary block is the run's total ("# pass N" etc. at column 0).
	p=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	f=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	c=$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	t=$(sed -n 's/^# todo \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)
	p=${p:-0}
	f=$((${f:-0} + ${c:-0}))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "-- $name: node exited with status $rc without reporting a failed test: counted as 1 failed"
		f=1
	fi
	suite_report "$name" "$p" "$f" "${t:-0}"
}

# The e2e tests' npm dependencies (tests/e2e/package.json, exact versions in
# the committed package-lock.json) go to tests/e2e/node_modules (git-ignored).
# `npm ci` runs only when that folder is missing or older than the lock file;
# npm talks to its configured registry only, quietly (tests/e2e/.npmrc).
e2e_deps() {
	local d=tests/e2e
	if [ -d "$d/node_modules" ] && [ ! "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
		return 0
	fi
	if ! command -v npm >/dev/null 2>&1; then
		echo "-- e2e: npm not found (deploy/deps.sh installs it)"
		return 1
	fi
	echo "-- e2e: npm ci (tests/e2e/node_modules missing or older than package-lock.json)"
	(cd "$d" && npm ci --no-audit --no-fund --silent)
}

if [ -z "$ONLY" ] || [ "$ONLY" = unit ]; then
	run_unit
fi

# ---- fuzz: every tests/fuzz/fuzz_<x>.c target is one test ------------------
# a) $B/tests/fuzz/replay_<x> (the project's compiler and flags, SAN=1 too)
#    runs the target once on every file of tests/fuzz/corpus/<x>/;
# b) when the libFuzzer build exists ($FUZZ_B/fuzz_<x>, made by `make test`
#    when clang's libFuzzer is installed), tests/fuzz/fuzz-run.sh fuzzes it
#    for FUZZ_TEST_SECONDS on a scratch copy of the corpus (0: skip).
#    Default: a 90 s budget shared by the targets (at least 1 s, at most 3 s
#    each), so the suite stays near 2 minutes however many targets there are.
# A crash prints the reproducer's path and fails that target.
if [ -z "${FUZZ_TEST_SECONDS:-}" ]; then
	nt=$(ls tests/fuzz/fuzz_*.c 2>/dev/null | wc -l)
	FUZZ_TEST_SECONDS=$((nt > 0 ? 90 / nt : 3))
	[ "$FUZZ_TEST_SECONDS" -lt 1 ] && FUZZ_TEST_SECONDS=1
	[ "$FUZZ_TEST_SECONDS" -gt 3 ] && FUZZ_TEST_SECONDS=3
fi
if [ -z "${FUZZ_B:-}" ]; then
	# as the Makefile derives it: build -> build-fuzz, build-x(-san) -> build-fuzz-x
	fb=${B%-san}
	case "$B" in
	build*) FUZZ_B=build-fuzz${fb#build} ;;
	*) FUZZ_B=$B-fuzz ;;
	esac
fi

run_fuzz_one() { # name: 0 when the target passed
	local n=$1 replay="$BDIR/tests/fuzz/replay_$1" corpus=tests/fuzz/corpus/$1 fbin="$FUZZ_B/fuzz_$1" rc
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "-- fuzz: $n: no seed corpus in $corpus/ (every target needs one)"
		return 1
	fi
	if [ ! -x "$replay" ]; then
		echo "-- fuzz: $n: $replay is not built (make $B/tests/fuzz/replay_$n)"
		return 1
	fi
	timeout --signal=KILL "$UNIT_TIMEOUT" "$replay" "$corpus" >"$log" 2>&1
	rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log"
		echo "-- fuzz: $n: replay failed (exit $rc); reproducer: $(sed -n 's/^replay: \(.*\)/\1/p' "$log" | tail -n 1)"
		return 1
	fi
	echo "-- fuzz: $n: $(tail -n 1 "$log" | sed 's/^replay: //') (replay)"
	if [ "$FUZZ_TEST_SECONDS" != 0 ] && [ -x "$fbin" ]; then
		bash tests/fuzz/fuzz-run.sh "$fbin" "$corpus" "$FUZZ_TEST_SECONDS" || return 1
	fi
	return 0
}

run_fuzz() {
	local pass=0 fail=0 f n
	if [ "$FUZZ_TEST_SECONDS" != 0 ] && ! ls "$FUZZ_B"/fuzz_* >/dev/null 2>&1; then
		echo "-- fuzz: no libFuzzer build in $FUZZ_B (clang's libFuzzer missing?): corpus replay only"
	fi
	for f in tests/fuzz/fuzz_*.c; do
		[ -f "$f" ] || continue
		n=$(basename "$f" .c)
		n=${n#fuzz_}
		if run_fuzz_one "$n"; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
		fi
	done
	suite_report fuzz "$pass" "$fail"
}

if [ -z "$ONLY" ] || [ "$ONLY" = fuzz ]; then
	run_fuzz
fi

if [ -z "$ONLY" ] || [ "$ONLY" = integration ]; then
	run_node_suite integration tests/integration/
fi

# One test per daemon process run under valgrind: clean means no error and
# no definitely-lost block.
if [ "$VALGRIND" = 1 ]; then
	vp=0 vf=0 vs=0
	for l in "$vgdir"/*.log; do
		[ -f "$l" ] || continue
		cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$l" | head -n 1)
		errs=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$l" | tail -n 1)
		if [ -z "$errs" ]; then
			# SIGKILLed (the resilience test kills the exporter on purpose):
			# valgrind had no chance to check; nothing to count.
			echo "-- valgrind: ${cmd%% *}: killed before exit, not checked"
			vs=$((vs + 1))
		elif [ "$errs" -ne 0 ]; then
			echo "-- valgrind: ${cmd%% *}: $errs errors"
			cat "$l"
			vf=$((vf + 1))
		else
			vp=$((vp + 1))
		fi
	done
	echo "-- valgrind: $vs process(es) killed, not checked"
	suite_report valgrind "$vp" "$vf"
	[ "$vf" -eq 0 ] && rm -rf "$vgdir"
fi

# ---- soak: a short run of tests/soak/soak.sh, one test ---------------------
# Mixed traffic through mock -> gateway -> exporter -> sink for
# SOAK_TEST_SECONDS (default 20; `make soak` runs the long one): fails on RSS
# growth past its bound (not judged under SAN), a 5xx the mock was not told
# to send, or a span lost between the gateway and the sink. Never under
# valgrind: at its rate that would measure valgrind.
if [ -z "$ONLY" ] || [ "$ONLY" = soak ]; then
	echo "-- soak: tests/soak/soak.sh (${SOAK_TEST_SECONDS:-20} s)"
	env -u LLMGW_WRAP B="$BDIR" SOAK_SECONDS="${SOAK_TEST_SECONDS:-20}" bash tests/soak/soak.sh >"$log" 2>&1
	soak_rc=$?
	cat "$log"
	if [ "$soak_rc" -eq 0 ]; then suite_report soak 1 0; else suite_report soak 0 1; fi
fi

# ---- e2e: the official `openai` npm client against the gateway ------------
# tests/e2e/ carries its own package.json (the only npm dependencies in the
# tree); its *.test.mjs files run like the integration tests.
if [ -z "$ONLY" ] || [ "$ONLY" = e2e ]; then
	if [ -f tests/e2e/package.json ]; then
		if e2e_deps; then
			run_node_suite e2e tests/e2e/
		else
			echo "-- e2e: could not install the npm dependencies: counted as 1 failed"
			suite_report e2e 0 1
		fi
	fi
fi

# ---- deploy: container images and Kubernetes manifests (tests/deploy/) -----
# kubectl kustomize on every overlay, the Dockerfile, `make image`, and each
# config in the ConfigMaps through --check-config. YAML is parsed with js-yaml,
# one of tests/e2e's npm dependencies.
if [ -z "$ONLY" ] || [ "$ONLY" = deploy ]; then
	if [ -d tests/deploy ]; then
		if e2e_deps; then
			run_node_suite deploy tests/deploy/
		else
			echo "-- deploy: could not install the npm dependencies (js-yaml): counted as 1 failed"
			suite_report deploy 0 1
		fi
	fi
fi

# ---- lint: `make lint` (clang-format of every C file, banned functions) -----
# One test, so a formatting slip fails CI instead of waiting for someone to run it.
if [ -z "$ONLY" ] || [ "$ONLY" = lint ]; then
	if command -v clang-format >/dev/null 2>&1; then
		if make --no-print-directory lint B="$B" >"$BDIR/lint.log" 2>&1; then
			suite_report lint 1 0
		else
			echo "-- lint: make lint failed:"
			head -40 "$BDIR/lint.log"
			suite_report lint 0 1
		fi
	else
		echo "-- lint: clang-format not installed (deploy/deps.sh installs it): counted as 1 failed"
		suite_report lint 0 1
	fi
fi
# ---------------------------------------------------------------------------

if [ $((total_pass + total_fail)) -eq 0 ]; then
	echo "tests/run.sh: no test ran" >&2
	echo "0 passed, 0 failed"
	exit 1
fi
if [ "$total_todo" -gt 0 ]; then
	echo "== todo: $total_todo test(s) written ahead of the code they test (node:test todo), not counted below"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
