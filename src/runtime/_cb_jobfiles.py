"""Where the agent's files live and the small JSON files it keeps: the work directory,
JOBDIR/status.json (written atomically: readers never see half a file), the env ready markers.

Python 3.6+, standard library only.
"""
import os

import _cb_json as json

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
CLEAN_STAMP = '.last-clean'  # the daily automatic clean's (_cb_clean) stamp in the work dir
CLEAN_EVERY_S = 86400.0


def hostname():
    return os.uname()[1]  # socket.gethostname() without importing socket


def work_dir_for(jobdir=None, explicit=None, bundle=None):
    """--workdir, else bundle.workDir, else $CLUSTER_BRIDGE_WORKDIR, else the parent of jobs/
    above JOBDIR, else the parent of runtime/ above this file, else ~/.cluster-bridge."""
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    if bundle and bundle.get('workDir'):
        return os.path.abspath(os.path.expanduser(bundle['workDir']))
    if os.environ.get('CLUSTER_BRIDGE_WORKDIR'):
        return os.path.abspath(os.path.expanduser(os.environ['CLUSTER_BRIDGE_WORKDIR']))
    if jobdir:
        parent = os.path.dirname(os.path.abspath(jobdir))
        if os.path.basename(parent) == 'jobs':
            return os.path.dirname(parent)
    runtime = os.path.dirname(RUNTIME_DIR)
    if os.path.basename(runtime) == 'runtime':
        return os.path.dirname(runtime)
    return os.path.join(os.path.expanduser('~'), '.cluster-bridge')


def clean_due(work_dir, now=None):
    """Whether the daily automatic clean is due (one stat)."""
    import time
    try:
        return (now or time.time()) - os.stat(os.path.join(work_dir, CLEAN_STAMP)).st_mtime \
            >= CLEAN_EVERY_S
    except OSError:
        return True


def write_json_atomic(path, obj):
    tmp = '%s.%d.tmp' % (path, os.getpid())
    try:
        with open(tmp, 'w') as f:
            f.write(json.dumps(obj))
        os.rename(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)  # a full disk must not leave half files behind
        except OSError:
            pass
        raise


def read_json(path, default=None):
    try:
        with open(path, 'rb') as f:
            return json.loads(f.read().decode('utf-8'))
    except (OSError, ValueError):
        return default


def update_status(jobdir, **fields):
    path = os.path.join(jobdir, 'status.json')
    status = read_json(path, {}) or {}
    status.update(fields)
    try:
        write_json_atomic(path, status)
    except OSError as e:
        import errno
        if e.errno not in (errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC)):
            raise
        # Disk full: the event log (with its reserve) records the end; status.json stays stale.
    return status
