#!/usr/bin/env bash
# Command 1: set everything up, load the sample Tiantai data and serve on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")"
LANDGIS_EXTRAS=${LANDGIS_EXTRAS:-test} bash scripts/setup.sh
.venv/bin/landgis import sample_parcels/tiantai.gpkg --actor sample-data
# A local officer key for signing in to the web map, made once and kept in the git-ignored .dev-token.
if [ ! -s .dev-token ]; then
  .venv/bin/landgis token create --role officer --name "本机演示 / local demo" | grep -o 'lgk_[A-Za-z0-9_-]*' > .dev-token
  chmod 600 .dev-token
fi
echo "天台县工业用地宗地服务 / landgis: http://${HOST:-127.0.0.1}:${PORT:-8000}/  (API docs: /docs)"
echo "sign in to the map with the officer key in .dev-token: $(cat .dev-token)"
echo "more keys: .venv/bin/landgis token create --role viewer|officer|admin --name NAME (see README)"
exec .venv/bin/landgis serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
