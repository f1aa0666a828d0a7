"""Resource limits on a direct (no scheduler) host: what `--gpus/--cpus/--mem/--time` promise,
done by the runtime itself for a cell's runner (and a session's process).

  limits = prepare_limits(request, work_dir)      # LimitError: the host cannot give it
  env.update(limits.env)                          # CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS, ...
  child: limits.apply()                           # after fork / before exec: affinity, rlimit
  argv = limits.wrap(argv)                        # exec'd under a systemd scope (memory cgroup)
  limits.time_limit                               # seconds or None: the caller ends the process
  limits.release()                                # gives the GPUs and cores back

A process that becomes the limited program itself (a session): limit_this_process().

--gpus N: N GPUs that nvidia-smi shows with no compute process and no other live cell's claim.
Claims are files <work>/gpus/<host>/<index> holding the owner's pid and start time, made under a
lock, so two cells never get the same GPU; a dead owner's claim is taken over.
--cpus N: N of the cores this process may use, unclaimed ones first (claims like GPUs, but soft:
cores are shared when all are taken), pinned with sched_setaffinity, and the usual thread-count
variables set unless the user's environment has them.
--mem: a memory cgroup through `systemd-run --user --scope` where that really works and the user's
systemd manager lingers (else the scope would end with the SSH login); otherwise RLIMIT_DATA
(on Linux >= 4.7 it counts every private writable mapping: an overrun is a MemoryError, while
CUDA's large address-space reservations still work; RLIMIT_AS would break them), per process.

Python 3.6+, standard library only. Nothing here runs unless the cell asked for a limit, and the
module itself imports only os: `resource`, `fcntl`, `subprocess` come when needed.
"""
import os

import _cb_claims as claims

MEBI = 1 << 20
THREAD_VARS = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMEXPR_NUM_THREADS')
LINGER_DIR = '/var/lib/systemd/linger'
CGROUP_CHECK_TTL = 3600.0  # seconds a host's "systemd-run works" verdict is kept


class LimitError(Exception):
    """The host cannot give what the cell asked for: the cell does not start."""


def wants_limits(request):
    """Whether the request asks for anything this module enforces (the warm path checks this
    before importing the module)."""
    return bool(request) and any(request.get(k) not in (None, '') for k in
                                 ('gpus', 'cpus', 'mem', 'time'))


def apply_limits(request, work_dir, owner_pid=None):
    """For a process that applies the limits to itself and then becomes (exec's) the limited
    program: returns (env changes, notices, release fn). The time limit is the caller's
    (parse_time(request['time'])); the memory cgroup needs an exec: use prepare_limits and
    wrap() for it."""
    limits = prepare_limits(request, work_dir, owner_pid)
    limits.apply()
    return limits.env, limits.notices, limits.release


def limit_this_process(request, work_dir, log=None):
    """For a process about to become the limited program in place (a session on a direct host:
    in-process, or an exec of wrap(argv), same pid): claims for this pid (a dead pid's claims are
    taken over, so nothing needs releasing), the variables put into os.environ, affinity and the
    rlimit applied here (inherited across exec), the notices written to log, and for --time a
    watchdog that sends this process SIGTERM at the limit. Raises LimitError."""
    limits = prepare_limits(request, work_dir)
    try:
        limits.apply()
    except OSError as e:
        limits.release()
        raise LimitError('could not apply the limits: %s' % e)
    os.environ.update(limits.env)
    if log is not None and limits.notices:
        log.write([{'type': 'notice', 'text': text} for text in limits.notices])
    if limits.time_limit is not None:
        watch_deadline(os.getpid(), limits.time_limit)
    return limits


def watch_deadline(pid, seconds, grace=10.0):
    """A watchdog process (double-forked, in pid's process group, so stopping the group ends it
    too): SIGTERM to pid once `seconds` have passed, SIGKILL to its group `grace` s later if it
    is still there; it leaves as soon as pid is gone."""
    import time
    try:
        import _signal as signal  # the C module: `signal` would import enum
    except ImportError:
        import signal
    first = os.fork()
    if first:
        os.waitpid(first, 0)
        return
    try:
        if os.fork():
            os._exit(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os.closerange(3, 1024)
        started = claims.start_time(pid)
        deadline = time.monotonic() + seconds
        while claims.start_time(pid) == started:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGTERM)
                end = time.monotonic() + grace
                while claims.start_time(pid) == started and time.monotonic() < end:
                    time.sleep(0.1)
                if claims.start_time(pid) == started:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                break
            time.sleep(min(left, 1.0))
    except BaseException:
        pass
    os._exit(0)


def prepare_limits(request, work_dir, owner_pid=None, cgroup=True):
    """The limits of a request on this host. Claims GPUs and cores for owner_pid (default: this
    process), which must live as long as the limited process. Raises LimitError."""
    request = request or {}
    limits = Limits(owner_pid or os.getpid())
    try:
        if request.get('time') not in (None, ''):
            limits.time_limit = parse_time(request['time'])
            limits.time_text = str(request['time'])
        if request.get('mem') not in (None, ''):
            limits.mem_bytes = parse_mem(request['mem'])
            limits.mem_text = str(request['mem'])
            limits.mem_method = _memory_method(work_dir, limits.mem_bytes, limits.notices,
                                               cgroup)
        if request.get('cpus') not in (None, ''):
            _pick_cpus(limits, int(request['cpus']), work_dir)
        if request.get('gpus') not in (None, ''):
            _pick_gpus(limits, int(request['gpus']), work_dir)
    except OSError as e:
        limits.release()
        raise LimitError('could not claim GPUs or cores in %s: %s' % (work_dir, e))
    except BaseException:
        limits.release()
        raise
    return limits


class Limits(object):
    def __init__(self, owner_pid):
        self.owner_pid = owner_pid
        self.env = {}
        self.notices = []
        self.time_limit = None
        self.time_text = None
        self.mem_bytes = None
        self.mem_text = None
        self.mem_method = None  # 'cgroup' | 'rlimit'
        self.cpus = None
        self.gpus = None
        self._claims = []

    @property
    def needs_exec(self):
        """The memory cgroup comes from systemd-run, which must exec the program."""
        return self.mem_method == 'cgroup'

    def apply(self, pid=0):
        """Core affinity and the memory rlimit, for this process (pid 0: call it in the child
        after fork or before exec) or a held child."""
        if self.cpus:
            os.sched_setaffinity(pid, self.cpus)
        if self.mem_method == 'rlimit':
            import resource
            limit = (self.mem_bytes, self.mem_bytes)
            if pid:
                resource.prlimit(pid, _rlimit_kind(), limit)
            else:
                resource.setrlimit(_rlimit_kind(), limit)

    def wrap(self, argv):
        """argv as run under a transient systemd scope with the memory limit, when that is the
        method."""
        if self.mem_method != 'cgroup':
            return list(argv)
        from _cb_proc import which
        return [which('systemd-run') or 'systemd-run', '--user', '--scope', '--quiet', '--collect',
                '-p', 'MemoryMax=%d' % self.mem_bytes, '-p', 'MemorySwapMax=0', '--'] + list(argv)

    def describe(self):
        """For status.json: what was granted and how."""
        out = {}
        if self.gpus is not None:
            out['gpus'] = self.gpus
        if self.cpus is not None:
            out['cpus'] = self.cpus
        if self.mem_bytes is not None:
            out['mem'] = {'bytes': self.mem_bytes, 'method': self.mem_method}
        if self.time_limit is not None:
            out['timeLimit'] = self.time_limit
        return out

    def release(self):
        paths, self._claims = self._claims, []
        for path in paths:
            try:
                if claims.read_claim(path)[0] == self.owner_pid:
                    os.unlink(path)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Values


def parse_time(text):
    """Seconds from a SLURM-style time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS."""
    t = str(text).strip()
    days = 0
    if '-' in t:
        d, t = t.split('-', 1)
        days = _whole(d, text)
        parts = [_whole(p, text) for p in t.split(':')]
        if len(parts) > 3:
            raise LimitError('invalid time limit %r' % text)
        parts += [0] * (3 - len(parts))
        seconds = (parts[0] * 60 + parts[1]) * 60 + parts[2]
    else:
        parts = [_whole(p, text) for p in t.split(':')]
        if len(parts) == 1:
            seconds = parts[0] * 60
        elif len(parts) == 2:
            seconds = parts[0] * 60 + parts[1]
        elif len(parts) == 3:
            seconds = (parts[0] * 60 + parts[1]) * 60 + parts[2]
        else:
            raise LimitError('invalid time limit %r' % text)
    seconds += days * 86400
    if seconds <= 0:
        raise LimitError('invalid time limit %r: must be more than zero' % text)
    return seconds


def parse_mem(text):
    """Bytes from `16G`, `500M`, `2048K`, `1T` (powers of 1024) or a plain number of MiB."""
    t = str(text).strip().upper()
    if t.endswith('IB'):
        t = t[:-2]
    elif t.endswith('B') and len(t) > 1 and t[-2] in 'KMGT':
        t = t[:-1]
    scale = MEBI
    if t and t[-1] in 'KMGT':
        scale = 1 << (10 * ('KMGT'.index(t[-1]) + 1))
        t = t[:-1]
    n = _whole(t, text)
    if n <= 0:
        raise LimitError('invalid memory size %r: must be more than zero' % text)
    return n * scale


def format_mem(n):
    for unit, shift in (('T', 40), ('G', 30), ('M', 20), ('K', 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return '%d%s' % (n >> shift, unit)
    return '%d bytes' % n


def _whole(part, text):
    if not part.isdigit():
        raise LimitError('invalid value %r' % text)
    return int(part)


# ---------------------------------------------------------------------------------------------
# Memory


def _memory_method(work_dir, nbytes, notices, cgroup):
    why = _cgroup_unavailable(work_dir) if cgroup else 'not asked for'
    if why is None:
        return 'cgroup'
    notices.append('--mem %s is a limit on each process of the cell (RLIMIT_DATA), not on their '
                   'sum: no memory cgroup here (%s)' % (format_mem(nbytes), why))
    return 'rlimit'


def _rlimit_kind():
    import resource
    release = os.uname()[2].split('-')[0].split('.')
    try:
        counts_mmaps = (int(release[0]), int(release[1])) >= (4, 7)
    except (ValueError, IndexError):
        counts_mmaps = False
    return resource.RLIMIT_DATA if counts_mmaps else resource.RLIMIT_AS


def _cgroup_unavailable(work_dir):
    """None when `systemd-run --user --scope` really works here and lingers, else why not."""
    from _cb_proc import which
    if not which('systemd-run'):
        return 'no systemd-run'
    user = _user_name()
    if not user or not os.path.exists(os.path.join(LINGER_DIR, user)):
        return ('the systemd user manager of %s does not linger (loginctl enable-linger), so a '
                'scope would end with the SSH login' % (user or 'this user'))
    import time
    cache = os.path.join(work_dir, 'limits', 'cgroup-%s' % claims.host())
    try:
        if time.time() - os.path.getmtime(cache) < CGROUP_CHECK_TTL:
            with open(cache) as f:
                verdict = f.read().strip()
            return None if verdict == 'ok' else verdict
    except OSError:
        pass
    import subprocess
    try:
        done = subprocess.run(['systemd-run', '--user', '--scope', '--quiet', '-p',
                               'MemoryMax=%d' % (64 * MEBI), 'true'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=20)
        out = done.stdout.decode('utf-8', 'replace').strip().splitlines()
        verdict = 'ok' if done.returncode == 0 else \
            'systemd-run --user --scope failed: %s' % (out[-1] if out else done.returncode)
    except (OSError, subprocess.SubprocessError) as e:
        verdict = 'systemd-run --user --scope failed: %s' % e
    try:
        os.makedirs(os.path.dirname(cache), 0o700, exist_ok=True)
        with open(cache + '.tmp', 'w') as f:
            f.write(verdict)
        os.rename(cache + '.tmp', cache)
    except OSError:
        pass
    return None if verdict == 'ok' else verdict


def _user_name():
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get('USER') or os.environ.get('LOGNAME')


# ---------------------------------------------------------------------------------------------
# Cores


def _pick_cpus(limits, n, work_dir):
    allowed = sorted(os.sched_getaffinity(0))
    if n > len(allowed):
        raise LimitError('--cpus %d: this host lets the cell use %d core%s (%s)'
                         % (n, len(allowed), '' if len(allowed) == 1 else 's',
                            _ranges(allowed)))
    folder = os.path.join(work_dir, 'cpus', claims.host())
    with claims.FolderLock(folder):
        users = dict((c, 0) for c in allowed)
        for name in claims.listdir(folder):
            cpu, _, owner = name.partition('-')
            if cpu.isdigit() and int(cpu) in users:
                if claims.claim_alive(os.path.join(folder, name)):
                    users[int(cpu)] += 1
                else:
                    claims.unlink(os.path.join(folder, name))
        # Least used first, then in order: two cells with --cpus 1 get different cores.
        chosen = sorted(sorted(allowed, key=lambda c: users[c])[:n])
        for cpu in chosen:
            path = os.path.join(folder, '%d-%d' % (cpu, limits.owner_pid))
            limits._claims.append(claims.claim(path, limits.owner_pid))
    limits.cpus = chosen
    for var in THREAD_VARS:
        if var not in os.environ:
            limits.env[var] = str(n)


def _ranges(cpus):
    out = []
    for c in cpus:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return ','.join(str(a) if a == b else '%d-%d' % (a, b) for a, b in out)


# ---------------------------------------------------------------------------------------------
# GPUs


def _pick_gpus(limits, n, work_dir):
    if n == 0:
        limits.env['CUDA_VISIBLE_DEVICES'] = ''  # asked for none: the cell sees none
        limits.gpus = []
        return
    host = claims.host()
    gpus, busy = _gpu_facts(n, host)
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is not None and visible.strip():
        # The host (or its admin) already narrowed what this login may use.
        allowed = set(x.strip() for x in visible.split(','))
        gpus = [g for g in gpus if str(g[0]) in allowed or g[1] in allowed]
    folder = os.path.join(work_dir, 'gpus', host)
    with claims.FolderLock(folder):
        claimed = {}
        for index, _ in gpus:
            path = os.path.join(folder, str(index))
            if os.path.exists(path):
                if claims.claim_alive(path):
                    claimed[index] = claims.read_claim(path)[0]
                else:
                    claims.unlink(path)
        free = [i for i, uuid in gpus if uuid not in busy and i not in claimed]
        if len(free) < n:
            raise LimitError(_gpu_shortage(n, host, gpus, busy, claimed, visible))
        chosen = free[:n]
        for index in chosen:
            limits._claims.append(claims.claim(os.path.join(folder, str(index)), limits.owner_pid))
    limits.gpus = chosen
    limits.env['CUDA_VISIBLE_DEVICES'] = ','.join(str(i) for i in chosen)
    limits.env['CUDA_DEVICE_ORDER'] = 'PCI_BUS_ID'  # CUDA's numbering = nvidia-smi's


def _gpu_facts(n, host):
    """[(index, uuid)] of every GPU and {uuid: [pids]} of those running compute processes."""
    from _cb_proc import which
    smi = which('nvidia-smi')
    if not smi:
        raise LimitError('--gpus %d: %s has no nvidia-smi, so no NVIDIA GPU can be given to the '
                         'cell (no GPUs, or no driver)' % (n, host))
    gpus = [(int(row[0]), row[1]) for row in
            _smi(smi, n, host, '--query-gpu=index,uuid') if row[0].isdigit()]
    busy = {}
    for row in _smi(smi, n, host, '--query-compute-apps=gpu_uuid,pid'):
        if len(row) >= 2:
            busy.setdefault(row[0], []).append(row[1])
    return gpus, busy


def _smi(smi, n, host, query):
    import subprocess
    try:
        done = subprocess.run([smi, query, '--format=csv,noheader,nounits'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise LimitError('--gpus %d: nvidia-smi failed on %s: %s' % (n, host, e))
    if done.returncode != 0:
        text = (done.stderr or done.stdout).decode('utf-8', 'replace').strip()
        raise LimitError('--gpus %d: nvidia-smi failed on %s (exit %d): %s'
                         % (n, host, done.returncode, text.splitlines()[-1] if text else ''))
    rows = []
    for line in done.stdout.decode('utf-8', 'replace').splitlines():
        if line.strip():
            rows.append([p.strip() for p in line.split(',')])
    return rows


def _gpu_shortage(n, host, gpus, busy, claimed, visible):
    if not gpus:
        where = ' (of CUDA_VISIBLE_DEVICES=%s)' % visible if visible else ''
        return '--gpus %d: nvidia-smi on %s shows no GPUs%s' % (n, host, where)
    why = []
    for index, uuid in gpus:
        if uuid in busy:
            why.append('GPU %d runs process%s %s' % (index, '' if len(busy[uuid]) == 1 else 'es',
                                                     ', '.join(busy[uuid])))
        elif index in claimed:
            why.append('GPU %d is taken by another cell (pid %d)' % (index, claimed[index]))
    free = len(gpus) - len(why)
    return ('--gpus %d: %s has %d GPU%s, %d busy, %d free (%s)'
            % (n, host, len(gpus), '' if len(gpus) == 1 else 's', len(why), free,
               '; '.join(why)))
