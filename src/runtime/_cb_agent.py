"""cluster-bridge agent implementation (VENV1 side): unpacks a job, ensures VENV2, runs the runner, records status.

Usage: <venv1>/bin/python -u agent.py COMMAND [JOBDIR] [options]   (see docs/architecture.md)

  prepare JOBDIR              bundle JSON on stdin -> JOBDIR/bundle.json      prints {"ok": true}
  run JOBDIR                  the job itself: VENV2 + runner + `done` event   prints nothing
  launch JOBDIR               `run` detached (own session/process group)      prints {"pid": N}
  follow JOBDIR [--offset N]  events.jsonl from byte N until the `done` line  prints event lines
  go JOBDIR                   prepare + launch + follow --offset 0           prints event lines
  cancel JOBDIR [--grace S]   SIGINT, then SIGTERM, then SIGKILL              prints {"ok": true, ...}
  status JOBDIR               status.json plus liveness                       prints JSON
  doctor [--workdir DIR]      facts about this host                           prints JSON

Runs on Python 3.6+ with the standard library only: no f-strings, no 3.7+ APIs. Imports beyond
the few below happen inside the functions that need them, so the warm `go` path stays cheap; the
file never imports its siblings (it must work under `python -I`).
"""
import os
import sys
import time

import _cb_json as json  # json without `re`/`enum`: the warm path's imports are its cost

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

SIGUSR2 = getattr(signal, 'SIGUSR2', None)  # Grid Engine's -notify; treated as SIGTERM

AGENT_FILE = os.path.abspath(__file__)
RUNTIME_DIR = os.path.dirname(AGENT_FILE)
RUNNER_FILE = os.path.join(RUNTIME_DIR, 'runner.py')  # entry stub; code in _cb_runner.py
ENV_FORMAT = 1  # bump when the way envs are built changes, so old envs are not reused
MIN_RUNNER_PYTHON = (3, 8)
DONE_MARK = b'"type":"done"'
CONDA_HOMES = ('miniconda3', 'miniforge3', 'mambaforge', 'anaconda3', 'miniconda', 'anaconda')
CONDA_ROOTS = ('/opt/conda', '/opt/miniconda3', '/opt/miniforge3', '/opt/anaconda3',
               '/opt/mambaforge', '/usr/local/miniconda3', '/usr/local/anaconda3',
               '/usr/local/conda', '/opt/miniconda', '/opt/anaconda')


class AgentError(Exception):
    """An error reported to the caller as a clear one-line message."""


class ChildExit(BaseException):
    """Raised in a forked in-process runner once the cell is done: it unwinds the agent's frames
    up to main(), so the child ends with a normal interpreter exit (atexit handlers, joining
    the cell's threads, closing its files) instead of os._exit."""

    def __init__(self, code):
        BaseException.__init__(self, code)
        self.code = code


# ---------------------------------------------------------------------------------------------
# Small helpers


def hostname():
    return os.uname()[1]  # socket.gethostname() without importing socket


def write_json_atomic(path, obj):
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write(json.dumps(obj))
    os.rename(tmp, path)


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
    write_json_atomic(path, status)
    return status


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    # A zombie still answers kill(0); it is not running.
    try:
        with open('/proc/%d/stat' % int(pid), 'rb') as f:
            return f.read().split(b') ', 1)[1][:1] != b'Z'
    except (OSError, IndexError):
        return True


def group_alive(pgid):
    if not pgid:
        return False
    try:
        os.killpg(int(pgid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # Only zombies left (e.g. an exited runner not yet reaped) count as gone.
    try:
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry, 'rb') as f:
                    fields = f.read().split(b') ', 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == int(pgid) and fields[0] != b'Z':
                return True
        return False
    except OSError:
        return True


def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


class EventLog:
    """Appends events to JOBDIR/events.jsonl (O_APPEND, one write per batch). The agent writes
    only while the runner is not running, so sequence numbers stay strictly increasing."""

    def __init__(self, jobdir, notify_fd=None):
        self.path = os.path.join(jobdir, 'events.jsonl')
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.seq = json.last_seq(self.path) + 1
        self.notify_fd = notify_fd

    def resync(self):
        self.seq = json.last_seq(self.path) + 1

    def write(self, *events):
        t = time.time()
        lines = []
        for event in events:
            record = {'seq': self.seq, 't': t}
            record.update(event)
            lines.append(json.dumps(record))
            self.seq += 1
        write_all(self.fd, ('\n'.join(lines) + '\n').encode('ascii'))
        if self.notify_fd is not None:
            try:
                os.write(self.notify_fd, b'.')
            except OSError:
                pass

    def env(self, text):
        self.write({'type': 'env', 'text': text})


# ---------------------------------------------------------------------------------------------
# Work directory and bundle


def work_dir_for(jobdir=None, explicit=None, bundle=None):
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


def read_stdin_bundle():
    data = b''
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        data += chunk
    try:
        bundle = json.loads(data.decode('utf-8'))
    except ValueError as e:
        raise AgentError('bundle on stdin is not valid JSON: %s' % e)
    if not isinstance(bundle, dict) or not isinstance(bundle.get('code', ''), str):
        raise AgentError('bundle must be a JSON object with a "code" string')
    return bundle


def prepare(jobdir, bundle):
    # exist_ok: two first cells at once both find it missing (a check-then-create would fail one).
    os.makedirs(os.path.dirname(jobdir), 0o700, exist_ok=True)
    try:
        os.mkdir(jobdir, 0o700)
    except FileExistsError:
        if os.path.exists(os.path.join(jobdir, 'events.jsonl')) and \
                os.path.getsize(os.path.join(jobdir, 'events.jsonl')) > 0:
            raise AgentError('job directory %s is already in use' % jobdir)
    os.chmod(jobdir, 0o700)
    path = os.path.join(jobdir, 'bundle.json')
    with open(path + '.tmp', 'w') as f:
        f.write(json.dumps(bundle))
    os.rename(path + '.tmp', path)
    os.close(os.open(os.path.join(jobdir, 'events.jsonl'), os.O_WRONLY | os.O_CREAT, 0o600))


# ---------------------------------------------------------------------------------------------
# VENV2: spec, hash, lock, build


def normalize_spec(spec):
    spec = spec or {}
    return {
        'format': ENV_FORMAT,
        'manager': spec.get('manager') or 'auto',
        'python': spec.get('python') or '',
        'channels': list(spec.get('channels') or []),
        'conda': list(spec.get('conda') or []),
        'pip': list(spec.get('pip') or []),
        'setup': list(spec.get('setup') or []),
        'systemSitePackages': spec.get('systemSitePackages', True) is not False,
    }


def env_hash(spec):
    """sha256 of the canonical JSON (sorted keys, no spaces) of the normalized spec, 16 hex."""
    normalized = normalize_spec(spec)
    # Same bytes as json.dumps(sort_keys=True, separators=(',', ':')), without importing json.
    canonical = json.dumps(dict((k, normalized[k]) for k in sorted(normalized)))
    return _sha256(canonical.encode('utf-8')).hexdigest()[:16]


def _sha256(data):
    try:
        from _sha256 import sha256  # skips hashlib's OpenSSL set-up; Python <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:
            from hashlib import sha256
    return sha256(data)


class EnvCancelled(Exception):
    pass


class EnvBuildError(Exception):
    def __init__(self, message, output_tail, exit_code=None):
        Exception.__init__(self, message)
        self.output_tail = output_tail
        self.exit_code = exit_code


def _shell():
    return '/bin/bash' if os.path.exists('/bin/bash') else '/bin/sh'


MODULE_INIT = (
    'if ! command -v module >/dev/null 2>&1; then '
    'for f in /etc/profile.d/lmod.sh /etc/profile.d/z00_lmod.sh /etc/profile.d/modules.sh '
    '/usr/share/lmod/lmod/init/sh /usr/share/Modules/init/sh; do '
    'if [ -r "$f" ]; then . "$f"; break; fi; done; fi')


def with_setup(setup, argv):
    """argv run after the setup lines in one shell; argv travels as "$@", so it needs no quoting."""
    if not setup:
        return list(argv)
    script = '\n'.join([MODULE_INIT] + list(setup) + ['exec "$@"'])
    return [_shell(), '-c', script, 'cluster-bridge-setup'] + list(argv)


class EnvBuilder:
    def __init__(self, work_dir, spec, log, name_hash=None, cancelled=None):
        self.work_dir = work_dir
        self.raw_spec = spec or {}
        self.spec = normalize_spec(spec)
        self.hash = name_hash or env_hash(spec)
        self.log = log
        self.envs_dir = os.path.join(work_dir, 'envs')
        self.marker = os.path.join(self.envs_dir, self.hash + '.ready')
        self.cancelled = cancelled or (lambda: False)
        self.proc = None
        self.known = None

    def ready(self):
        """The warm path: one open() of the marker (once: a ready env stays ready)."""
        if self.known is None:
            info = read_json(self.marker)
            if info and os.path.exists(info.get('python', '')):
                self.known = info
        return self.known

    def ensure(self):
        info = self.ready()
        if info:
            return info
        import fcntl
        # exist_ok: concurrent first builds both find it missing; one of them used to fail
        # with FileExistsError ("environment build failed", exit 1).
        os.makedirs(self.envs_dir, 0o700, exist_ok=True)
        lock_fd = os.open(os.path.join(self.envs_dir, self.hash + '.lock'), os.O_RDWR | os.O_CREAT,
                          0o600)
        try:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except (BlockingIOError, PermissionError):
                self.log.env('Waiting for another job that is building environment %s ...\n'
                             % self.hash)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            info = self.ready()
            if info:
                self.log.env('Environment %s is ready (built by another job).\n' % self.hash)
                return info
            return self.build()
        finally:
            os.close(lock_fd)

    def build(self):
        manager = self.spec['manager']
        python = self.spec['python']
        conda = None
        if manager in ('auto', 'conda'):
            looks_like_path = python and not _is_version(python)
            if manager == 'conda' or not looks_like_path:
                conda = find_conda(self.spec['setup'])
            if manager == 'conda' and not conda:
                raise EnvBuildError('conda was requested for this environment but was not found',
                                    ['Looked at $CONDA_EXE, PATH, ~/miniconda3, ~/miniforge3, '
                                     '~/anaconda3, /opt/conda and their etc/profile.d/conda.sh.'])
        started = time.time()
        if conda:
            info = self.build_conda(conda)
        else:
            info = self.build_venv()
        info['hash'] = self.hash
        info['spec'] = self.spec
        info['builtAt'] = time.time()
        write_json_atomic(self.marker, info)
        self.log.env('Environment %s ready in %.1f s.\n' % (self.hash, time.time() - started))
        return info

    # -- process plumbing

    def stream(self, argv, what, env=None):
        """Runs argv after the setup lines, streaming its output as `env` events line by line."""
        import subprocess
        import collections
        if self.cancelled():
            raise EnvCancelled()
        self.log.env('$ %s\n' % ' '.join(_quote(a) for a in argv))
        tail = collections.deque(maxlen=40)
        try:
            self.proc = subprocess.Popen(with_setup(self.spec['setup'], argv), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        except OSError as e:
            raise EnvBuildError('%s could not start: %s' % (what, e), [str(e)])
        pending = []
        last_write = time.time()
        for raw in iter(self.proc.stdout.readline, b''):
            line = raw.decode('utf-8', 'replace')
            tail.append(line.rstrip('\n'))
            pending.append(line)
            now = time.time()
            if now - last_write > 0.05 or len(pending) > 200:
                self.log.env(''.join(pending))
                pending = []
                last_write = now
        if pending:
            self.log.env(''.join(pending))
        code = self.proc.wait()
        self.proc = None
        if self.cancelled():
            raise EnvCancelled()
        if code != 0:
            raise EnvBuildError('%s failed (exit status %d)' % (what, code), list(tail), code)
        return list(tail)

    def capture(self, argv, env=None):
        import subprocess
        try:
            p = subprocess.Popen(with_setup(self.spec['setup'], argv), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as e:
            return 127, '', str(e)
        out, err = p.communicate()
        return p.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')

    def kill_current(self, sig):
        proc = self.proc
        if proc is not None:
            try:
                proc.send_signal(sig)
            except OSError:
                pass

    # -- venv

    def build_venv(self):
        import shutil
        prefix = os.path.join(self.envs_dir, self.hash)
        if os.path.exists(prefix):
            shutil.rmtree(prefix, ignore_errors=True)  # leftovers of a failed or killed build
        base = self.find_venv_python()
        self.log.env('Building a venv from %s (Python %s) in %s\n' % (base[0], base[1], prefix))
        argv = [base[0], '-m', 'venv']
        if self.spec['systemSitePackages']:
            argv.append('--system-site-packages')
        if not self.spec['pip']:
            argv.append('--without-pip')
        argv.append(prefix)
        try:
            self.stream(argv, 'python -m venv')
            python = os.path.join(prefix, 'bin', 'python')
            if self.spec['pip']:
                self.stream([python, '-m', 'pip', 'install', '--disable-pip-version-check']
                            + self.spec['pip'], 'pip install')
        except BaseException:
            shutil.rmtree(prefix, ignore_errors=True)
            raise
        return {'manager': 'venv', 'prefix': prefix, 'python': python,
                'pythonVersion': base[1]}

    def find_venv_python(self):
        wanted = self.spec['python']
        candidates = []
        if wanted and not _is_version(wanted):
            candidates = [wanted]
        elif wanted:
            candidates = ['python' + wanted, 'python3']
        else:
            candidates = ['python3']
        probe = 'import sys; print("%d.%d.%d" % sys.version_info[:3])'
        seen = []
        for cand in candidates:
            code, out, err = self.capture([cand, '-c', probe])
            if code != 0:
                seen.append('%s: not usable (%s)' % (cand, (err.strip().splitlines() or ['?'])[-1]))
                continue
            version = out.strip()
            parts = tuple(int(x) for x in version.split('.')[:2] if x.isdigit())
            if wanted and _is_version(wanted) and not version.startswith(wanted):
                seen.append('%s: Python %s, not %s' % (cand, version, wanted))
                continue
            if parts < MIN_RUNNER_PYTHON:
                raise EnvBuildError(
                    'Python %s (%s) is too old for the cell runner, which needs Python %d.%d or newer'
                    % (version, cand, MIN_RUNNER_PYTHON[0], MIN_RUNNER_PYTHON[1]),
                    ['Set "python" in the cluster\'s env spec to a newer interpreter, add a '
                     '`module load python/...` setup line, or use conda.'])
            return _resolve(cand, self.spec['setup']) or cand, version
        raise EnvBuildError('no Python interpreter found for the environment (wanted %s)'
                            % (wanted or 'python3'), seen or ['nothing found'])

    # -- conda

    def build_conda(self, conda):
        name = 'cb-' + self.hash
        python = self.spec['python']
        if python and _is_version(python) and _version_tuple(python) < MIN_RUNNER_PYTHON:
            raise EnvBuildError('Python %s is too old for the cell runner, which needs Python %d.%d '
                                'or newer' % (python, MIN_RUNNER_PYTHON[0], MIN_RUNNER_PYTHON[1]),
                                ['Change "python" in the env spec.'])
        self.log.env('Building conda environment %s with %s\n' % (name, conda))
        self.remove_conda_env(conda, name)  # leftovers of a failed or killed build
        argv = [conda, 'create', '-y', '-n', name, 'python=' + python if python else 'python']
        for channel in self.spec['channels']:
            argv += ['-c', channel]
        packages = list(self.spec['conda'])
        if self.spec['pip'] and not any(_pkg_name(p) == 'pip' for p in packages):
            packages.append('pip')
        argv += packages
        try:
            self.stream(argv, 'conda create')
            prefix = self.conda_prefix(conda, name)
            py = os.path.join(prefix, 'bin', 'python')
            if self.spec['pip']:
                self.stream([py, '-m', 'pip', 'install', '--disable-pip-version-check']
                            + self.spec['pip'], 'pip install')
            code, out, err = self.capture([py, '-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'])
            version = out.strip()
            if code != 0:
                raise EnvBuildError('the conda environment\'s python does not run', err.splitlines()[-20:])
            if _version_tuple(version) < MIN_RUNNER_PYTHON:
                raise EnvBuildError('Python %s in %s is too old for the cell runner (needs %d.%d+)'
                                    % (version, name, MIN_RUNNER_PYTHON[0], MIN_RUNNER_PYTHON[1]),
                                    ['Set "python" in the env spec, e.g. "3.11".'])
        except BaseException:
            self.remove_conda_env(conda, name)
            raise
        return {'manager': 'conda', 'conda': conda, 'name': name, 'prefix': prefix, 'python': py,
                'pythonVersion': version}

    def conda_prefix(self, conda, name):
        code, out, err = self.capture([conda, 'env', 'list', '--json'])
        if code == 0:
            try:
                for path in json.loads(out).get('envs', []):
                    if os.path.basename(path.rstrip('/')) == name:
                        return path
            except ValueError:
                pass
        code, out, err = self.capture([conda, 'run', '-n', name, 'python', '-c',
                                       'import sys; print(sys.prefix)'])
        if code == 0 and out.strip():
            return out.strip().splitlines()[-1]
        raise EnvBuildError('conda created %s but its location is unknown' % name,
                            (err or out).splitlines()[-20:])

    def remove_conda_env(self, conda, name):
        import shutil
        try:
            code, out, err = self.capture([conda, 'env', 'list', '--json'])
            envs = json.loads(out).get('envs', []) if code == 0 else []
        except (OSError, ValueError):
            envs = []
        for path in envs:
            if os.path.basename(path.rstrip('/')) == name:
                self.capture([conda, 'env', 'remove', '-y', '-n', name])
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)


def _is_version(text):
    return bool(text) and all(part.isdigit() for part in text.split('.'))


def _version_tuple(text):
    out = []
    for part in text.split('.')[:2]:
        digits = ''.join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _pkg_name(spec):
    import re
    return re.split(r'[=<>!\s\[]', spec, 1)[0].lower()


def _quote(arg):
    import shlex
    return shlex.quote(arg)


def _which(name, path=None):
    for d in (path if path is not None else os.environ.get('PATH', '')).split(os.pathsep):
        p = os.path.join(d or '.', name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _resolve(cmd, setup):
    if os.sep in cmd:
        return os.path.abspath(cmd)
    if not setup:
        return _which(cmd)
    import subprocess
    try:
        out = subprocess.check_output(with_setup(setup, ['sh', '-c', 'command -v "$0"', cmd]),
                                      stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return out.decode('utf-8', 'replace').strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def find_conda(setup=None):
    """conda's executable: $CONDA_EXE, PATH (after the setup lines), the usual install places,
    or what their etc/profile.d/conda.sh sets up (a non-login shell has no conda on PATH)."""
    exe = os.environ.get('CONDA_EXE')
    if exe and os.access(exe, os.X_OK):
        return exe
    if setup:
        import subprocess
        try:
            out = subprocess.check_output(
                with_setup(setup, ['sh', '-c', 'if [ -n "$CONDA_EXE" ]; then echo "$CONDA_EXE"; '
                                               'else command -v conda; fi']),
                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            found = out.decode('utf-8', 'replace').strip()
            if found and os.access(found, os.X_OK):
                return found
        except (OSError, subprocess.CalledProcessError):
            pass
    found = _which('conda')
    if found:
        return found
    home = os.path.expanduser('~')
    roots = [os.path.join(home, d) for d in CONDA_HOMES] + list(CONDA_ROOTS)
    for root in roots:
        exe = os.path.join(root, 'bin', 'conda')
        if os.access(exe, os.X_OK):
            return exe
    for root in roots:
        script = os.path.join(root, 'etc', 'profile.d', 'conda.sh')
        if os.path.isfile(script):
            import subprocess
            try:
                out = subprocess.check_output(
                    ['sh', '-c', '. "$0" >/dev/null 2>&1; printf %s "$CONDA_EXE"', script],
                    stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except (OSError, subprocess.CalledProcessError):
                continue
            found = out.decode('utf-8', 'replace').strip()
            if found and os.access(found, os.X_OK):
                return found
    return None


# ---------------------------------------------------------------------------------------------
# run: the job itself


def run_job(jobdir, notify_fd=None):
    """Ensures VENV2, runs the runner, writes `done` and status.json. Returns the exit status."""
    jobdir = os.path.abspath(jobdir)
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    log = EventLog(jobdir, notify_fd)
    node = hostname()
    started = time.time()
    state = {'cancelled': False, 'runner': None, 'builder': None, 'signal': None}

    def on_signal(signum, frame):
        if signum == SIGUSR2:
            signum = signal.SIGTERM  # Grid Engine's -notify warning before SIGKILL: stop now
        state['cancelled'] = True
        state['signal'] = signum
        runner = state['runner']
        if runner is not None:
            try:
                os.killpg(runner.pid, signum)
            except OSError:
                pass
        elif state['builder'] is not None:
            state['builder'].kill_current(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if SIGUSR2 is not None:
        signal.signal(SIGUSR2, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The warm path: VENV2 is ready and this agent runs on its interpreter, so the runner is
    # forked first thing and loads itself while this process does its bookkeeping; it starts
    # the cell when released (two cores do in parallel what was serial).
    early = builder = None
    forkable = False
    if bundle is not None:
        work_dir = work_dir_for(jobdir, bundle=bundle)
        builder = EnvBuilder(work_dir, bundle.get('env'), log, bundle.get('envHash'),
                             cancelled=lambda: state['cancelled'])
        env, pass_fds = runner_env(jobdir, bundle, notify_fd)
        forkable = can_fork_runner(builder.spec, bundle)
        if forkable:
            ready = builder.ready()
            if ready and same_interpreter(ready):
                try:
                    early = state['runner'] = fork_runner(jobdir, env, hold=True)
                except OSError:
                    pass  # no held runner: it is forked (or started) after the bookkeeping
    status = update_status(jobdir, state='preparing', pid=os.getpid(), pgid=os.getpgrp(), node=node,
                           startedAt=started)

    def finish(end_state, exit_code, reason=None, runner_started=None):
        if early is not None:
            # A held runner never released ends quietly (a released one was waited for already).
            state['runner'] = None
            early.abort()
        log.resync()
        ended = time.time()
        done = {'type': 'done', 'state': end_state, 'exitCode': exit_code,
                'duration': round(ended - (runner_started or started), 6)}
        if reason:
            done['reason'] = reason
        # status.json first: whoever sees `done` finds the end recorded there too.
        update_status(jobdir, state=end_state, exitCode=exit_code, endedAt=ended)
        log.write(done)
        return exit_code if exit_code is not None else 1

    if bundle is None:
        log.write({'type': 'error', 'ename': 'BundleError', 'evalue': 'bundle.json is missing or not JSON',
                   'traceback': ['bundle.json is missing or not JSON in %s' % jobdir]})
        return finish('failed', 2, 'bad bundle')

    state['builder'] = builder
    log.write({'type': 'status', 'phase': 'preparing', 'node': node,
               'message': 'preparing the environment'})
    try:
        info = builder.ensure()
    except EnvCancelled:
        return finish('cancelled', None, 'cancelled while building the environment')
    except EnvBuildError as e:
        if state['cancelled']:
            return finish('cancelled', None, 'cancelled while building the environment')
        log.write({'type': 'error', 'ename': 'EnvironmentBuildError', 'evalue': str(e),
                   'traceback': ['Building environment %s failed: %s' % (builder.hash, e), '']
                   + list(e.output_tail)})
        return finish('failed', e.exit_code if e.exit_code is not None else 1,
                      'environment build failed')
    except Exception as e:
        import traceback
        log.write({'type': 'error', 'ename': type(e).__name__, 'evalue': str(e),
                   'traceback': traceback.format_exc().splitlines()})
        return finish('failed', 1, 'environment build failed')
    state['builder'] = None
    if state['cancelled']:
        return finish('cancelled', None, 'cancelled before the cell started')

    runner_started = time.time()
    # `python` tells the bridge which interpreter can run `go` for the warm fork path.
    log.write({'type': 'status', 'phase': 'running', 'node': node, 'python': info['python']})
    in_process = early is not None or (forkable and same_interpreter(info))
    try:
        if early is not None:
            runner = early
        elif in_process:
            runner = fork_runner(jobdir, env)
        else:
            argv = [info['python'], '-u', RUNNER_FILE, jobdir]
            runner = spawn(with_setup(builder.spec['setup'], argv), env, jobdir, pass_fds)
    except OSError as e:
        log.write({'type': 'error', 'ename': 'RunnerError', 'evalue': str(e),
                   'traceback': ['Could not start the runner %s: %s' % (info['python'], e)]})
        return finish('failed', 1, 'runner did not start')
    state['runner'] = runner
    update_status(jobdir, state='running', runnerPid=runner.pid, runnerPgid=runner.pid,
                  runnerStartedAt=runner_started, runnerMode='fork' if in_process else 'exec',
                  runnerHeld=early is not None)
    if early is not None:
        early.release()  # after every event of ours: the runner's numbering continues from them
    if state['cancelled']:
        try:
            os.killpg(runner.pid, state['signal'] or signal.SIGINT)
        except OSError:
            pass
    while True:
        try:
            code = runner.wait()
            break
        except KeyboardInterrupt:
            continue
    reap_group(runner.pid)
    if code < 0:
        reason = 'killed by signal %d' % -code
        exit_code = 128 - code
    else:
        reason = None
        exit_code = code
    if state['cancelled']:
        end_state = 'cancelled'
    elif code == 0:
        end_state = 'completed'
    else:
        end_state = 'failed'
    return finish(end_state, exit_code, reason, runner_started)


def runner_env(jobdir, bundle, notify_fd):
    """The runner's environment and the fds it inherits."""
    env = dict(os.environ)
    env['PYTHONUNBUFFERED'] = '1'
    env['MPLBACKEND'] = 'Agg'
    env['CLUSTER_BRIDGE_JOB_DIR'] = jobdir
    if bundle.get('jobId'):
        env['CLUSTER_BRIDGE_JOB_ID'] = str(bundle['jobId'])
    for key in ('PYTHONHOME', 'PYTHONPATH', '__PYVENV_LAUNCHER__'):
        if key in env and key not in (bundle.get('keepEnv') or []):
            env.pop(key)  # VENV1's interpreter settings must not leak into VENV2
    pass_fds = ()
    if notify_fd is not None:
        env['CB_NOTIFY_FD'] = str(notify_fd)
        pass_fds = (notify_fd,)
    return env, pass_fds


def can_fork_runner(spec, bundle):
    """Whether the runner may be a fork of this interpreter (see same_interpreter): not when
    setup lines must run in a shell first, nor when the cell must see a PYTHONPATH or
    PYTHONHOME this interpreter was started without."""
    if spec['setup'] or os.environ.get('CB_NO_FORK_RUNNER'):
        return False
    kept = bundle.get('keepEnv') or []
    return not any(key in kept and key in os.environ for key in ('PYTHONPATH', 'PYTHONHOME'))


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


def spawn(argv, env, cwd, pass_fds=()):
    exe = argv[0]
    if os.sep not in exe:
        exe = _which(exe, env.get('PATH', '')) or exe
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
            os.execve(exe, argv, env)
        except BaseException:
            pass
        os._exit(127)
    try:
        os.setpgid(pid, pid)  # also from the parent, so signals can reach the group at once
    except OSError:
        pass
    return Child(pid)


def same_interpreter(info):
    """True when this agent already runs on VENV2's interpreter (the bridge's warm fast path:
    `<venv2>/bin/python -u agent.py go`), so the runner can be forked instead of started."""
    if sys.version_info < MIN_RUNNER_PYTHON:
        return False
    try:
        return os.path.realpath(sys.prefix) == os.path.realpath(info.get('prefix') or '/nonexistent')
    except (OSError, ValueError):
        return False


def fork_runner(jobdir, env, hold=False):
    """The runner in a forked child of this interpreter: saves a whole interpreter start.
    The child leaves through fast_exit() after the cell. hold: the child loads the runner and
    reads the bundle, then waits for Child.release() before it runs the cell."""
    import gc
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
        import gc
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
# launch: detach `run` from the caller (survives the SSH connection)


def launch(jobdir, notify_fd=None, close_in_child=()):
    """Double fork: the job runs in its own session and process group, stdin from /dev/null,
    stdout/stderr to files in JOBDIR. Returns its pid once status.json names it."""
    jobdir = os.path.abspath(jobdir)
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            os.close(r)
            for fd in close_in_child:
                os.close(fd)
            os.setsid()
            second = os.fork()
            if second != 0:
                os._exit(0)
            os.setpgid(0, 0)
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(os.path.join(jobdir, 'agent.out'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            err = os.open(os.path.join(jobdir, 'agent.err'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            for fd in (null, out, err):
                os.close(fd)
            update_status(jobdir, state='starting', pid=os.getpid(), pgid=os.getpgrp(),
                          node=hostname(), launchedAt=time.time())
            write_all(w, str(os.getpid()).encode('ascii'))
            os.close(w)
            code = 1
            try:
                code = run_job(jobdir, notify_fd)
            except ChildExit:
                raise
            except BaseException:
                import traceback
                traceback.print_exc()
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)
        except ChildExit:
            raise
        except BaseException:
            os._exit(1)
    os.close(w)
    data = b''
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(first, 0)
    if not data:
        raise AgentError('the job process did not start (see %s/agent.err)' % jobdir)
    return int(data)


# ---------------------------------------------------------------------------------------------
# follow: stream events.jsonl to stdout


def follow(jobdir, offset=0, notify_fd=None, out_fd=1):
    """Copies whole lines of events.jsonl from byte `offset` to out_fd as the file grows and
    returns 0 after the `done` line. Returns 3 when the job process is gone without a `done`,
    4 when our caller went away. Sleeps adaptively (2 ms .. 50 ms), or waits on notify_fd."""
    import select
    if not os.path.isdir(jobdir):
        raise AgentError('no job directory %s' % jobdir)
    path = os.path.join(jobdir, 'events.jsonl')
    status_path = os.path.join(jobdir, 'status.json')
    fd = None
    partial = b''
    delay = 0.002
    last_check = time.time()
    dead_since = None
    parent = os.getppid()
    node = None
    notify_open = notify_fd is not None
    while True:
        got = False
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY)
                os.lseek(fd, offset, os.SEEK_SET)
            except OSError:
                fd = None
        if fd is not None:
            while True:
                data = os.read(fd, 1 << 20)
                if not data:
                    break
                got = True
                data = partial + data
                cut = data.rfind(b'\n') + 1
                partial = data[cut:]
                whole = data[:cut]
                if not whole:
                    continue
                done_at = _find_done(whole)
                try:
                    if done_at is not None:
                        write_all(out_fd, whole[:done_at])
                        return 0
                    write_all(out_fd, whole)
                except (BrokenPipeError, OSError):
                    return 4
        if got:
            delay = 0.002
            dead_since = None
            continue
        now = time.time()
        if now - last_check > 0.25:
            last_check = now
            if os.getppid() != parent:
                return 4
            status = read_json(status_path) or {}
            if node is None and status.get('node'):
                node = status['node'] == hostname()
            if node and status.get('pid') and not pid_alive(status['pid']):
                if dead_since is None:
                    dead_since = now
                elif now - dead_since > 1.0:
                    sys.stderr.write('cluster-bridge agent: job process %s is gone without a done '
                                     'event\n' % status.get('pid'))
                    return 3
        if notify_open:
            try:
                readable = select.select([notify_fd], [], [], 0.25)[0]
            except InterruptedError:
                readable = []
            if readable:
                try:
                    if not os.read(notify_fd, 4096):
                        notify_open = False  # the job closed it: it has ended
                except OSError:
                    notify_open = False
        else:
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)


def _find_done(chunk):
    """End offset of the `done` line in chunk, or None. The marker can only appear unescaped as
    a key of an event's own fields (or inside nested display data, which json.loads rules out)."""
    start = 0
    while True:
        i = chunk.find(DONE_MARK, start)
        if i < 0:
            return None
        line_start = chunk.rfind(b'\n', 0, i) + 1
        line_end = chunk.find(b'\n', i) + 1
        try:
            if json.loads(chunk[line_start:line_end].decode('utf-8', 'replace')).get('type') == 'done':
                return line_end
        except ValueError:
            pass
        start = line_end


# ---------------------------------------------------------------------------------------------
# cancel, status, doctor


def cancel(jobdir, grace=5.0):
    status = read_json(os.path.join(jobdir, 'status.json')) or {}
    pgid = status.get('pgid')
    runner_pgid = status.get('runnerPgid')
    groups = [g for g in (pgid, runner_pgid) if g]
    if not groups or status.get('state') in ('completed', 'failed', 'cancelled'):
        return {'ok': True, 'state': status.get('state') or 'unknown', 'signalled': False}
    if status.get('node') and status['node'] != hostname():
        raise AgentError('job runs on %s, not on %s: cancel it through its scheduler'
                         % (status['node'], hostname()))
    steps = [('SIGINT', signal.SIGINT, [pgid] if pgid else groups),
             ('SIGTERM', signal.SIGTERM, groups), ('SIGKILL', signal.SIGKILL, groups)]
    used = []
    for name, sig, targets in steps:
        live = [g for g in targets if group_alive(g)]
        if not live and not any(group_alive(g) for g in groups):
            break
        for g in live:
            try:
                os.killpg(int(g), sig)
            except OSError:
                pass
        used.append(name)
        deadline = time.time() + (grace if sig != signal.SIGKILL else 5.0)
        while time.time() < deadline and any(group_alive(g) for g in groups):
            time.sleep(0.02)
        if not any(group_alive(g) for g in groups):
            break
    left = [g for g in groups if group_alive(g)]
    path = os.path.join(jobdir, 'events.jsonl')
    if not left and not _has_done(path):
        # The job was killed before it could say so: record the end for followers.
        log = EventLog(jobdir)
        log.write({'type': 'done', 'state': 'cancelled', 'exitCode': None,
                   'reason': 'killed with %s after %.0f s' % (used[-1] if used else 'signal', grace)})
        update_status(jobdir, state='cancelled', endedAt=time.time())
    return {'ok': not left, 'signals': used, 'left': left}


def _has_done(path):
    try:
        with open(path, 'rb') as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            return _find_done(f.read()) is not None
    except OSError:
        return False


def job_status(jobdir):
    status = read_json(os.path.join(jobdir, 'status.json'))
    out = dict(status or {})
    out['exists'] = os.path.isdir(jobdir)
    if status and status.get('pid') and status.get('node') == hostname():
        out['alive'] = pid_alive(status['pid'])
    path = os.path.join(jobdir, 'events.jsonl')
    try:
        out['eventsSize'] = os.path.getsize(path)
    except OSError:
        out['eventsSize'] = None
    out['done'] = _has_done(path)
    return out


def doctor(work_dir):
    import platform
    import subprocess
    facts = {
        'hostname': hostname(),
        'home': os.path.expanduser('~'),
        'workDir': work_dir,
        'python': {'version': platform.python_version(), 'executable': sys.executable,
                   'implementation': platform.python_implementation(),
                   'prefix': sys.prefix, 'basePrefix': getattr(sys, 'base_prefix', sys.prefix)},
        'platform': platform.platform(),
        'cpus': os.cpu_count(),
    }
    try:
        import venv  # noqa: F401
        import ensurepip  # noqa: F401
        facts['venv'] = {'ok': True, 'ensurepip': True}
    except ImportError as e:
        facts['venv'] = {'ok': 'venv' in sys.modules, 'ensurepip': False, 'error': str(e)}
    facts['conda'] = find_conda()
    facts['schedulers'] = dict((name, _which(name)) for name in
                               ('sbatch', 'squeue', 'sacct', 'scancel', 'qsub', 'qstat', 'qdel',
                                'pbsnodes'))
    smi = _which('nvidia-smi')
    gpus = None
    if smi:
        try:
            out = subprocess.check_output(
                [smi, '--query-gpu=index,uuid,name,memory.total,memory.used',
                 '--format=csv,noheader,nounits'], stderr=subprocess.STDOUT, timeout=20)
            gpus = []
            for line in out.decode('utf-8', 'replace').strip().splitlines():
                parts = [p.strip() for p in line.split(',')]
                if len(parts) >= 5:
                    gpus.append({'index': int(parts[0]), 'uuid': parts[1], 'name': parts[2],
                                 'memoryTotal': int(float(parts[3])) << 20,
                                 'memoryUsed': int(float(parts[4])) << 20})
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            gpus = {'error': str(e)}
    facts['nvidiaSmi'] = {'path': smi, 'gpus': gpus} if smi else None
    facts['cudaVisibleDevices'] = os.environ.get('CUDA_VISIBLE_DEVICES')
    probe = work_dir
    while probe and not os.path.exists(probe):
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe or '/')
        facts['diskFree'] = st.f_bavail * st.f_frsize
    except OSError:
        facts['diskFree'] = None
    return facts


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    if not argv:
        raise AgentError('usage: agent.py COMMAND [JOBDIR] [--offset N] [--grace S] [--workdir DIR]')
    opts = {'command': argv[0], 'jobdir': None, 'offset': 0, 'grace': 5.0, 'workdir': None}
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ('--offset', '--grace', '--workdir'):
            if i + 1 >= len(rest):
                raise AgentError('%s needs a value' % arg)
            value = rest[i + 1]
            try:
                if arg == '--offset':
                    opts['offset'] = int(value)
                elif arg == '--grace':
                    opts['grace'] = float(value)
                else:
                    opts['workdir'] = value
            except ValueError:
                raise AgentError('bad value for %s: %r' % (arg, value))
            i += 2
        elif arg.startswith('--'):
            raise AgentError('unknown option %s' % arg)
        elif opts['jobdir'] is None:
            opts['jobdir'] = os.path.abspath(os.path.expanduser(arg))
            i += 1
        else:
            raise AgentError('unexpected argument %r' % arg)
    needs_job = ('prepare', 'run', 'launch', 'follow', 'go', 'cancel', 'status')
    if opts['command'] in needs_job and not opts['jobdir']:
        raise AgentError('%s needs a JOBDIR' % opts['command'])
    if opts['command'] not in needs_job + ('doctor',):
        raise AgentError('unknown command %r' % opts['command'])
    return opts


def print_json(obj):
    write_all(1, (json.dumps(obj) + '\n').encode('ascii'))


def main(argv):
    try:
        opts = parse_args(argv)
        cmd = opts['command']
        jobdir = opts['jobdir']
        if cmd == 'prepare':
            prepare(jobdir, read_stdin_bundle())
            print_json({'ok': True})
            return 0
        if cmd == 'run':
            return run_job(jobdir)
        if cmd == 'launch':
            print_json({'pid': launch(jobdir)})
            return 0
        if cmd == 'follow':
            return follow(jobdir, opts['offset'])
        if cmd == 'go':
            prepare(jobdir, read_stdin_bundle())
            r, w = os.pipe()
            try:
                launch(jobdir, notify_fd=w, close_in_child=(r,))
            finally:
                os.close(w)
            return follow(jobdir, 0, notify_fd=r)
        if cmd == 'cancel':
            result = cancel(jobdir, opts['grace'])
            print_json(result)
            return 0 if result.get('ok') else 1
        if cmd == 'status':
            print_json(job_status(jobdir))
            return 0
        if cmd == 'doctor':
            print_json(doctor(work_dir_for(explicit=opts['workdir'])))
            return 0
    except ChildExit as e:
        return e.code
    except AgentError as e:
        sys.stderr.write('cluster-bridge agent: %s\n' % e)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
