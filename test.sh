#!/usr/bin/env bash
# Command 2: the same set-up as ./run.sh, then lint and the whole test suite on real PostGIS.
set -euo pipefail
cd "$(dirname "$0")"
LANDGIS_APT_PACKAGES="${LANDGIS_APT_PACKAGES:-gdal-bin chromium}" bash scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/pytest -q "$@"
