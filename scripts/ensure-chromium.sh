#!/bin/sh
# Installs Debian's chromium package when /usr/bin/chromium is missing: the studio's browser
# tests drive it with Python playwright (executable_path), never a downloaded browser.
set -eu
# Exit 2: cannot install here (no apt-get, or neither root nor sudo); 1: the install failed.

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: /usr/bin/chromium missing and no apt-get to install it" >&2
    exit 2
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure-chromium: not root and no password-less sudo; install Debian's 'chromium' package" >&2
        exit 2
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium

test -x /usr/bin/chromium
