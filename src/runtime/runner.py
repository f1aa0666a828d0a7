"""cluster-bridge runner entry point (VENV2 side, Python 3.8+): `python -u runner.py JOBDIR`.

The implementation lives in _cb_runner.py, imported as a module so its bytecode is cached.
The cell then sees '' (its working directory) first on sys.path, as in Jupyter, not this folder.
"""
import os
import sys

sys.path[0] = os.path.dirname(os.path.abspath(__file__))
import _cb_runner  # noqa: E402

sys.path[0] = ''
if __name__ == '__main__':
    sys.exit(_cb_runner.main(sys.argv))
