#!/usr/bin/env bash
# Installs the Debian packages the test suite runs for real, when they are missing (chromium is
# the browser the dashboard's tests drive: never a browser downloaded by Playwright; prometheus
# brings promtool, which checks and unit-tests dashboards/prometheus/rules.yaml; iproute2's
# `ip netns` runs the quorum's tests in network namespaces).
# With --bench, also those the benchmarks compare against (bench/, docs/benchmarks.md).
# Non-interactive, and without starting their services (policy-rc.d answers "no").
set -euo pipefail

usage="usage: $0 [--bench]
Installs Debian's nginx, chromium, prometheus (for promtool) and iproute2 for the tests when
missing; with --bench, also prometheus-blackbox-exporter, wrk and hey (for bench/). Needs root
only when something is missing."

packages=(nginx chromium prometheus iproute2)
for arg in "$@"; do
    case "$arg" in
        --bench) packages+=(prometheus-blackbox-exporter wrk hey) ;;
        -h | --help)
            echo "$usage"
            exit 0
            ;;
        *)
            echo "$usage" >&2
            exit 2
            ;;
    esac
done

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them: apt-get install ${missing[*]})" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
