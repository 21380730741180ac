#!/bin/sh
# Debian's prometheus package (prometheus + promtool): the observability test needs both.
# Exit codes as scripts/ensure-debian-package.sh.
set -eu
here=$(dirname "$0")
sh "$here/ensure-debian-package.sh" prometheus prometheus promtool

# Debian's package starts a system service where an init system runs; tests start their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    if [ "$(id -u)" -eq 0 ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
        sudo -n systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi
