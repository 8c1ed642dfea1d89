#!/usr/bin/env bash
# Install GDAL's command-line client (ogrinfo, ogr2ogr) for the OGC API typing tests.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v ogrinfo >/dev/null 2>&1 && command -v ogr2ogr >/dev/null 2>&1; then exit 0; fi
echo "install-tools: installing gdal-bin" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gdal-bin >/dev/null
