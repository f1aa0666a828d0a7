#!/usr/bin/env bash
# `npm start`: setup (scripts/setup/ensure.sh: Debian packages, npm ci, build, project-local
# install of the kernelspec and labextension into .jupyter-data), then the embedded JupyterLab on a
# free port of 127.0.0.1 (app/serve.js), which prints its URL with the token. Ctrl-C stops it.
# Extra arguments go to app/serve.js (--root DIR, --open PATH, --data-prefix DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup/ensure.sh
# shellcheck disable=SC1091
source .cache/env.sh
if [ ! -f app/serve.js ]; then
  echo "npm start: app/serve.js (the embedded JupyterLab server) is missing from this checkout" >&2
  exit 1
fi
exec node app/serve.js --data-prefix "$CLUSTER_BRIDGE_DATA_PREFIX" "$@"
