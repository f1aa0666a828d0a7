"""Building VENV2 (the cold path; the warm path never imports this): under a per-env file lock,
a venv from a matching Python or a conda env, its build output streamed as `env` events, then
the ready marker that later jobs open.

Python 3.6+, standard library only.
"""
import errno
import os
import time

import _cb_json as json
from _cb_envs import MIN_RUNNER_PYTHON, EnvBuildError, EnvCancelled, with_setup
from _cb_jobfiles import write_json_atomic
from _cb_proc import which

CONDA_HOMES = ('miniconda3', 'miniforge3', 'mambaforge', 'anaconda3', 'miniconda', 'anaconda')
CONDA_ROOTS = ('/opt/conda', '/opt/miniconda3', '/opt/miniforge3', '/opt/anaconda3',
               '/opt/mambaforge', '/usr/local/miniconda3', '/usr/local/anaconda3',
               '/usr/local/conda', '/opt/miniconda', '/opt/anaconda')
VERSION_PROBE = 'import sys; print("%d.%d.%d" % sys.version_info[:3])'
# flock's answers on file systems without it: NFS without lockd, Lustre mounted noflock.
NO_FLOCK = tuple(getattr(errno, n) for n in ('ENOLCK', 'EOPNOTSUPP', 'ENOTSUP', 'ENOSYS')
                 if hasattr(errno, n))
# An atomic-create lock of another host is stale after this long without its holder's touch.
STALE_AFTER_S = 300.0
HEARTBEAT_S = 30.0


class EnvLock:
    """One env build at a time, across processes and hosts sharing the work dir: flock on PATH
    where the file system has it, else (NO_FLOCK) PATH.owner created with O_CREAT|O_EXCL and
    holding host, pid and time. Its holder touches it every HEARTBEAT_S; a waiter takes it over
    when its pid is gone on this host, or, from another host, after STALE_AFTER_S untouched."""

    def __init__(self, path):
        self.path = path
        self.owner = path + '.owner'
        self.fd = None
        self.held = None  # 'flock' or 'file'
        self.beat = None

    def try_acquire(self):
        import fcntl
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = 'flock'
            return True
        except (BlockingIOError, PermissionError):
            return False
        except OSError as e:
            if e.errno not in NO_FLOCK:
                raise
        return self._try_file()

    def acquire(self, cancelled=None):
        delay = 0.05
        while not self.try_acquire():
            if cancelled is not None and cancelled():
                raise EnvCancelled()
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def release(self, remove=False):
        if self.held == 'file':
            self.beat = None  # the heartbeat thread sees this and stops
            try:
                os.unlink(self.owner)
            except OSError:
                pass
        if self.fd is not None:
            if remove and self.held == 'flock':
                try:
                    os.unlink(self.path)  # while held: nobody waits on an unlinked file
                except OSError:
                    pass
            os.close(self.fd)  # drops the flock
            self.fd = None
        self.held = None

    def _try_file(self):
        from _cb_jobfiles import hostname
        me = '%s %d %f\n' % (hostname(), os.getpid(), time.time())
        try:
            fd = os.open(self.owner, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if self._take_over_stale():
                return self._try_file()
            return False
        try:
            os.write(fd, me.encode('utf-8'))
        finally:
            os.close(fd)
        self.held = 'file'
        self._start_heartbeat()
        return True

    def _take_over_stale(self):
        """Moves a stale owner file aside (rename: one waiter wins) and says whether it did."""
        from _cb_jobfiles import hostname
        from _cb_proc import pid_alive
        moved = None
        try:
            with open(self.owner, 'rb') as f:
                seen = f.read()
            age = time.time() - os.stat(self.owner).st_mtime
        except OSError:
            return True  # released meanwhile: try again
        parts = seen.decode('utf-8', 'replace').split()
        if len(parts) >= 2 and parts[0] == hostname() and parts[1].isdigit():
            stale = not pid_alive(int(parts[1]))
        else:
            stale = age > STALE_AFTER_S  # another host, or a half-written file: by its age
        if not stale:
            return False
        aside = '%s.stale.%d' % (self.owner, os.getpid())
        try:
            os.rename(self.owner, aside)
        except OSError:
            return True  # another waiter took it first: try again
        try:
            with open(aside, 'rb') as f:
                moved = f.read()
            if moved != seen:
                os.link(aside, self.owner)  # a fresh holder's file: put it back (if still free)
        except OSError:
            pass
        try:
            os.unlink(aside)
        except OSError:
            pass
        return moved == seen

    def _start_heartbeat(self):
        import _thread
        token = self.beat = object()

        def beat():
            while self.beat is token:
                time.sleep(1.0)
                if self.beat is token and time.time() - last[0] >= HEARTBEAT_S:
                    last[0] = time.time()
                    try:
                        os.utime(self.owner, None)
                    except OSError:
                        pass

        last = [time.time()]
        _thread.start_new_thread(beat, ())


class EnvBuilder:
    """Builds one _cb_envs.Env (its spec, hash, marker and log)."""

    def __init__(self, env):
        self.env = env
        self.spec = env.spec
        self.hash = env.hash
        self.envs_dir = env.envs_dir
        self.proc = None

    def ensure(self):
        # exist_ok: concurrent first builds both find it missing; one of them used to fail
        # with FileExistsError ("environment build failed", exit 1).
        os.makedirs(self.envs_dir, 0o700, exist_ok=True)
        lock = EnvLock(os.path.join(self.envs_dir, self.hash + '.lock'))
        try:
            if not lock.try_acquire():
                self.env.say('Waiting for another job that is building environment %s ...\n'
                             % self.hash)
                lock.acquire(self.env.cancelled)
            info = self.env.ready()
            if info:
                self.env.say('Environment %s is ready (built by another job).\n' % self.hash)
                return info
            return self.build()
        finally:
            lock.release()

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
        self.env.say(choice_text(manager, conda, python) + '\n')
        started = time.time()
        if conda:
            info = self.build_conda(conda)
        else:
            info = self.build_venv()
        info['hash'] = self.hash
        info['spec'] = self.spec
        info['builtAt'] = time.time()
        write_json_atomic(self.env.marker, info)
        self.env.say('Environment %s ready in %.1f s.\n' % (self.hash, time.time() - started))
        return info

    # -- process plumbing

    def stream(self, argv, what, env=None):
        """Runs argv after the setup lines, streaming its output as `env` events line by line."""
        import subprocess
        import collections
        if self.env.cancelled():
            raise EnvCancelled()
        self.env.say('$ %s\n' % ' '.join(_quote(a) for a in argv))
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
                self.env.say(''.join(pending))
                pending = []
                last_write = now
        if pending:
            self.env.say(''.join(pending))
        code = self.proc.wait()
        self.proc = None
        if self.env.cancelled():
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
        self.env.say('Building a venv from %s (Python %s) in %s\n' % (base[0], base[1], prefix))
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
        seen = []
        for cand in candidates:
            code, out, err = self.capture([cand, '-c', VERSION_PROBE])
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
        self.env.say('Building conda environment %s with %s\n' % (name, conda))
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
            code, out, err = self.capture([py, '-c', VERSION_PROBE])
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


def choice_text(manager, conda, python=''):
    """Why this env is conda or a venv, in the words of the cluster config."""
    if manager == 'conda':
        return 'Environment kind: conda (envKind "conda"), with %s.' % conda
    if manager == 'venv':
        return 'Environment kind: venv (envKind "venv").'
    if conda:
        return ('Environment kind: conda, because envKind is "auto" and conda was found at %s '
                '(set "envKind": "venv" in the cluster config, or use --env venv, for a plain '
                'venv).' % conda)
    if python and not _is_version(python):
        return ('Environment kind: venv, because envKind is "auto" and the env names the '
                'interpreter %s.' % python)
    return ('Environment kind: venv, because envKind is "auto" and no conda was found '
            '(PATH, $CONDA_EXE, the usual install places).')


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


def _resolve(cmd, setup):
    if os.sep in cmd:
        return os.path.abspath(cmd)
    if not setup:
        return which(cmd)
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
    found = which('conda')
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
