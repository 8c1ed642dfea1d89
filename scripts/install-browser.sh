#!/usr/bin/env bash
# Install Debian's Chromium for the map tests (never a test tool's own browser download).
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "install-browser: installing chromium" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
