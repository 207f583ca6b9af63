#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs the Debian packages llmgw needs to build, test and benchmark.
# Idempotent: asks dpkg first and runs apt-get only for what is missing,
# so `make test` / `make run` can call it every time at no cost.
#
#   deploy/deps.sh              build + test dependencies
#   deploy/deps.sh --build-only just what `make` needs (the container image's build stage)
#   deploy/deps.sh --bench      also the benchmark tools (nginx, wrk, haproxy)
#   deploy/deps.sh --fuzz       the same (clang and its libFuzzer runtime are test deps now)
set -eu

build_pkgs="build-essential pkg-config ca-certificates
libevent-dev libnghttp2-dev libssl-dev libprotobuf-c-dev protobuf-c-compiler
libyaml-dev libnanomsg-dev zlib1g-dev libjansson-dev libhiredis-dev"
# kubernetes-client: kubectl (its built-in kustomize) for the deploy tests.
# clang-format: `make lint`, one test of `make test`.
# clang + libclang-rt-14-dev: libFuzzer and the sanitizer runtimes, so `make
# test` fuzzes every target briefly (without them it only replays the corpora).
test_pkgs="curl openssl libcmocka-dev redis-server
nghttp2-proxy
nodejs npm
kubernetes-client
clang libclang-rt-14-dev clang-format"
pkgs="$build_pkgs $test_pkgs"

for arg in "$@"; do
	case "$arg" in
	--build-only) pkgs="$build_pkgs" ;;
	--bench) pkgs="$pkgs nginx-light wrk haproxy" ;;
	--fuzz) ;; # kept for old scripts: test_pkgs has clang's libFuzzer
	*) echo "deps.sh: unknown option $arg" >&2; exit 2 ;;
	esac
done

missing=""
for p in $pkgs; do
	# `dpkg -s` says "Status: install ok installed" only for a real install.
	if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
		missing="$missing $p"
	fi
done
# Node may come from elsewhere (nodesource, the machine image): accept any node >= 18.
case "$missing" in
*nodejs* | *npm*)
	if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
		[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]; then
		missing=$(printf '%s\n' $missing | grep -vx -e nodejs -e npm | tr '\n' ' ')
	fi
	;;
esac
# Any kubectl already on PATH will do (e.g. the cloud SDK's, whose package owns
# /usr/bin/kubectl and would make Debian's kubernetes-client fail to install).
case " $missing " in
*" kubernetes-client "*)
	if command -v kubectl >/dev/null 2>&1; then
		missing=$(printf '%s\n' $missing | grep -vx kubernetes-client | tr '\n' ' ')
	fi
	;;
esac
missing=$(echo $missing)
[ -z "$missing" ] && exit 0

echo "deps.sh: installing: $missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
