"""Executes a notebook with nbclient on the cluster-bridge kernel and writes the
executed notebook as JSON to stdout. Usage: nbclient_run.py IN.ipynb"""
import sys

import nbformat
from nbclient import NotebookClient

nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name='cluster-bridge', timeout=180, startup_timeout=60).execute()
nbformat.write(nb, sys.stdout)
