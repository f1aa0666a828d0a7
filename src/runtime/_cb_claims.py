"""Claims on a host's GPUs and cores (files naming their owner's pid and start time, so a dead
or reused pid is seen as such) and the lock they are made under: flock, or an atomically
created folder where the file system has no flock. Used by _cb_limits.

Python 3.6+, standard library only.
"""
import os


def host():
    return os.uname()[1]


def start_time(pid):
    """The process's start time in clock ticks (a reused pid has another), or None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            fields = f.read().rsplit(b') ', 1)[1].split()
        return int(fields[19]) if fields[0] != b'Z' else None
    except (OSError, IndexError, ValueError):
        return None


def claim(path, pid):
    """Writes a claim for pid (created atomically: a half-written claim is never read)."""
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write('%d %s\n' % (pid, start_time(pid) or 0))
    os.rename(tmp, path)
    return path


def read_claim(path):
    try:
        with open(path) as f:
            pid, start = f.read().split()[:2]
        return int(pid), int(start)
    except (OSError, ValueError):
        return None, None


def claim_alive(path):
    pid, start = read_claim(path)
    if pid is None:
        return False
    now = start_time(pid)
    return now is not None and (start == 0 or now == start)


def listdir(folder):
    try:
        return [n for n in os.listdir(folder) if not n.startswith('.') and
                not n.endswith('.tmp')]
    except OSError:
        return []


def unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class FolderLock(object):
    """An exclusive lock on folder/.lock: flock, or where the file system has none (NFS
    without lockd, Lustre -o noflock) an atomically created folder/.lock.d naming its owner,
    taken over when that owner is dead."""

    def __init__(self, folder):
        self.folder = folder
        self.fd = None
        self.dir = None

    def __enter__(self):
        import fcntl
        os.makedirs(self.folder, 0o700, exist_ok=True)
        self.fd = os.open(os.path.join(self.folder, '.lock'), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            os.close(self.fd)
            self.fd = None
            self._mkdir_lock()
        return self

    def _mkdir_lock(self):
        import time
        path = os.path.join(self.folder, '.lock.d')
        deadline = time.time() + 60
        while True:
            try:
                os.mkdir(path, 0o700)
                claim(os.path.join(path, 'owner'), os.getpid())
                self.dir = path
                return
            except FileExistsError:
                owner = os.path.join(path, 'owner')
                if os.path.exists(owner) and not claim_alive(owner):
                    unlink(owner)
                    try:
                        os.rmdir(path)
                    except OSError:
                        pass
                    continue
            if time.time() > deadline:
                raise TimeoutError('could not lock %s: held by a live process for 60 s' % path)
            time.sleep(0.05)

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
        if self.dir is not None:
            unlink(os.path.join(self.dir, 'owner'))
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
        return False
