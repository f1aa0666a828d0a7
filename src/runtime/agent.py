"""cluster-bridge agent entry point (VENV1 side, Python 3.6+, standard library only).

The implementation lives in _cb_agent.py and the _cb_*.py modules it imports, imported as
modules so their bytecode is cached in __pycache__ (a script is compiled from source on every
start; that was most of a warm cell's cost). The directory is put on sys.path explicitly, so
this works under `python -I` too. Usage and commands: see _cb_agent.py and docs/architecture.md.
"""
import os
import sys

if sys.version_info < (3, 6):  # this file stays Python 2 compatible so the message can show
    sys.stderr.write('cluster-bridge agent: Python %d.%d (%s) is too old; the agent needs Python '
                     '3.6 or newer. Set "python" in the cluster config to a newer interpreter.\n'
                     % (sys.version_info[0], sys.version_info[1], sys.executable))
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Cache our own bytecode even under PYTHONDONTWRITEBYTECODE (a Jupyter kernel's environment often
# has it): compiling them costs more than the rest of a warm start.
_write = sys.dont_write_bytecode
sys.dont_write_bytecode = False
import _cb_agent  # noqa: E402

sys.dont_write_bytecode = _write

if __name__ == '__main__':
    code = _cb_agent.main(sys.argv[1:])
    if sys.argv[1:2] in (['go'], ['follow']):
        # The bridge waits for this process to end: skip interpreter teardown (several ms of a
        # warm cell). Everything it wrote went to fd 1 with os.write; flush the rest anyway.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)
    sys.exit(code)
