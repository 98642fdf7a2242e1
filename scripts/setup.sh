#!/usr/bin/env bash
# Shared set-up for ./run.sh and ./test.sh: virtualenv, dependencies, database, migrations.
# Without DATABASE_URL a project-local PostGIS cluster is started under .pgdata/ (127.0.0.1:54329);
# the PostGIS Debian package is installed when running as root (or with sudo), otherwise the exact
# apt-get command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi; }

apt_install() {
  # Install Debian packages that are missing; say exactly what to do when we cannot.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing ${missing[*]} …"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
     ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    echo "Please install as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
}

if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "Python >= 3.11 is required (found: $("$PYTHON" --version 2>&1))" >&2; exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then apt_install python3-venv; fi
if [ -z "${DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql
fi
# The PDF case-file report (WeasyPrint) needs Pango and a Chinese font; without them the service still
# runs and the PDF endpoint says what is missing.
apt_install_soft() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! ( as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ); then
    echo "PDF reports need: apt-get install -y ${missing[*]} (continuing without)" >&2
  fi
}
apt_install_soft libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-microhei
# Extra system packages named by the caller (e.g. gdal-bin for the real-client tests).
if [ -n "${LANDGIS_APT_PACKAGES:-}" ]; then apt_install ${LANDGIS_APT_PACKAGES}; fi

if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
stamp=.venv/.landgis-deps
want="$(sha256sum pyproject.toml | cut -d' ' -f1)-${LANDGIS_EXTRAS:-test}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[${LANDGIS_EXTRAS:-test}]"
  echo "$want" > "$stamp"
fi

.venv/bin/landgis db up
