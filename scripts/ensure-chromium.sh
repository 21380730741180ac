#!/bin/sh
# Debian's chromium package: the studio's browser tests drive /usr/bin/chromium with Python
# playwright (executable_path), never a downloaded browser.
# Exit codes as scripts/ensure-debian-package.sh.
set -eu
exec sh "$(dirname "$0")/ensure-debian-package.sh" chromium /usr/bin/chromium
