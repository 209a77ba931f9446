#!/usr/bin/env bash
# Vendors the pages' front-end libraries from the npm registry: exact versions and integrity hashes in
# dashboards/vendor/package.json + package-lock.json; the built files are copied into
# dashboards/static/vendor/ and committed (the pages load nothing from a CDN; make demo needs no npm).
# Usage: scripts/vendor-frontend.sh           (re-run after changing a version in package.json)
set -euo pipefail
cd "$(dirname "$0")/../dashboards/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp package.json "$work/"
[ -f package-lock.json ] && cp package-lock.json "$work/"
if [ -f package-lock.json ]; then
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
else
  (cd "$work" && npm install --ignore-scripts --no-audit --no-fund --silent)
  cp "$work/package-lock.json" .
fi
out=../static/vendor
rm -rf "$out" && mkdir -p "$out"
m="$work/node_modules"
cp "$m/uplot/dist/uPlot.esm.js" "$m/uplot/dist/uPlot.min.css" "$m/uplot/LICENSE" "$out/" 2>/dev/null || {
  cp "$m/uplot/dist/uPlot.esm.js" "$m/uplot/dist/uPlot.min.css" "$out/"
}
[ -f "$out/LICENSE" ] && mv "$out/LICENSE" "$out/uPlot.LICENSE"
cp "$m/axe-core/axe.min.js" "$out/"
cp "$m/axe-core/LICENSE" "$out/axe-core.LICENSE" 2>/dev/null || cp "$m/axe-core/LICENSE.txt" "$out/axe-core.LICENSE"
(cd "$out" && sha256sum -- * > SHA256SUMS)
echo "==> vendored into dashboards/static/vendor:" && ls -la "$out"
