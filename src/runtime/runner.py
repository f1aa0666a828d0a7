"""cluster-bridge runner entry point (VENV2 side, Python 3.8+): `python -u runner.py JOBDIR`.

The implementation lives in _cb_runner.py, imported as a module so its bytecode is cached.
The cell then sees '' (its working directory) first on sys.path, as in Jupyter, not this folder.
"""
import os
import sys

if sys.version_info < (3, 8):
    sys.stderr.write('cluster-bridge runner: Python %d.%d (%s) is too old; the cell runner needs '
                     'Python 3.8 or newer.\n' % (sys.version_info[0], sys.version_info[1],
                                                  sys.executable))
    sys.exit(2)

sys.path[0] = os.path.dirname(os.path.abspath(__file__))
# Cache our own bytecode even under PYTHONDONTWRITEBYTECODE; the cell keeps the user's setting.
_write = sys.dont_write_bytecode
sys.dont_write_bytecode = False
import _cb_runner  # noqa: E402

sys.dont_write_bytecode = _write
sys.path[0] = ''
if __name__ == '__main__':
    sys.exit(_cb_runner.main(sys.argv))
