#!/usr/bin/env bash
# Re-fetch the pinned front-end libraries from the npm registry into app/web/static/vendor/ and check
# them against the hashes in app/web/static/vendor/SHA256SUMS. Run by hand when upgrading; the files
# are committed so that the service needs no internet (and no Node.js) at run or test time.
set -euo pipefail
cd "$(dirname "$0")/.."
MAPLIBRE=${MAPLIBRE:-5.24.1}
ECHARTS=${ECHARTS:-5.6.0}
V=app/web/static/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "maplibre-gl@$MAPLIBRE" "echarts@$ECHARTS" >/dev/null)
mkdir -p "$tmp/m" "$tmp/e" "$V/maplibre-gl" "$V/echarts"
tar xzf "$tmp/maplibre-gl-$MAPLIBRE.tgz" -C "$tmp/m"
tar xzf "$tmp/echarts-$ECHARTS.tgz" -C "$tmp/e"
cp "$tmp"/m/package/dist/maplibre-gl.{js,css} "$tmp/m/package/LICENSE.txt" "$V/maplibre-gl/"
cp "$tmp/e/package/dist/echarts.min.js" "$tmp"/e/package/{LICENSE,NOTICE} "$tmp/e/package/licenses/LICENSE-d3" "$V/echarts/"
if [ "${UPDATE_SUMS:-0}" = 1 ]; then (cd "$V" && sha256sum */*.js */*.css > SHA256SUMS); fi
(cd "$V" && sha256sum -c SHA256SUMS)
