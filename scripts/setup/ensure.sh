#!/usr/bin/env bash
# Idempotent setup behind `npm start` and `npm test`; fast when nothing changed.
#   1. Debian packages of scripts/setup/apt-packages.txt that are missing (apt-get update only then)
#   2. npm ci when node_modules is missing or older than package-lock.json
#   3. npm run build (bridge, frontend, labextension) when a source is newer than the last build
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
if [ "${CLUSTER_BRIDGE_SKIP_APT:-0}" != 1 ]; then
  missing=()
  while IFS= read -r pkg || [ -n "$pkg" ]; do
    pkg="${pkg%%#*}"
    pkg="$(echo "$pkg" | tr -d '[:space:]')"
    [ -n "$pkg" ] || continue
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
  done <scripts/setup/apt-packages.txt
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
      SUDO=()
    elif command -v sudo >/dev/null; then
      SUDO=(sudo -n)
    else
      log "need root or sudo to install: ${missing[*]}"
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
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
stamp=.cache/build.stamp
need_build=0
if [ ! -f "$stamp" ] || [ ! -f lib/node/bridge/cli/main.js ] || [ ! -f labextension/package.json ]; then
  need_build=1
elif [ -n "$(find src style schema package.json package-lock.json tsconfig*.json scripts/build-labextension.js \
  -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  need_build=1
fi
if [ "$need_build" = 1 ]; then
  log "npm run build"
  npm run --silent build
  touch "$stamp"
fi

# --- 4. embedded JupyterLab ---------------------------------------------------------------------
if node -e 'process.exit(require("./package.json").scripts["build:app"] ? 0 : 1)'; then
  npm run --silent build:app
fi

# --- 5. project-local install -------------------------------------------------------------------
DATA_PREFIX="$ROOT/.jupyter-data"
DATA_DIR="$DATA_PREFIX/share/jupyter"
if [ ! -f "$DATA_DIR/kernels/cluster-bridge/kernel.json" ] ||
  [ ! -f "$DATA_DIR/labextensions/jupyterlab-cluster-bridge/package.json" ] ||
  [ "$stamp" -nt "$DATA_DIR/kernels/cluster-bridge/kernel.json" ] ||
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
