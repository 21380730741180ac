#!/bin/sh
# Installs Debian's prometheus package (prometheus + promtool) when either is missing.
# The observability test needs both; CI runs as root with Debian's repositories reachable.
set -eu
# Exit 2: cannot install here (no apt-get, or neither root nor sudo); 1: the install failed.

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: prometheus/promtool missing and no apt-get to install them" >&2
    exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-prometheus: not root and no password-less sudo; install Debian's 'prometheus' package" >&2
        exit 2
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends: the server and promtool only, not the node exporter etc.
$SUDO apt-get install -y -q --no-install-recommends prometheus

# Debian's package starts a system service where an init system runs; tests start their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
