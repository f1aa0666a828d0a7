"""Process control for the agent: liveness of pids and process groups, the runner as a child in
its own process group (exec'd, or forked from this interpreter and held), cleaning up a group.

Python 3.6+, standard library only, no `subprocess` (its import is a large share of a warm cell).
"""
import gc  # here, not in fork_runner: there it stalled the warm path (2-25 ms under load, measured)
import os
import sys
import time

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
RUNNER_FILE = os.path.join(RUNTIME_DIR, 'runner.py')  # entry stub; code in _cb_runner.py


class ChildExit(BaseException):
    """Raised in a forked in-process runner once the cell is done: it unwinds the agent's frames
    up to main(), so the child ends with a normal interpreter exit (atexit handlers, joining
    the cell's threads, closing its files) instead of os._exit."""

    def __init__(self, code):
        BaseException.__init__(self, code)
        self.code = code


def which(name, path=None):
    """shutil.which without importing shutil: the executable `name` on PATH (or `path`), or None."""
    for d in (path if path is not None else os.environ.get('PATH', '')).split(os.pathsep):
        p = os.path.join(d or '.', name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


# ---------------------------------------------------------------------------------------------
# Liveness


def pid_alive(pid):
    return _answers_signals(os.kill, pid, _running)


def group_alive(pgid):
    return _answers_signals(os.killpg, pgid, _group_running)


def _answers_signals(kill, target, running):
    """kill(target, 0) finds it, and running(target) says it is not only zombies."""
    if not target:
        return False
    try:
        kill(int(target), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: there, and /proc may not tell us more
    except (OSError, ValueError):
        return False
    return running(int(target))


def _running(pid):
    # A zombie still answers kill(0); it is not running.
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            return f.read().split(b') ', 1)[1][:1] != b'Z'
    except (OSError, IndexError):
        return True


def _group_running(pgid):
    # Only zombies left (e.g. an exited runner not yet reaped) count as gone.
    try:
        return bool(group_members(pgid, limit=1))
    except OSError:
        return True


def group_members(pgid, but=None, limit=None):
    """Pids of the live (not zombie) processes of group pgid other than `but`, at most `limit`
    of them. OSError when /proc cannot be listed."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as f:
                fields = f.read().split(b') ', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != b'Z' and int(entry) != but:
            pids.append(int(entry))
            if limit and len(pids) >= limit:
                break
    return pids


def reap_group(pgid, grace=1.0):
    """After the runner exits, end what it left behind in its process group (no orphans)."""
    if not group_alive(pgid):
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.time() + grace
    while time.time() < deadline and group_alive(pgid):
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# The runner's process


class Child(object):
    """A forked child in its own process group (what subprocess.Popen would give, without the
    cost of importing subprocess on the warm path). `gate`: the pipe a held runner waits on."""

    def __init__(self, pid, gate=None):
        self.pid = pid
        self.returncode = None
        self.gate = gate

    def release(self):
        """Lets a held runner start the cell."""
        if self.gate is not None:
            try:
                os.write(self.gate, b'1')
            except OSError:
                pass  # it is gone already: wait() reports how
            os.close(self.gate)
            self.gate = None

    def abort(self):
        """Ends a held runner that will not be used: it leaves without a word when the gate
        closes unwritten."""
        if self.gate is not None:
            os.close(self.gate)
            self.gate = None
        self.wait()

    def wait(self):
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0)  # retried on EINTR (PEP 475)
            if pid == self.pid:
                if os.WIFSIGNALED(status):
                    self.returncode = -os.WTERMSIG(status)
                elif os.WIFEXITED(status):
                    self.returncode = os.WEXITSTATUS(status)
        return self.returncode


def spawn(argv, env, cwd, pass_fds=(), setup=None):
    """argv in a child in its own process group; setup() runs in the child before the exec
    (resource limits)."""
    exe = argv[0]
    if os.sep not in exe:
        exe = which(exe, env.get('PATH', '')) or exe
    if not os.access(exe, os.X_OK):
        raise OSError('not executable: %s' % exe)
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.chdir(cwd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            # What Popen's restore_signals does, plus SIGHUP that the agent ignores.
            for name in ('SIGPIPE', 'SIGXFSZ', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGUSR2'):
                if hasattr(signal, name):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
            if setup is not None:
                setup()
            os.execve(exe, argv, env)
        except BaseException:
            pass
        os._exit(127)
    try:
        os.setpgid(pid, pid)  # also from the parent, so signals can reach the group at once
    except OSError:
        pass
    return Child(pid)


def fork_runner(jobdir, env, hold=False, setup=None):
    """The runner in a forked child of this interpreter: saves a whole interpreter start.
    The child leaves through fast_exit() after the cell. hold: the child loads the runner and
    reads the bundle, then waits for Child.release() before it runs the cell. setup(): run in
    the child first (resource limits), so nothing of the cell escapes them."""
    # Objects from before the fork go to the permanent generation: the child's collections (and
    # fast_exit's scan for open files) then never touch them, so their pages stay shared instead
    # of being copied on write (about 6 ms of a trivial cell).
    gc.freeze()
    gate_r, gate_w = os.pipe() if hold else (None, None)
    # A cancel can reach the job's group while the child still has the agent's handlers: it
    # waits, blocked, until the child has the default ones (then it ends the child).
    stops = [getattr(signal, n) for n in ('SIGHUP', 'SIGINT', 'SIGTERM', 'SIGUSR2')
             if hasattr(signal, n)]
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if hold:
            os.close(gate_r)
            os.close(gate_w)
        raise
    if pid != 0:
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if hold:
            os.close(gate_r)
        return Child(pid, gate_w)
    code = 1
    try:
        for signum in stops:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.setpgid(0, 0)
        if setup is not None:
            setup()
        # Only what differs: clearing and refilling the environment costs a putenv per variable.
        for key in [k for k in os.environ if k not in env]:
            del os.environ[key]
        for key, value in env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        os.chdir(jobdir)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        _write = sys.dont_write_bytecode
        sys.dont_write_bytecode = False
        import _cb_runner
        sys.dont_write_bytecode = _write
        # The cell sees '' (its cwd) first on sys.path, as with `python runner.py`.
        sys.path[:] = [''] + [p for p in sys.path if p and os.path.abspath(p) != RUNTIME_DIR]
        sys.argv[:] = [RUNNER_FILE, jobdir]
        cell = _cb_runner.Cell(jobdir)  # reads the bundle, writes nothing yet
        cell.prepare()  # output capture and hooks: also before the release
        # The runner's own objects join the agent's in the permanent generation: what
        # fast_exit() scans for unflushed files is then only what the cell made.
        gc.freeze()
        if hold:
            os.close(gate_w)
            released = os.read(gate_r, 1)  # EOF: not needed after all (Child.abort)
            os.close(gate_r)
            if not released:
                os._exit(0)
        code = _cb_runner.main([RUNNER_FILE, jobdir], cell)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    if os.environ.get('CB_FORK_FULL_EXIT'):
        raise ChildExit(code)
    fast_exit(code)


def fast_exit(code):
    """Ends a forked runner as the interpreter's exit would, minus the module teardown: after a
    fork every object the teardown touches costs a copy-on-write page fault, about 8 ms of a
    trivial cell. Kept, in the interpreter's order: non-daemon threads joined, atexit handlers
    (the runner's last flush, logging, multiprocessing, weakref.finalize), the cell's namespace
    cleared (its objects' __del__ run), every file opened since the fork flushed (gc.get_objects
    leaves out what fork_runner froze, i.e. the agent's own objects). CB_FORK_FULL_EXIT=1 exits
    normally instead (ChildExit)."""
    try:
        threading = sys.modules.get('threading')
        if threading is not None:
            threading._shutdown()
        import atexit
        atexit._run_exitfuncs()
        main_module = sys.modules.get('__main__')
        if main_module is not None and '__file__' not in main_module.__dict__:
            main_module.__dict__.clear()  # the runner's cell module (the stub's has a __file__)
        import io
        for obj in gc.get_objects():
            if isinstance(obj, io.IOBase):
                try:
                    if not obj.closed:
                        obj.flush()
                except Exception:
                    pass
    except BaseException:
        pass
    os._exit(code & 0xFF if isinstance(code, int) else 1)
