#!/usr/bin/env bash
# Install PostgreSQL, PostGIS and TimescaleDB (Apache build), and the Mosquitto MQTT broker,
# on Debian 12 or 13, idempotently.
# Runs as root, or as an ordinary user with sudo.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

. /etc/os-release
CODENAME="${VERSION_CODENAME:-}"
log() { echo "install-db: $*" >&2; }

have_ext() {  # have_ext PGVER NAME -> control file exists
  [ -f "/usr/share/postgresql/$1/extension/$2.control" ]
}

pg_version_for() {
  case "$CODENAME" in
    bookworm) echo 15 ;;
    trixie) echo 17 ;;
    *) log "unsupported Debian release '$CODENAME' (need bookworm or trixie)"; exit 1 ;;
  esac
}

PGV="$(pg_version_for)"

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

apt_install "postgresql-$PGV" "postgresql-client-$PGV" "postgresql-$PGV-postgis-3" "postgresql-contrib"
# The embedded MQTT broker (gridwatch broker start) and its tools (mosquitto_passwd, mosquitto_sub).
apt_install mosquitto mosquitto-clients

if have_ext "$PGV" timescaledb; then
  log "TimescaleDB already installed for PostgreSQL $PGV"
  exit 0
fi

if [ "$CODENAME" = "trixie" ]; then
  apt_install "postgresql-$PGV-timescaledb"
  exit 0
fi

# Debian 12: build Debian's own timescaledb source package from trixie against PostgreSQL 15.
apt_install "postgresql-server-dev-$PGV" cmake gcc make dpkg-dev libssl-dev
SRC_LIST=/etc/apt/sources.list.d/gridwatch-trixie-src.sources
if [ ! -f "$SRC_LIST" ]; then
  # Reuse the mirror this machine already uses for Debian; no host name lives in this script.
  URI=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    URI="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$URI" ] && [ -f /etc/apt/sources.list ]; then
    URI="$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file|ftp):/) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  if [ -z "$URI" ]; then log "cannot find the Debian mirror in the apt sources"; exit 1; fi
  log "adding trixie deb-src from $URI"
  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$URI" \
    | $SUDO tee "$SRC_LIST" >/dev/null
  $SUDO apt-get update -qq
fi
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
cd "$BUILD"
log "fetching timescaledb source (trixie)"
apt-get source -qq timescaledb/trixie >/dev/null 2>&1 || apt-get source -qq -t trixie timescaledb >/dev/null
SRCDIR="$(find . -maxdepth 1 -type d -name 'timescaledb-*' | head -1)"
cd "$SRCDIR"
log "building TimescaleDB (Apache-only) in $SRCDIR"
cmake -S . -B build -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
  -DPG_CONFIG="/usr/lib/postgresql/$PGV/bin/pg_config" -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1
make -C build -j"$(nproc)" >/dev/null
$SUDO make -C build install >/dev/null
have_ext "$PGV" timescaledb && log "TimescaleDB installed for PostgreSQL $PGV"
