#!/usr/bin/python3
"""Serve the embedded JupyterLab (app/build) with Debian's jupyter_server.

Run with /usr/bin/python3 (Debian's python3-jupyter-server 1.23 and
python3-jupyterlab-server 2.16). Usually started by app/serve.js
(`npm run start:app`) or by the ui-tests global setup, which pick the port.

    /usr/bin/python3 app/server.py --port 8888 [--token T] [--root-dir DIR]
        [--data-prefix DIR] [--state-dir DIR] [--test] [ServerApp options...]

--data-prefix  Jupyter prefix whose share/jupyter holds our kernelspec and
               labextension (`cluster-bridge install --prefix DIR`);
               default <repo>/.jupyter-data. Added to JUPYTER_PATH, so kernels
               and labextensions installed there are found (JUPYTER_PATH set
               by the caller is kept, after it).
--state-dir    where user settings and workspaces live; default
               <data-prefix>/lab-state.
--token        token to require (or CLUSTER_BRIDGE_LAB_TOKEN in the
               environment); default: jupyter_server generates one.
--test         empty token and no XSRF check (for Playwright).
"""

import argparse
import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(HERE, "build")


def _parse_args(argv):
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--token", default=None)
    parser.add_argument("--root-dir", default=REPO)
    parser.add_argument("--data-prefix", default=os.path.join(REPO, ".jupyter-data"))
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--test", action="store_true")
    return parser.parse_known_args(argv)


ARGS, EXTRA = _parse_args(sys.argv[1:])
# app/launch.js hands the token over in the environment (not visible in ps).
TOKEN = os.environ.pop("CLUSTER_BRIDGE_LAB_TOKEN", None) or ARGS.token
DATA_DIR = os.path.join(os.path.abspath(ARGS.data_prefix), "share", "jupyter")
STATE_DIR = os.path.abspath(ARGS.state_dir or os.path.join(ARGS.data_prefix, "lab-state"))

# Must be set before jupyter_core computes its paths (kernels, labextensions),
# and is inherited by the kernels the server starts.
_paths = [DATA_DIR] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
os.environ["JUPYTER_PATH"] = os.pathsep.join(dict.fromkeys(_paths))
# ipykernel's debugger otherwise warns about frozen modules on every start.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

from jupyter_server.base.handlers import APIHandler, JupyterHandler  # noqa: E402
from jupyterlab_server import LabServerApp  # noqa: E402
from tornado import web, websocket  # noqa: E402


class MeHandler(APIHandler):
    """Stand-in for /api/me (jupyter_server 2.x only): the identity panel."""

    @web.authenticated
    def get(self):
        name = "jovyan"
        self.finish(
            json.dumps(
                {
                    "identity": {
                        "username": name,
                        "name": name,
                        "display_name": name,
                        "initials": "J",
                        "avatar_url": None,
                        "color": None,
                    },
                    "permissions": {},
                }
            )
        )


class EventsHandler(websocket.WebSocketHandler):
    """Stand-in for /api/events/subscribe (jupyter_server 2.x only): a quiet
    socket that never sends anything, so the event manager does not retry."""

    def check_origin(self, origin):
        # Same rule as the kernel websocket: only our own origin.
        return super().check_origin(origin)

    def on_message(self, message):
        pass


class LspStatusHandler(APIHandler):
    """Stand-in for jupyter-lsp's /lsp/status: no language servers here, so
    @jupyterlab/lsp-extension (required by notebook plugins) stays quiet."""

    @web.authenticated
    def get(self):
        self.finish(json.dumps({"version": 2, "sessions": {}, "specs": {}}))


class ResolvePathHandler(APIHandler):
    """Stand-in for jupyter_server 2.x's /api/resolvePath, which JupyterLab 4.6
    asks about paths in outputs (tracebacks). A path inside the server root
    that exists resolves to it (a link opens it); anything else resolves to
    nothing. Without it, every such path costs two 404s in the console."""

    @web.authenticated
    def get(self):
        path = self.get_argument("path", "")
        root = os.path.realpath(self.settings["server_root_dir"])
        candidate = os.path.expanduser(path)
        if not os.path.isabs(candidate):
            candidate = os.path.join(root, candidate)
        real = os.path.realpath(candidate)
        resolved = []
        if (real == root or real.startswith(root + os.sep)) and os.path.exists(real):
            rel = os.path.relpath(real, root).replace(os.sep, "/")
            resolved.append({"scope": "server", "path": "" if rel == "." else rel})
        unresolved = [] if resolved else [{"scope": "server", "path": path}]
        self.finish(json.dumps({"resolved": resolved, "unresolved": unresolved}))


def _page_config_copy(handler, page_config):
    # jupyterlab_server 2.16 keeps page_config in a dict shared across
    # requests and mutates it per URL; hand each request its own copy.
    return copy.deepcopy(page_config)


class ClusterBridgeLab(LabServerApp):
    name = "cluster_bridge_lab"
    app_name = "JupyterLab (Cluster Bridge)"
    app_version = "4.6"
    load_other_extensions = False
    extension_url = "/lab"
    default_url = "/lab"

    app_settings_dir = os.path.join(HERE, "settings")
    schemas_dir = os.path.join(BUILD, "schemas")
    themes_dir = os.path.join(BUILD, "themes")
    static_dir = os.path.join(BUILD, "static")
    templates_dir = os.path.join(BUILD, "templates")
    user_settings_dir = os.path.join(STATE_DIR, "user-settings")
    workspaces_dir = os.path.join(STATE_DIR, "workspaces")

    def initialize_settings(self):
        super().initialize_settings()
        self.extra_labextensions_path = [os.path.join(DATA_DIR, "labextensions")]
        self.settings["page_config_hook"] = _page_config_copy
        page_config = self.settings.setdefault("page_config_data", {})
        page_config["exposeAppInBrowser"] = True

    def initialize_handlers(self):
        self.handlers.append(("/api/me", MeHandler))
        self.handlers.append(("/api/events/subscribe", EventsHandler))
        self.handlers.append(("/lsp/status", LspStatusHandler))
        self.handlers.append(("/api/resolvePath", ResolvePathHandler))
        super().initialize_handlers()


def _jupyter_server_extension_points():
    return [{"module": __name__, "app": ClusterBridgeLab}]


def _ensure_python_kernelspec():
    """Plain cells run on ipykernel: install its kernelspec into the project
    data dir when no python3 kernelspec is visible (Debian ships one)."""
    from jupyter_client.kernelspec import find_kernel_specs

    if "python3" in find_kernel_specs():
        return
    prefix = os.path.abspath(ARGS.data_prefix)
    subprocess.run(
        [sys.executable, "-m", "ipykernel", "install", "--prefix", prefix],
        check=True,
    )


def main():
    if not os.path.exists(os.path.join(BUILD, "templates", "index.html")):
        sys.exit("app/build is missing: run `npm run build:app` first")
    os.makedirs(STATE_DIR, exist_ok=True)
    _ensure_python_kernelspec()
    argv = [
        f"--ServerApp.ip={ARGS.ip}",
        f"--ServerApp.port={ARGS.port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={os.path.abspath(ARGS.root_dir)}",
        "--ServerApp.shutdown_no_activity_timeout=0",
    ]
    if ARGS.test:
        argv += ["--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True"]
    elif TOKEN is not None:
        argv.append(f"--ServerApp.token={TOKEN}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    ClusterBridgeLab.launch_instance(argv + EXTRA)


if __name__ == "__main__":
    main()
