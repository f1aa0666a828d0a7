"""VENV2, the environment a cell runs in: its spec and hash, the ready marker (the warm path is
one open() of it) and the setup lines run before its programs. Building one is the cold path,
in _cb_envbuild, imported only when the marker is missing.

Python 3.6+, standard library only.
"""
import os

import _cb_json as json
from _cb_jobfiles import read_json

ENV_FORMAT = 1  # bump when the way envs are built changes, so old envs are not reused
MIN_RUNNER_PYTHON = (3, 8)
MODULE_INIT = (
    'if ! command -v module >/dev/null 2>&1; then '
    'for f in /etc/profile.d/lmod.sh /etc/profile.d/z00_lmod.sh /etc/profile.d/modules.sh '
    '/usr/share/lmod/lmod/init/sh /usr/share/Modules/init/sh; do '
    'if [ -r "$f" ]; then . "$f"; break; fi; done; fi')


class EnvCancelled(Exception):
    pass


class EnvBuildError(Exception):
    def __init__(self, message, output_tail, exit_code=None):
        Exception.__init__(self, message)
        self.output_tail = output_tail
        self.exit_code = exit_code


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


def with_setup(setup, argv):
    """argv run after the setup lines in one shell; argv travels as "$@", so it needs no quoting."""
    if not setup:
        return list(argv)
    shell = '/bin/bash' if os.path.exists('/bin/bash') else '/bin/sh'
    script = '\n'.join([MODULE_INIT] + list(setup) + ['exec "$@"'])
    return [shell, '-c', script, 'cluster-bridge-setup'] + list(argv)


class Env:
    """One job's VENV2: ready() on the warm path, ensure() builds it when it is missing.
    log: the job's EventLog (build output becomes `env` events); cancelled() stops a build."""

    def __init__(self, work_dir, spec, log, name_hash=None, cancelled=None):
        self.spec = normalize_spec(spec)
        self.hash = name_hash or env_hash(spec)
        self.log = log
        self.envs_dir = os.path.join(work_dir, 'envs')
        self.marker = os.path.join(self.envs_dir, self.hash + '.ready')
        self.cancelled = cancelled or (lambda: False)
        self.known = None
        self.builder = None

    def ready(self):
        """The warm path: one open() of the marker (once: a ready env stays ready)."""
        if self.known is None:
            info = read_json(self.marker)
            if info and os.path.exists(info.get('python', '')):
                self.known = info
        return self.known

    def ensure(self):
        """The env's marker info, after building the env when it is not there yet."""
        info = self.ready()
        if info:
            return info
        import _cb_envbuild
        self.builder = _cb_envbuild.EnvBuilder(self)
        return self.builder.ensure()

    def say(self, text):
        self.log.write([{'type': 'env', 'text': text}])

    def kill_current(self, sig):
        """Signals the build step in progress, if any (a cancel during the build)."""
        if self.builder is not None:
            self.builder.kill_current(sig)


def ensure_here(work_dir, request):
    """`env-ensure`: VENV2 ready on this host (a batch cluster's login node, before the job is
    submitted, so the compute node neither builds nor needs the network). Build output goes to
    stdout as `env` event lines, then {"type": "env-ready", ...} (exit 0) or an `error` event
    (exit 1). request: {"env": spec, "envHash": hash} as in a job bundle."""
    from _cb_events import LineLog
    log = LineLog(1)
    env = Env(request.get('workDir') or work_dir, request.get('env'), log, request.get('envHash'))
    try:
        info = env.ensure()
    except EnvBuildError as e:
        log.write([{'type': 'error', 'ename': 'EnvironmentBuildError', 'evalue': str(e),
                    'traceback': ['Building environment %s on %s failed: %s'
                                  % (env.hash, _host(), e), ''] + list(e.output_tail)}])
        return 1
    log.write([{'type': 'env-ready', 'hash': env.hash, 'python': info.get('python'),
                'manager': info.get('manager'), 'node': _host()}])
    return 0


def _host():
    return os.uname()[1]
