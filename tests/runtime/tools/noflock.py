"""Runs a script (agent.py) with fcntl.flock failing the way it does on file systems without it
(NFS without lockd: ENOLCK; CB_NOFLOCK_ERRNO picks another, e.g. EOPNOTSUPP for Lustre noflock),
so env builds must use the atomic-create lock. Usage: python noflock.py SCRIPT ARGS..."""
import errno
import fcntl
import os
import runpy
import sys

CODE = getattr(errno, os.environ.get('CB_NOFLOCK_ERRNO', 'ENOLCK'))


def flock(fd, operation):
    raise OSError(CODE, os.strerror(CODE))


fcntl.flock = flock
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
