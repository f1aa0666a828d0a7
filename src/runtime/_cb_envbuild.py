"""Building VENV2 (the cold path; the warm path never imports this): under a per-env file lock,
a venv from a matching Python or a conda env, its build output streamed as `env` events, then
the ready marker that later jobs open.

Python 3.6+, standard library only.
"""
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


class EnvBuilder:
    """Builds one _cb_envs.Env (its spec, hash, marker and log)."""

    def __init__(self, env):
        self.env = env
        self.spec = env.spec
        self.hash = env.hash
        self.envs_dir = env.envs_dir
        self.proc = None

    def ensure(self):
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
                self.env.say('Waiting for another job that is building environment %s ...\n'
                             % self.hash)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            info = self.env.ready()
            if info:
                self.env.say('Environment %s is ready (built by another job).\n' % self.hash)
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
