#!/usr/bin/env bash
# Idempotent setup behind `npm start` and `npm test`; fast when nothing changed.
#   1. Debian packages of scripts/setup/apt-packages.txt that are missing (apt-get update only then);
#      those of apt-packages-lean.txt without their recommends (torch would bring a compiler)
#   2. npm ci when node_modules is missing or older than package-lock.json
#   3. npm run build's parts (bridge; frontend + labextension) when a source is newer than their build
#   4. npm run build:app (the embedded JupyterLab; it skips itself when unchanged)
#   5. cluster-bridge install --prefix .jupyter-data (kernelspec + labextension, project-local)
#   6. .cache/env.sh: the environment for callers (source it)
# Set CLUSTER_BRIDGE_SKIP_APT=1 to skip step 1 (e.g. on a machine without root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
mkdir -p .cache
log() { echo "[setup] $*" >&2; }
t0=$(date +%s)

# --- 1. Debian packages -------------------------------------------------------------------------
# missing_of LIST: the packages of LIST not installed, one a line.
missing_of() {
  local pkg status
  while IFS= read -r pkg || [ -n "$pkg" ]; do
    pkg="${pkg%%#*}"
    pkg="$(echo "$pkg" | tr -d '[:space:]')"
    [ -n "$pkg" ] || continue
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || echo "$pkg"
  done <"$1"
}
if [ "${CLUSTER_BRIDGE_SKIP_APT:-0}" != 1 ]; then
  mapfile -t missing < <(missing_of scripts/setup/apt-packages.txt)
  mapfile -t missing_lean < <(missing_of scripts/setup/apt-packages-lean.txt)
  if [ "${#missing[@]}" -gt 0 ] || [ "${#missing_lean[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]} ${missing_lean[*]}"
    if [ "$(id -u)" -eq 0 ]; then
      SUDO=()
    elif command -v sudo >/dev/null; then
      SUDO=(sudo)
    else
      log "need root or sudo to install: ${missing[*]}"
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    install=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    if [ "${#missing[@]}" -gt 0 ]; then
      "${install[@]}" "${missing[@]}" </dev/null
    fi
    if [ "${#missing_lean[@]}" -gt 0 ]; then
      "${install[@]}" --no-install-recommends "${missing_lean[@]}" </dev/null
    fi
  fi
fi

# --- 2. npm dependencies ------------------------------------------------------------------------
# Playwright drives Debian's Chromium; it must not try to download browsers (no network for that).
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

# --- 3. build -----------------------------------------------------------------------------------
# Two parts with their own stamps, so a change to bridge code does not rebuild the labextension.
# stale STAMP OUTPUT PATHS...: whether OUTPUT is missing or a file under PATHS is newer than STAMP.
stale() {
  local stamp="$1" output="$2"
  shift 2
  [ ! -f "$stamp" ] || [ ! -e "$output" ] ||
    [ -n "$(find "$@" -newer "$stamp" -print -quit 2>/dev/null)" ]
}
common=(package.json package-lock.json tsconfig.base.json src/shared)
if stale .cache/build-bridge.stamp lib/node/bridge/cli/main.js "${common[@]}" tsconfig.bridge.json src/bridge; then
  log "npm run build:bridge"
  npm run --silent build:bridge
  touch .cache/build-bridge.stamp
fi
if stale .cache/build-frontend.stamp labextension/package.json "${common[@]}" tsconfig.frontend.json \
  src/frontend style schema install.json scripts/build-labextension.js; then
  log "npm run build:frontend && npm run build:labextension"
  npm run --silent build:frontend
  npm run --silent build:labextension
  touch .cache/build-frontend.stamp
fi
stamp=.cache/build-frontend.stamp

# --- 4. embedded JupyterLab ---------------------------------------------------------------------
if node -e 'process.exit(require("./package.json").scripts["build:app"] ? 0 : 1)'; then
  npm run --silent build:app
fi

# --- 5. project-local install -------------------------------------------------------------------
DATA_PREFIX="$ROOT/.jupyter-data"
DATA_DIR="$DATA_PREFIX/share/jupyter"
if [ ! -f "$DATA_DIR/kernels/cluster-bridge/kernel.json" ] ||
  [ ! -f "$DATA_DIR/labextensions/jupyterlab-cluster-bridge/package.json" ] ||
  [ "$stamp" -nt "$DATA_DIR/labextensions/jupyterlab-cluster-bridge/package.json" ] ||
  ! grep -q "\"$(command -v node)\"" "$DATA_DIR/kernels/cluster-bridge/kernel.json"; then
  node bin/cluster-bridge install --prefix "$DATA_PREFIX" >&2
fi

# --- 6. environment for callers -----------------------------------------------------------------
cat >.cache/env.sh <<ENV
# Written by scripts/setup/ensure.sh: source it to use the project-local Jupyter data directory.
export CLUSTER_BRIDGE_ROOT='$ROOT'
export CLUSTER_BRIDGE_DATA_PREFIX='$DATA_PREFIX'
export JUPYTER_PATH='$DATA_DIR'\${JUPYTER_PATH:+:\$JUPYTER_PATH}
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PYDEVD_DISABLE_FILE_VALIDATION=1
ENV
log "ready in $(($(date +%s) - t0)) s"
