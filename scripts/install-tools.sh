#!/usr/bin/env bash
# Install the Debian tools the tests drive: GDAL's command-line client (ogrinfo, ogr2ogr) for
# the OGC API typing tests; Prometheus (prometheus, promtool) and Alertmanager for the metrics
# and Alertmanager tests. Idempotent: installs only what is missing. The packages' own
# services are not needed (the tests start their own, on free ports).
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
missing=()
command -v ogrinfo >/dev/null 2>&1 && command -v ogr2ogr >/dev/null 2>&1 || missing+=(gdal-bin)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || command -v prometheus-alertmanager >/dev/null 2>&1 \
  || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-tools: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
