#!/usr/bin/env bash
# Make sure Debian's chromium is installed: the browser tests drive it with Python playwright
# (`playwright install` cannot download its own browser builds here). Safe to run again.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium: already installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium: /usr/bin/chromium is missing; run as root: apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "chromium: /usr/bin/chromium is missing; running apt-get update"
apt-get update -q
echo "chromium: running apt-get install -y --no-install-recommends chromium"
apt-get install -y -q --no-install-recommends chromium
echo "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium))"
