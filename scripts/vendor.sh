#!/usr/bin/env bash
# Re-fetch the pinned front-end libraries from the npm registry into app/web/static/vendor/ and check
# them against the hashes in app/web/static/vendor/SHA256SUMS. Run by hand when upgrading; the files
# are committed so that the service needs no internet (and no Node.js) at run or test time.
set -euo pipefail
cd "$(dirname "$0")/.."
MAPLIBRE=${MAPLIBRE:-5.24.1}
ECHARTS=${ECHARTS:-5.6.0}
SWAGGER=${SWAGGER:-5.35.0}   # the API docs at /docs and /redoc, served from here rather than a CDN
REDOC=${REDOC:-2.5.4}
V=app/web/static/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "maplibre-gl@$MAPLIBRE" "echarts@$ECHARTS" "swagger-ui-dist@$SWAGGER" \
  "redoc@$REDOC" >/dev/null)
mkdir -p "$tmp/m" "$tmp/e" "$tmp/s" "$tmp/r" "$V/maplibre-gl" "$V/echarts" "$V/swagger-ui" "$V/redoc"
tar xzf "$tmp/maplibre-gl-$MAPLIBRE.tgz" -C "$tmp/m"
tar xzf "$tmp/echarts-$ECHARTS.tgz" -C "$tmp/e"
tar xzf "$tmp/swagger-ui-dist-$SWAGGER.tgz" -C "$tmp/s"
tar xzf "$tmp/redoc-$REDOC.tgz" -C "$tmp/r"
cp "$tmp"/m/package/dist/maplibre-gl.{js,css} "$tmp/m/package/LICENSE.txt" "$V/maplibre-gl/"
cp "$tmp/e/package/dist/echarts.min.js" "$tmp"/e/package/{LICENSE,NOTICE} "$tmp/e/package/licenses/LICENSE-d3" "$V/echarts/"
cp "$tmp"/s/package/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,swagger-ui-bundle.js.LICENSE.txt} "$V/swagger-ui/"
cp "$tmp"/r/package/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} "$tmp/r/package/LICENSE" "$V/redoc/"
# ReDoc's sidebar fetches its makers' logo from cdn.redoc.ly (hard-coded): an empty inline SVG instead, so the
# page asks nothing of the internet (the recorded hash is of the file after this substitution)
sed -i 's#https://cdn.redoc.ly/redoc/logo-mini.svg#data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E#' \
  "$V/redoc/redoc.standalone.js"
if [ "${UPDATE_SUMS:-0}" = 1 ]; then (cd "$V" && sha256sum */*.js */*.css > SHA256SUMS); fi
(cd "$V" && sha256sum -c SHA256SUMS)
