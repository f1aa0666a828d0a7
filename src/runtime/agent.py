"""cluster-bridge agent entry point (VENV1 side, Python 3.6+, standard library only).

The implementation lives in _cb_agent.py, imported as a module so its bytecode is cached in
__pycache__ (a script is compiled from source on every start; that was most of a warm cell's
cost). The directory is put on sys.path explicitly, so this works under `python -I` too.
Usage and commands: see _cb_agent.py and docs/architecture.md.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _cb_agent  # noqa: E402

if __name__ == '__main__':
    sys.exit(_cb_agent.main(sys.argv[1:]))
