#!/bin/sh
# ensure-debian-package.sh PACKAGE COMMAND...: installs Debian's PACKAGE (no recommends) when
# any COMMAND (a name on PATH or an absolute path) is missing. Tests that need a real tool
# (Prometheus, Chromium) use the distribution's build, never a download of their own.
# Exit 0: all there; 2: cannot install here (no apt-get, or neither root nor sudo);
# any other code: the install failed or left a command missing.
set -eu
PACKAGE=$1
shift

present() {
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || return 1
    done
}

if present "$@"; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-debian-package: $* missing and no apt-get to install '$PACKAGE'" >&2
    exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-debian-package: not root and no password-less sudo; install Debian's '$PACKAGE' package" >&2
        exit 2
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "$PACKAGE"
present "$@"
