#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `make image-check`: the images of deploy/docker/Dockerfile, built and run
# without a container engine. No engine runs on our machines, so this rebuilds
# the Dockerfile's runtime stages as real root filesystems and runs the
# binaries in them the way Kubernetes runs the pod:
#
#  1. base: `debootstrap --variant=minbase SUITE` (SUITE from the Dockerfile's
#     debian:SUITE-slim), plus what the official -slim image adds to a minbase
#     tree (debuerreotype's slimify and minimizing config: no docs, man pages
#     or locales, apt cleans after itself, the suite/updates/security sources).
#  2. each stage built on it is an overlayfs layer over its parent, as Docker's
#     overlay2 stores it: RUN lines run as written with `chroot DIR /bin/sh -c`
#     (the runtime stage's apt-get install, groupadd/useradd, install -d);
#     COPY --from=build takes the binaries `make` built in $B (the build stage
#     runs the same make on the same deploy/deps.sh packages; its strip is
#     applied to the copies); COPY of repository files copies them. Nothing of
#     the Dockerfile is repeated here: package list, user, directories and
#     checks are whatever its RUN lines say.
#  3. each image's ENTRYPOINT + CMD runs as the pod's runAsUser:runAsGroup
#     (deploy/k8s/base/deployment.yaml; the Dockerfile's USER must agree)
#     with no capabilities and no_new_privs, on its root filesystem bind-
#     mounted read-only, with the emptyDir volumes the pod mounts (the ipc
#     socket's volume shared by both), /proc, a minimal /dev and /sys, in the
#     host network namespace on 127.0.0.1 and free ports (the baked configs
#     take LLMGW_LISTEN / LLMGW_EXPORTER_ADMIN / LLMGW_SPANS_URL /
#     OPENAI_BASE_URL / OTEL_EXPORTER_OTLP_ENDPOINT from the environment).
#     A chat completion goes through the gateway to llmgw-mock on the host and
#     its spans must reach otlp-sink on the host through the exporter.
#
#   make image-check                     # B=build
#   sudo B=build-x bash tests/deploy/rootfs.sh
#
# Needs root (debootstrap, chroot, mounts) and, for the first run, the Debian
# mirror (DEBIAN_MIRROR, default http://deb.debian.org/debian); otherwise it
# prints "SKIP: ..." and exits 0. debootstrap is installed with apt-get when
# missing. The trees are cached in $B/rootfs/ (base and runtime layer, keyed
# by the suite, the mirror and the stage's text): a second run only rebuilds
# the small per-image layers (rm -rf $B/rootfs for fresh Debian updates).
# Everything runs in private mount and PID namespaces, so no mount and no
# process outlives the script even if it is killed; the EXIT trap still stops
# every process by PID and unmounts everything, and checks that nothing is
# left. Logs: $B/rootfs/last-run/.
# Exit status: 0 all checks passed (or SKIP), 1 a check failed, 2 usage or
# missing prerequisites (binaries not built, node or js-yaml missing).
set -eu -o pipefail

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$0")/../.."
REPO=$PWD
B=${B:-build}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DEBOOTSTRAP_TIMEOUT=${DEBOOTSTRAP_TIMEOUT:-1200}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
DF=deploy/docker/Dockerfile
POD=deploy/k8s/base/deployment.yaml
# Bump when the base's slim configuration below changes: the cache key.
SLIM_VERSION=1

say() { printf 'image-check: %s\n' "$*"; }
die() {
	printf 'image-check: %s\n' "$*" >&2
	exit 2
}
SKIPPED=0
skip() {
	SKIPPED=1
	printf 'SKIP: %s\n' "$*"
	exit 0
}

# ---- outside the namespaces: prerequisites, then re-run inside them --------
if [ -z "${LLMGW_ROOTFS_INNER:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "image-check needs root (debootstrap, chroot, mounts): sudo make image-check B=$B"
	for b in llmgw-gateway llmgw-exporter llmgw-mock otlp-sink; do
		[ -x "$B/$b" ] || die "$B/$b not built (make B=$B)"
	done
	for t in node curl unshare setpriv chroot overlay; do
		if [ "$t" = overlay ]; then
			grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
				skip "no overlayfs in this kernel"
		else
			command -v "$t" >/dev/null || die "$t not found"
		fi
	done
	unshare --mount --pid --fork true 2>/dev/null || skip "cannot create mount/PID namespaces here (no CAP_SYS_ADMIN?)"
	case "$(cd "$B" && pwd)" in
	*[[:space:]:,]*) die "the build dir path must not contain blanks, ':' or ',' (overlayfs options)" ;;
	esac
	rf=$(cd "$B" && pwd)/rootfs
	export LLMGW_ROOTFS_INNER=1
	rc=0
	# PID 1 of its own PID namespace: when it exits, the kernel kills whatever
	# it started; the mount namespace (private propagation) goes with it.
	# unshare ignores SIGTERM and SIGINT while it waits, so they are passed to
	# the inner script (its trap stops and unmounts everything) and we wait for
	# it; if unshare itself is killed, --kill-child sends the inner one SIGTERM.
	unshare --mount --propagation private --pid --fork --kill-child=TERM --mount-proc \
		bash "$SELF" "$@" &
	upid=$!
	forward() {
		local c
		c=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null || true)
		if [ -n "$c" ]; then kill -TERM $c 2>/dev/null || true; else kill -KILL "$upid" 2>/dev/null || true; fi
	}
	trap forward INT TERM
	while :; do
		rc=0
		wait "$upid" || rc=$?
		kill -0 "$upid" 2>/dev/null || break # else wait was cut short by a signal
	done
	trap - INT TERM
	left=$(awk -v p="$rf" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo)
	if [ -n "$left" ]; then
		echo "image-check: FAIL: mounts left in the host namespace:" $left >&2
		rc=1
	fi
	exit "$rc"
fi

# ---- inside: state, bookkeeping ----------------------------------------------
BA=$(cd "$B" && pwd)
RF=$BA/rootfs
RUNDIR=$RF/last-run
mkdir -p "$RF"
exec 9>"$RF/.lock"
flock -n 9 || die "another image-check is using $RF"

T0=$(date +%s)
MOUNTS=()   # every mount made, in order; unmounted in reverse
PIDS=()     # every process started and not yet reaped
SUMMARY=()
NOK=0
NFAIL=0

ok() {
	NOK=$((NOK + 1))
	SUMMARY+=("$(printf '  ok    %-9s %s' "$1" "$2")")
	printf '  ok    %-9s %s\n' "$1" "$2"
}
# a line of the summary that is not a check
info() {
	SUMMARY+=("            $*")
	printf '            %s\n' "$*"
}
bad() {
	NFAIL=$((NFAIL + 1))
	SUMMARY+=("$(printf '  FAIL  %-9s %s' "$1" "$2")")
	printf '  FAIL  %-9s %s\n' "$1" "$2"
}
# fatal: a failure that makes the later checks meaningless
fatal() {
	bad "$1" "$2"
	exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f s", b - a}'; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
# apparent size in bytes (what `docker images` adds up), one filesystem only
size_of() { du -sx --apparent-size -B1 "$1" | awk '{print $1}'; }

mounts_under() { awk -v p="$1" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo; }

mnt() {
	mount "$@"
	MOUNTS+=("${*: -1}")
}

# Unmounts every recorded mount at or under $1 (all of them without $1), newest first.
umount_all() {
	local under=${1:-} i m keep=() rc=0
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		if [ -n "$under" ] && [ "$m" != "$under" ] && [[ "$m" != "$under"/* ]]; then
			keep=("$m" "${keep[@]}")
			continue
		fi
		if ! umount "$m" 2>/dev/null; then
			echo "image-check: umount $m failed (busy?), detaching it" >&2
			umount -l "$m" 2>/dev/null || rc=1
		fi
	done
	MOUNTS=("${keep[@]}")
	return "$rc"
}

# rm -rf that refuses to descend into anything still mounted.
safe_rm() {
	local p
	for p in "$@"; do
		case "$p" in "$RF"/*) ;; *) die "safe_rm: $p is outside $RF" ;; esac
		[ -z "$(mounts_under "$p")" ] || die "safe_rm: mounts under $p: $(mounts_under "$p")"
		rm -rf --one-file-system "$p"
	done
}

# Stops one process by PID: SIGTERM, up to $2 seconds, then SIGKILL.
# Its exit status goes to STOP_RC (128+N for signal N; KILLED=1 if it needed SIGKILL).
stop_pid() {
	local pid=$1 secs=${2:-10} i p keep=()
	KILLED=0
	STOP_RC=0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		KILLED=1
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || STOP_RC=$?
	for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

cleanup() {
	local rc=$? p left
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do stop_pid "$p" 5; done
	umount_all || true
	left=$(mounts_under "$RF")
	if [ -n "$left" ]; then
		bad cleanup "mounts left under $RF: $(echo $left)"
		[ "$rc" -eq 0 ] && rc=1
	fi
	[ "$SKIPPED" = 1 ] && [ -z "$left" ] && exit 0
	case "$rc" in
	0) ;;
	130 | 143) bad script "interrupted (SIG$([ "$rc" = 130 ] && echo INT || echo TERM)): everything stopped and unmounted" ;;
	*) [ "$NFAIL" -eq 0 ] && bad script "stopped with status $rc (see the messages above)" ;;
	esac
	[ "$rc" -eq 0 ] && [ "$NFAIL" -gt 0 ] && rc=1
	echo
	echo "== image-check summary: $DF, debian ${SUITE:-?} (debootstrap minbase), B=$B; logs in $RUNDIR"
	printf '%s\n' "${SUMMARY[@]}"
	for p in "${MEASURES[@]}"; do echo "  $p"; done
	if [ "$rc" -eq 0 ]; then
		echo "== image-check: PASS: $NOK ok, 0 failed in $(($(date +%s) - T0)) s"
	else
		echo "== image-check: FAIL: $NOK ok, $NFAIL failed in $(($(date +%s) - T0)) s"
	fi
	exit "$rc"
}
MEASURES=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A mounted tree left by a killed run is gone with its namespace; the
# directories are not: start the run's scratch space afresh.
[ -d "$RUNDIR" ] && safe_rm "$RUNDIR"
mkdir -p "$RUNDIR" "$RF/layers" "$RF/mnt" "$RF/work"

# ---- the Dockerfile, parsed ---------------------------------------------------
# One line per instruction: STAGE<TAB>OP<TAB>ARGS, continuation lines joined,
# comments and blank lines dropped (also inside a continued instruction, as
# Docker's parser does). Instructions before the first FROM belong to "-".
awk '
	BEGIN { stage = "-"; cur = "" }
	/^[ \t]*#/ || /^[ \t]*$/ { next }
	{
		line = $0
		sub(/^[ \t]+/, "", line)
		if (line ~ /\\[ \t]*$/) { sub(/[ \t]*\\[ \t]*$/, "", line); cur = cur line " "; next }
		cur = cur line
		op = cur; sub(/[ \t].*/, "", op); op = toupper(op)
		args = cur; sub(/^[^ \t]+[ \t]*/, "", args)
		if (op == "FROM") {
			n = split(args, w, /[ \t]+/)
			stage = (n >= 3 && toupper(w[2]) == "AS") ? w[3] : "stage" NR
		}
		printf "%s\t%s\t%s\n", stage, op, args
		cur = ""
	}' "$DF" >"$RUNDIR/dockerfile.tsv"

declare -A GARG FROM PARENT USER ENTRY CMD HASCOPY
STAGES=()
while IFS=$'\t' read -r st op args; do
	case "$st/$op" in
	-/ARG)
		[[ "$args" == *=* ]] && GARG[${args%%=*}]=${args#*=}
		;;
	*/FROM)
		f=${args%%[[:space:]]*}
		for k in "${!GARG[@]}"; do f=${f//\$\{$k\}/${GARG[$k]}}; done
		FROM[$st]=$f
		STAGES+=("$st")
		;;
	*/USER) USER[$st]=$args ;;
	*/ENTRYPOINT) ENTRY[$st]=$args ;;
	*/CMD) CMD[$st]=$args ;;
	*/COPY) HASCOPY[$st]=1 ;;
	esac
done <"$RUNDIR/dockerfile.tsv"

SUITE=""
TARGETS=()
for st in "${STAGES[@]}"; do
	f=${FROM[$st]}
	if [ -n "${FROM[$f]:-}" ]; then
		PARENT[$st]=$f
	elif [[ "$f" =~ ^debian:([a-z]+)-slim$ ]]; then
		PARENT[$st]=base
		[ -n "$SUITE" ] && [ "$SUITE" != "${BASH_REMATCH[1]}" ] && die "two Debian suites in $DF"
		SUITE=${BASH_REMATCH[1]}
	else
		continue # the build stage (debian:SUITE, not -slim): `make` on this machine stands in for it
	fi
	[ -n "${ENTRY[$st]:-}" ] && TARGETS+=("$st")
done
[ -n "$SUITE" ] || die "$DF: no stage FROM debian:<suite>-slim"
[ ${#TARGETS[@]} -gt 0 ] || die "$DF: no stage with an ENTRYPOINT"
for st in "${TARGETS[@]}"; do
	p=$st
	while [ "$p" != base ]; do
		: "${USER[$st]:=${USER[$p]:-}}" "${CMD[$st]:=${CMD[$p]:-}}"
		p=${PARENT[$p]}
	done
done

# The build stage's strip (RUN make ... && strip FLAGS build/a build/b): the
# same FLAGS on the copies of those files.
STRIP_FLAGS=""
STRIP_FILES=" "
strip_cmd=$(awk -F'\t' '$1 == "build" && $2 == "RUN" {print $3}' "$RUNDIR/dockerfile.tsv" |
	grep -o 'strip [^&;|]*' | head -1 || true)
for w in ${strip_cmd#strip}; do
	case "$w" in
	-*) STRIP_FLAGS="$STRIP_FLAGS $w" ;;
	*) STRIP_FILES="$STRIP_FILES$w " ;;
	esac
done

# ---- the pod, parsed: users, volumes, which image is which container ---------
node -e '
const fs = require("fs"), path = require("path"), { createRequire } = require("module");
let yaml;
try { yaml = createRequire(path.resolve("tests/e2e/package.json"))("js-yaml"); }
catch (e) { console.error("js-yaml missing: run `npm ci` in tests/e2e"); process.exit(2); }
const spec = yaml.load(fs.readFileSync(process.argv[1], "utf8")).spec.template.spec;
const kind = {};
for (const v of spec.volumes || []) kind[v.name] = Object.keys(v).find((k) => k !== "name");
const psc = spec.securityContext || {};
for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
  const sc = { ...psc, ...(c.securityContext || {}) };
  console.log(["container", c.name, c.image, sc.runAsUser ?? "", sc.runAsGroup ?? "", psc.fsGroup ?? "",
    sc.readOnlyRootFilesystem ? 1 : 0].join("\t"));
  for (const m of c.volumeMounts || [])
    console.log(["mount", c.name, m.name, m.mountPath, kind[m.name] || "?", m.readOnly ? 1 : 0].join("\t"));
}' "$POD" >"$RUNDIR/pod.tsv" || die "cannot read $POD"

declare -A CTR_OF RUNAS FSGROUP RO_ROOT
while IFS=$'\t' read -r what name image u g fsg ro; do
	[ "$what" = container ] || continue
	t=${image#llmgw-}
	CTR_OF[$t]=$name
	RUNAS[$t]=$u:$g
	FSGROUP[$t]=$fsg
	RO_ROOT[$t]=$ro
done <"$RUNDIR/pod.tsv"
# The emptyDir every container mounts carries the ipc socket.
SPANS_VOL=$(awk -F'\t' '$1 == "mount" && $5 == "emptyDir" {n[$3]++} END {for (v in n) if (n[v] > 1) print v}' "$RUNDIR/pod.tsv")
[ "$(echo "$SPANS_VOL" | wc -w)" -eq 1 ] || die "$POD: expected one emptyDir shared by the containers, found '$SPANS_VOL'"
SPANS_PATH=$(awk -F'\t' -v v="$SPANS_VOL" '$1 == "mount" && $3 == v {print $4; exit}' "$RUNDIR/pod.tsv")

echo "image-check: $DF -> stages ${STAGES[*]}; images ${TARGETS[*]} on debian $SUITE-slim (debootstrap minbase)"

# ---- base: debootstrap + the -slim image's configuration ----------------------
ARCH=$(dpkg --print-architecture)
BASE_KEY="suite=$SUITE variant=minbase arch=$ARCH mirror=$MIRROR security=$SECURITY_MIRROR slim=$SLIM_VERSION"

# What debuerreotype (the builder of the official debian images) adds to a
# minbase tree for the -slim variant: dpkg leaves out docs (but copyrights),
# man pages, info and locales, and what is there already goes; apt deletes
# its downloads after each install and keeps its lists compressed, no
# translations; services never start from a postinst. And the sources the
# official image has: SUITE, SUITE-updates, SUITE-security.
slim_base() {
	local r=$1 d
	case "$r" in "$RF"/?*) ;; *) die "slim_base: $r is not a tree under $RF" ;; esac # never the host's /etc
	cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<-'EOF'
		# as in debian:*-slim (debuerreotype slimify)
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/groff/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/linda/*
		path-exclude /usr/share/lintian/overrides/*
		path-exclude /usr/share/locale/*
		path-include /usr/share/locale/locale.alias
		path-exclude /usr/share/man/*
	EOF
	echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	for d in usr/share/doc usr/share/groff usr/share/info usr/share/linda usr/share/lintian/overrides usr/share/locale usr/share/man; do
		[ -d "$r/$d" ] || continue
		find "$r/$d" -mindepth 1 ! -type d ! -path "$r/usr/share/doc/*/copyright" \
			! -path "$r/usr/share/locale/locale.alias" -delete
		find "$r/$d" -mindepth 1 -depth -type d -empty -delete
	done
	local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
	cat >"$r/etc/apt/apt.conf.d/docker-clean" <<-EOF
		DPkg::Post-Invoke { $clean };
		APT::Update::Post-Invoke { $clean };
		Dir::Cache::pkgcache "";
		Dir::Cache::srcpkgcache "";
	EOF
	echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
	echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
	echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod 0755 "$r/usr/sbin/policy-rc.d"
	rm -f "$r/etc/apt/sources.list"
	cat >"$r/etc/apt/sources.list.d/debian.sources" <<-EOF
		Types: deb
		URIs: $MIRROR
		Suites: $SUITE $SUITE-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb
		URIs: $SECURITY_MIRROR
		Suites: $SUITE-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
}

ensure_debootstrap() {
	command -v debootstrap >/dev/null && return 0
	say "installing debootstrap (apt-get; only for image-check, not in deploy/deps.sh)"
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap; } \
		>"$RUNDIR/apt-debootstrap.log" 2>&1 ||
		skip "debootstrap is not installed and apt-get could not install it ($RUNDIR/apt-debootstrap.log)"
}

BASE_STATE=cached
build_base() {
	local t upgraded m d
	if [ -f "$RF/base.key" ] && [ "$(cat "$RF/base.key")" = "$BASE_KEY" ] && [ -x "$RF/base/bin/sh" ]; then
		ok base "debootstrap --variant=minbase $SUITE + slim config: cached ($RF/base)"
		return 0
	fi
	BASE_STATE=built
	curl -fsS --max-time 20 -o /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null ||
		skip "cannot reach the Debian mirror $MIRROR (set DEBIAN_MIRROR, or run once where it is reachable)"
	ensure_debootstrap
	rm -f "$RF/base.key" "$RF/layers/"*.key
	for d in "$RF/base" "$RF/base.new"; do [ -e "$d" ] && safe_rm "$d"; done
	t=$(now)
	say "debootstrap --variant=minbase $SUITE (timeout ${DEBOOTSTRAP_TIMEOUT}s; log $RUNDIR/debootstrap.log)"
	if ! timeout "$DEBOOTSTRAP_TIMEOUT" debootstrap --variant=minbase "$SUITE" "$RF/base.new" "$MIRROR" \
		>"$RUNDIR/debootstrap.log" 2>&1; then
		tail -5 "$RUNDIR/debootstrap.log" >&2
		# debootstrap mounts /proc and /sys in the target; gone with our namespace anyway.
		for m in $(mounts_under "$RF/base.new" | sort -r); do umount -l "$m" || true; done
		fatal base "debootstrap failed (see $RUNDIR/debootstrap.log)"
	fi
	for m in $(mounts_under "$RF/base.new" | sort -r); do umount -l "$m" || true; done
	slim_base "$RF/base.new"
	# debootstrap takes SUITE as of its last point release; the official image
	# is rebuilt with the security and updates suites applied.
	mount_system "$RF/base.new"
	if ! env -i PATH="$RUN_PATH" HOME=/root DEBIAN_FRONTEND=noninteractive timeout "$RUN_TIMEOUT" \
		chroot "$RF/base.new" sh -c 'apt-get update && apt-get -y upgrade && rm -rf /var/lib/apt/lists/*' \
		</dev/null >"$RUNDIR/base-upgrade.log" 2>&1; then
		tail -5 "$RUNDIR/base-upgrade.log" >&2
		fatal base "apt-get upgrade of the base failed (see $RUNDIR/base-upgrade.log)"
	fi
	umount_all "$RF/base.new"
	upgraded=$(grep -c '^Unpacking ' "$RUNDIR/base-upgrade.log" || true)
	mv "$RF/base.new" "$RF/base"
	echo "$BASE_KEY" >"$RF/base.key"
	ok base "debootstrap --variant=minbase $SUITE + slim config + $upgraded updates: built in $(since "$t")"
}

# ---- stages as overlay layers -------------------------------------------------
# lowerdir for a stage's children: its layer over its ancestors', over base.
lowers() {
	local st=$1 l=""
	while [ "$st" != base ]; do
		l="$l$RF/layers/$st:"
		st=${PARENT[$st]}
	done
	echo "$l$RF/base"
}

overlay_mount() { # merged upper lowerdir
	local merged=$1 upper=$2 low=$3 work
	work=$RF/work/$(basename "$merged")
	[ -e "$work" ] && safe_rm "$work"
	mkdir -p "$merged" "$upper" "$work"
	mnt -t overlay overlay -o "lowerdir=$low,upperdir=$upper,workdir=$work" "$merged"
}

# What a container (or a RUN step) sees besides its image: /proc, a small /dev,
# /sys read-only, the host's resolv.conf and hosts read-only.
mount_system() {
	local r=$1 f
	mnt -t proc proc "$r/proc"
	mnt -t tmpfs -o nosuid,mode=0755,size=65536k tmpfs "$r/dev"
	mknod -m 0666 "$r/dev/null" c 1 3
	mknod -m 0666 "$r/dev/zero" c 1 5
	mknod -m 0666 "$r/dev/full" c 1 7
	mknod -m 0666 "$r/dev/random" c 1 8
	mknod -m 0666 "$r/dev/urandom" c 1 9
	mknod -m 0666 "$r/dev/tty" c 5 0
	ln -s /proc/self/fd "$r/dev/fd"
	ln -s /proc/self/fd/0 "$r/dev/stdin"
	ln -s /proc/self/fd/1 "$r/dev/stdout"
	ln -s /proc/self/fd/2 "$r/dev/stderr"
	mkdir "$r/dev/shm"
	mnt -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm "$r/dev/shm"
	mnt -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
	for f in resolv.conf hosts; do
		[ -f "$r/etc/$f" ] && [ -f "/etc/$f" ] || continue
		mnt --bind "/etc/$f" "$r/etc/$f"
		mount -o remount,bind,ro "$r/etc/$f"
	done
}

# Environment of a RUN step: Docker's PATH, and the stage's ARGs declared so far.
RUN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# COPY [--from=build] SRC DEST into the merged tree $1.
do_copy() {
	local r=$1 args=$2 from="" src dest host
	set -- $args
	while [[ "$1" == --* ]]; do
		case "$1" in
		--from=*) from=${1#--from=} ;;
		*) die "COPY $1 is not reproduced by rootfs.sh" ;;
		esac
		shift
	done
	[ $# -eq 2 ] || die "COPY with $# paths is not reproduced by rootfs.sh: COPY $args"
	src=$1 dest=$2
	if [ -n "$from" ]; then
		[ "$from" = build ] || die "COPY --from=$from: only the build stage is reproduced"
		# WORKDIR /src, and make's default B=build there: /src/build/x is $B/x here.
		case "$src" in /src/build/*) host=$BA/${src#/src/build/} ;; *) die "COPY --from=build $src: not under /src/build/" ;; esac
	else
		host=$REPO/$src
	fi
	[ -f "$host" ] || die "COPY: $host does not exist"
	[[ "$dest" == */ ]] && dest=$dest$(basename "$src")
	mkdir -p "$r$(dirname "$dest")"
	cp --preserve=mode "$host" "$r$dest"
	chown 0:0 "$r$dest"
	if [ -n "$from" ] && [[ "$STRIP_FILES" == *" ${src#/src/} "* ]]; then
		# shellcheck disable=SC2086
		strip $STRIP_FLAGS "$r$dest"
	fi
	echo "COPY $src -> $dest ($(mb "$(stat -c %s "$r$dest")"))"
}

STAGE_STATE=()
declare -A STAGE_DONE
build_stage() {
	local st=$1 key parent t merged upper op args env=() runs=0 copies=0 log rc l
	[ -n "${STAGE_DONE[$st]:-}" ] && return 0
	STAGE_DONE[$st]=1
	parent=${PARENT[$st]}
	[ "$parent" != base ] && build_stage "$parent"
	key=$( {
		[ "$parent" = base ] && cat "$RF/base.key" || cat "$RF/layers/$parent.key"
		awk -F'\t' -v s="$st" '$1 == s' "$RUNDIR/dockerfile.tsv"
	} | sha256sum | cut -c1-16)
	# A stage that copies from the build is remade every run: its inputs are
	# this checkout's binaries, and its RUN checks them.
	if [ -z "${HASCOPY[$st]:-}" ] && [ -f "$RF/layers/$st.key" ] && [ "$(cat "$RF/layers/$st.key")" = "$key" ]; then
		ok "$st" "$(awk -F'\t' -v s="$st" '$1 == s && $2 == "RUN"' "$RUNDIR/dockerfile.tsv" | wc -l) RUN: cached (layer $RF/layers/$st, key $key)"
		STAGE_STATE+=("$st:cached")
		return 0
	fi
	STAGE_STATE+=("$st:built")
	t=$(now)
	rm -f "$RF/layers/$st.key"
	upper=$RF/layers/$st.new
	merged=$RF/mnt/$st
	for d in "$upper" "$RF/layers/$st"; do [ -e "$d" ] && safe_rm "$d"; done
	overlay_mount "$merged" "$upper" "$(lowers "$parent")"
	mount_system "$merged"
	log=$RUNDIR/stage-$st.log
	: >"$log"
	while IFS=$'\t' read -r s op args; do
		[ "$s" = "$st" ] || continue
		case "$op" in
		FROM | LABEL | EXPOSE | USER | ENTRYPOINT | CMD) ;;
		ARG)
			[[ "$args" == *=* ]] && env+=("$args")
			[[ "$args" != *=* ]] && [ -n "${GARG[$args]:-}" ] && env+=("$args=${GARG[$args]}")
			;;
		RUN)
			runs=$((runs + 1))
			echo "+ RUN $args" >>"$log"
			rc=0
			env -i PATH="$RUN_PATH" HOME=/root HOSTNAME=rootfs-build "${env[@]}" \
				timeout "$RUN_TIMEOUT" chroot "$merged" /bin/sh -c "$args" </dev/null >>"$log" 2>&1 || rc=$?
			if [ "$rc" -ne 0 ]; then
				tail -15 "$log" | sed 's/^/    /' >&2
				fatal "$st" "RUN #$runs exited $rc ($log): RUN ${args:0:100}..."
			fi
			;;
		COPY)
			copies=$((copies + 1))
			do_copy "$merged" "$args" >>"$log"
			;;
		*) fatal "$st" "$op is not reproduced by rootfs.sh (teach it, or keep the stage to RUN/COPY/USER/ENTRYPOINT/CMD)" ;;
		esac
	done <"$RUNDIR/dockerfile.tsv"
	umount_all "$merged"
	mv "$upper" "$RF/layers/$st"
	echo "$key" >"$RF/layers/$st.key"
	ok "$st" "$copies COPY, $runs RUN in chroot: built in $(since "$t") (layer $(mb "$(size_of "$RF/layers/$st")"))"
	# What the stage's own checks said (ldd ... not found, --check-config).
	while IFS= read -r l; do info "$st: $l"; done < <(grep -E '^\+ RUN .*ldd|configuration ok|not found' "$log" |
		sed 's/^+ RUN \(.\{0,110\}\).*/RUN \1... -> exit 0/' || true)
}

# ---- containers ---------------------------------------------------------------
# ctr_root NAME TARGET: the image's layers under a fresh writable container
# layer (as Docker's overlay2), bind-mounted read-only at $RF/mnt/ctr-NAME
# (Kubernetes' readOnlyRootFilesystem), with the pod's emptyDirs and /proc,
# /dev, /sys mounted in it. Sets CTR_ROOT.
declare -A VOLDIR
ctr_root() {
	local name=$1 t=$2 merged root c vol path kind ro inner
	merged=$RF/mnt/ctr-$name.rw
	root=$RF/mnt/ctr-$name
	overlay_mount "$merged" "$RUNDIR/ctr-$name.upper" "$(lowers "$t")"
	c=${CTR_OF[$t]}
	# Mount points are made in the writable layer before it turns read-only, as runc does.
	while IFS=$'\t' read -r what cname vol path kind ro; do
		[ "$what" = mount ] && [ "$cname" = "$c" ] && [ "$kind" = emptyDir ] || continue
		inner=$(chroot "$merged" readlink -m "$path")
		mkdir -p "$merged$inner"
	done <"$RUNDIR/pod.tsv"
	# ... and the files the runtime bind-mounts from the host (see mount_system).
	touch "$merged/etc/hosts" "$merged/etc/resolv.conf"
	mkdir -p "$root"
	mnt --bind "$merged" "$root"
	mount -o remount,bind,ro "$root"
	while IFS=$'\t' read -r what cname vol path kind ro; do
		[ "$what" = mount ] && [ "$cname" = "$c" ] && [ "$kind" = emptyDir ] || continue
		# emptyDir: a directory the pod's containers share, group fsGroup, setgid.
		if [ -z "${VOLDIR[$vol]:-}" ]; then
			VOLDIR[$vol]=$RUNDIR/vol-$vol
			mkdir -p "${VOLDIR[$vol]}"
			chgrp "${FSGROUP[$t]:-0}" "${VOLDIR[$vol]}"
			chmod 2777 "${VOLDIR[$vol]}"
		fi
		inner=$(chroot "$merged" readlink -m "$path")
		mnt --bind "${VOLDIR[$vol]}" "$root$inner"
		info "$name: emptyDir '$vol' at $path ($inner in the image) = $RUNDIR/vol-$vol"
	done <"$RUNDIR/pod.tsv"
	mount_system "$root"
	CTR_ROOT=$root
}

# ctr_cmd ROOT TARGET ENV... -- ARGV...: sets CMDV to the command that runs
# ARGV as the pod runs it (run it directly, so that $! is the process itself).
ctr_cmd() {
	local root=$1 t=$2 uid gid home
	shift 2
	uid=${RUNAS[$t]%%:*} gid=${RUNAS[$t]#*:}
	home=$(awk -F: -v u="$uid" '$3 == u {print $6}' "$root/etc/passwd")
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	# shellcheck disable=SC2054 # the commas are setpriv's
	# setpriv keeps only what chroot needs; chroot's setuid to a non-zero uid
	# then clears every capability, and no_new_privs keeps them cleared.
	CMDV=(env -i PATH="$RUN_PATH" HOSTNAME="llmgw-$t" HOME="${home:-/}" "${envs[@]}"
		setpriv --no-new-privs --bounding-set=-all,+sys_chroot,+setuid,+setgid
		chroot --userspec="$uid:$gid" --groups="$gid,${FSGROUP[$t]:-$gid}" "$root" "$@")
}

json_argv() { node -e 'for (const a of JSON.parse(process.argv[1])) console.log(a)' "$1"; }

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" || true; }

# wait_http URL CODE PID SECS: polls until URL answers CODE; fails when PID dies.
wait_http() {
	local i
	for ((i = 0; i < $4 * 10; i++)); do
		[ "$(http_code "$1")" = "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

proc_field() { awk -v f="$2:" '$1 == f {$1 = ""; sub(/^ /, ""); print}' "/proc/$1/status"; }

# Uid/Gid/caps/no_new_privs of a running container process, and its root read-only.
check_identity() {
	local name=$1 pid=$2 t=$3 root=$4 uid gid u g cap nnp opts
	uid=${RUNAS[$t]%%:*} gid=${RUNAS[$t]#*:}
	u=$(proc_field "$pid" Uid | awk '{print $1, $2, $3, $4}')
	g=$(proc_field "$pid" Gid | awk '{print $1, $2, $3, $4}')
	cap=$(proc_field "$pid" CapEff)
	nnp=$(proc_field "$pid" NoNewPrivs)
	if [ "$u" = "$uid $uid $uid $uid" ] && [ "$g" = "$gid $gid $gid $gid" ] &&
		[ "$cap" = 0000000000000000 ] && [ "$nnp" = 1 ] &&
		[ "$(readlink "/proc/$pid/root")" = "$root" ]; then
		ok "$name" "runs as uid $uid gid $gid (groups $(proc_field "$pid" Groups)), CapEff 0, NoNewPrivs 1, root $root"
	else
		bad "$name" "identity: Uid '$u' Gid '$g' CapEff $cap NoNewPrivs $nnp root $(readlink "/proc/$pid/root")"
	fi
	# The root as the process sees it: its mountinfo entry for "/" must say ro.
	opts=$(awk '$5 == "/" {o = $6} END {print o}' "/proc/$pid/mountinfo")
	if [[ ",$opts," == *,ro,* ]] && ! touch "$root/.rw-probe" 2>/dev/null; then
		ok "$name" "root filesystem read-only (its / mounted $opts)"
	else
		rm -f "$root/.rw-probe"
		bad "$name" "root filesystem is writable (its / mounted '$opts')"
	fi
}

# ---- run ----------------------------------------------------------------------
build_base
for st in "${TARGETS[@]}"; do build_stage "$st"; done

for t in "${TARGETS[@]}"; do
	[ -n "${CTR_OF[$t]:-}" ] || fatal "$t" "no container in $POD runs image llmgw-$t"
	if [ "${USER[$t]}" = "${RUNAS[$t]}" ]; then
		ok "$t" "USER ${USER[$t]} = the pod's runAsUser:runAsGroup; readOnlyRootFilesystem=${RO_ROOT[$t]}"
	else
		bad "$t" "USER '${USER[$t]}' but the pod runs it as ${RUNAS[$t]}"
	fi
done

# Sizes: the debootstrap tree, each layer, each image; and what the runtime
# stage's apt-get added, by dpkg's Installed-Size.
dpkg_sizes() { LC_ALL=C awk '/^Package:/ {p = $2} /^Status:/ {s = ($4 == "installed")} /^Installed-Size:/ {if (s) print p, $2} /^$/ {s = 0}' "$1" | LC_ALL=C sort; }
base_b=$(size_of "$RF/base")
MEASURES+=("size: base (debootstrap minbase + slim) $(mb "$base_b")")
for st in "${STAGES[@]}"; do
	[ -d "$RF/layers/$st" ] || continue
	MEASURES+=("size: layer $st $(mb "$(size_of "$RF/layers/$st")")")
	if [ -f "$RF/layers/$st/var/lib/dpkg/status" ]; then
		added=$(LC_ALL=C join -v2 <(dpkg_sizes "$RF/base/var/lib/dpkg/status") <(dpkg_sizes "$RF/layers/$st/var/lib/dpkg/status"))
		MEASURES+=("size: $st installs $(echo "$added" | grep -c .) packages, Installed-Size $(echo "$added" | awk '{s += $2} END {printf "%.1f MB", s * 1024 / 1e6}'): $(echo "$added" | awk '{print $1}' | tr '\n' ' ')")
	fi
done
for t in "${TARGETS[@]}"; do
	total=$base_b
	p=$t
	while [ "$p" != base ]; do
		total=$((total + $(size_of "$RF/layers/$p")))
		p=${PARENT[$p]}
	done
	MEASURES+=("size: image $t $(mb "$total") (base + layers)")
done

for _ in 1 2 3 4 5; do
	up=$(free_port) sink=$(free_port) gw=$(free_port) admin=$(free_port)
	[ "$(printf '%s\n' "$up" "$sink" "$gw" "$admin" | sort -u | wc -l)" -eq 4 ] && break
done

"$BA/otlp-sink" --listen "127.0.0.1:$sink" >"$RUNDIR/otlp-sink.log" 2>&1 &
PIDS+=($!)
SINK_PID=$!
"$BA/llmgw-mock" --listen "127.0.0.1:$up" >"$RUNDIR/llmgw-mock.log" 2>&1 &
PIDS+=($!)
MOCK_PID=$!
wait_http "http://127.0.0.1:$sink/_sink/stats" 200 "$SINK_PID" 30 || fatal host "otlp-sink did not start ($RUNDIR/otlp-sink.log)"
wait_http "http://127.0.0.1:$up/_mock/stats" 200 "$MOCK_PID" 30 || fatal host "llmgw-mock did not start ($RUNDIR/llmgw-mock.log)"

TEST_KEY="sk-rootfs-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
SPANS_URL="ipc://$SPANS_PATH/spans.sock"
declare -A ENV_OF ROOT_OF PID_OF
ENV_OF[exporter]="LLMGW_SPANS_URL=$SPANS_URL LLMGW_EXPORTER_ADMIN=127.0.0.1:$admin OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$sink"
ENV_OF[gateway]="LLMGW_SPANS_URL=$SPANS_URL LLMGW_LISTEN=127.0.0.1:$gw OPENAI_BASE_URL=http://127.0.0.1:$up/v1 OPENAI_API_KEY=$TEST_KEY"
for t in "${TARGETS[@]}"; do
	[ -n "${ENV_OF[$t]:-}" ] || fatal "$t" "rootfs.sh knows how to run the gateway and the exporter, not '$t'"
done

# The sidecar first (a native sidecar starts before the main container).
order=(exporter gateway)
for t in "${order[@]}"; do
	ctr_root "$t" "$t"
	ROOT_OF[$t]=$CTR_ROOT
	mapfile -t argv < <(json_argv "${ENTRY[$t]}")
	mapfile -t -O "${#argv[@]}" argv < <(json_argv "${CMD[$t]}")
	# shellcheck disable=SC2086
	ctr_cmd "${ROOT_OF[$t]}" "$t" ${ENV_OF[$t]} -- "${argv[@]}" --check-config
	if out=$("${CMDV[@]}" 2>&1); then
		ok "$t" "as ${RUNAS[$t]} on the read-only root: ${argv[*]} --check-config: $(echo "$out" | grep 'configuration ok' | head -1)"
	else
		echo "$out" >&2
		bad "$t" "${argv[*]} --check-config failed as ${RUNAS[$t]} with the run's environment"
	fi
	# shellcheck disable=SC2086
	ctr_cmd "${ROOT_OF[$t]}" "$t" ${ENV_OF[$t]} -- "${argv[@]}"
	"${CMDV[@]}" >"$RUNDIR/$t.log" 2>&1 &
	PID_OF[$t]=$!
	PIDS+=($!)
	if [ "$t" = exporter ]; then
		wait_http "http://127.0.0.1:$admin/healthz" 200 "${PID_OF[$t]}" 30 ||
			fatal exporter "did not answer /healthz on 127.0.0.1:$admin ($RUNDIR/exporter.log)"
		ok exporter "started: ${argv[*]}; /healthz 200, /readyz $(http_code "http://127.0.0.1:$admin/readyz") on 127.0.0.1:$admin"
	else
		wait_http "http://127.0.0.1:$gw/readyz" 200 "${PID_OF[$t]}" 30 ||
			fatal gateway "did not answer /readyz on 127.0.0.1:$gw ($RUNDIR/gateway.log)"
		ok gateway "started: ${argv[*]}; /healthz $(http_code "http://127.0.0.1:$gw/healthz"), /readyz 200 on 127.0.0.1:$gw"
	fi
	check_identity "$t" "${PID_OF[$t]}" "$t" "${ROOT_OF[$t]}"
done

sock=${VOLDIR[$SPANS_VOL]}/spans.sock
if [ -S "$sock" ]; then
	ok ipc "$SPANS_URL: socket in the shared emptyDir '$SPANS_VOL', owner $(stat -c %u:%g "$sock")"
else
	bad ipc "no socket $sock in the shared emptyDir '$SPANS_VOL'"
fi

trace=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
code=$(curl -s -m 30 -o "$RUNDIR/response.json" -w '%{http_code}' \
	-H 'content-type: application/json' -H "traceparent: 00-$trace-00f067aa0ba902b7-01" \
	--data '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from the rootfs"}]}' \
	"http://127.0.0.1:$gw/v1/chat/completions" || true)
upstream=$(curl -s -m 5 "http://127.0.0.1:$up/_mock/stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).chat_completions))' || echo '?')
if [ "$code" = 200 ] && grep -q 'hello from the rootfs' "$RUNDIR/response.json" && [ "$upstream" = 1 ]; then
	ok request "POST /v1/chat/completions gpt-4o-mini -> 200 via the openai provider (OPENAI_BASE_URL) to llmgw-mock on the host (1 upstream call)"
else
	bad request "POST /v1/chat/completions -> $code, upstream calls $upstream: $(head -c 300 "$RUNDIR/response.json" 2>/dev/null)"
fi

# The spans of that trace at otlp-sink, through the exporter (batch timeout 1 s).
spans=""
for ((i = 0; i < 300; i++)); do
	spans=$(curl -s -m 5 "http://127.0.0.1:$sink/_sink/spans" | node -e '
		let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
		  const k = { 2: "SERVER", 3: "CLIENT" };
		  const m = JSON.parse(s).filter((x) => x.trace_id === process.argv[1]);
		  console.log(m.map((x) => `${k[x.kind] || x.kind}:${x.name}@${x.resource["service.name"]}`).sort().join(" "));
		});' "$trace" || true)
	[[ "$spans" == *SERVER:* && "$spans" == *CLIENT:* ]] && break
	sleep 0.1
done
if [[ "$spans" == *SERVER:*@llmgw-gateway* && "$spans" == *CLIENT:*@llmgw-gateway* ]]; then
	ok spans "trace $trace at otlp-sink (OTEL_EXPORTER_OTLP_ENDPOINT): $spans"
else
	bad spans "trace $trace not at otlp-sink as SERVER + CLIENT spans: '$spans'"
fi

if grep -qF "$TEST_KEY" "$RUNDIR"/*.log "$RUNDIR/response.json" 2>/dev/null; then
	bad secrets "the provider key appears in a log"
fi

# Kubernetes' order: the main container stops first, the sidecar after it.
for t in gateway exporter; do
	stop_pid "${PID_OF[$t]}" 40
	if [ "$STOP_RC" = 0 ] && [ "$KILLED" = 0 ]; then
		ok "$t" "SIGTERM -> exit 0"
	else
		bad "$t" "SIGTERM -> exit $STOP_RC$([ "$KILLED" = 1 ] && echo ' after SIGKILL') ($RUNDIR/$t.log)"
	fi
done
for p in "$MOCK_PID" "$SINK_PID"; do stop_pid "$p" 5; done

umount_all
left=$(mounts_under "$RF")
if [ -z "$left" ]; then
	ok cleanup "every process stopped by PID, every mount undone (none left under $RF)"
else
	bad cleanup "mounts left: $left"
fi
MEASURES+=("time: this run $(($(date +%s) - T0)) s (base $BASE_STATE, ${STAGE_STATE[*]})")
