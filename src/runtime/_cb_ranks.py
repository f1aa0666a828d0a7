"""Distributed launch (`--nodes/--gpus-per-node/--tasks-per-node/--launch`): the cell's code as
WORLD_SIZE = nodes x tasks-per-node ranks, each a runner of its own.

`python -u _cb_ranks.py launch JOBDIR` takes the runner's place in `run` (same process group,
same signals): it picks MASTER_ADDR/MASTER_PORT, starts the ranks (local children, `srun`,
`srun ... torchrun` or `mpirun`), and merges their logs JOBDIR/ranks/<r>/events.jsonl into
JOBDIR/events.jsonl, being its only writer while the ranks run: rank 0's events unchanged
(its output is the cell's), every other rank's wrapped as {"type": "rank", "rank": r,
"event": ...}. The first rank that raises fails the cell with its traceback; the others are
stopped. `python -u _cb_ranks.py rank JOBDIR` is one rank: the rank's variables from whichever
launcher started it, then an exec of the runner on JOBDIR/ranks/<r>.

Python 3.8+ (VENV2's interpreter), standard library only. Over 500 lines: one process per role
(launch, rank) sharing the plan, so the launchers' quirks (torch 1.x, Open MPI, Grid Engine,
PBS) live beside the code that starts them.
"""
import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import time

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
RANKS_FILE = os.path.abspath(__file__)
RUNNER_FILE = os.path.join(RUNTIME_DIR, 'runner.py')
ENV_BIN = os.path.dirname(sys.executable)  # VENV2's bin folder: its tools come first
POLL_S = 0.05
STOP_GRACE_S = 10.0  # after SIGTERM to the ranks, SIGKILL
ROOT_MPI_VARS = ('OMPI_ALLOW_RUN_AS_ROOT', 'OMPI_ALLOW_RUN_AS_ROOT_CONFIRM')
# Variables naming a rank, per launcher: torchrun/ours, Open MPI, PMIx, MPICH, SLURM. SLURM's
# come last: mpirun inside an allocation inherits the batch step's SLURM_PROCID=0.
RANK_VARS = ('RANK', 'OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID')
LOCAL_VARS = ('LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'SLURM_LOCALID')


class RanksError(Exception):
    """The ranks cannot be started as asked: shown in the cell as a LaunchError."""


def shape(request):
    """{nodes, tasksPerNode, gpusPerNode, worldSize, launch} of a distributed request, else None.
    Tasks per node default to the GPUs per node, else 1."""
    request = request or {}
    keys = ('nodes', 'gpusPerNode', 'tasksPerNode', 'launch')
    if all(request.get(k) in (None, '') for k in keys):
        return None
    nodes = int(request.get('nodes') or 1)
    gpus = int(request.get('gpusPerNode') or 0)
    tasks = int(request.get('tasksPerNode') or gpus or 1)
    return {'nodes': nodes, 'tasksPerNode': tasks, 'gpusPerNode': gpus,
            'worldSize': nodes * tasks, 'launch': request.get('launch')}


def rank_dir(jobdir, rank):
    return os.path.join(jobdir, 'ranks', str(rank))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def launch_kind(plan, environ):
    """local (children of this process), srun, torchrun or mpirun."""
    kind = plan['launch']
    in_slurm = bool(environ.get('SLURM_JOB_ID'))
    if kind in (None, ''):
        kind = 'srun' if in_slurm else 'local'
    if kind == 'srun' and not in_slurm:
        raise RanksError('--launch srun needs a SLURM allocation, and this job runs outside one '
                         '(use a cluster with scheduler slurm, or leave --launch out)')
    if kind == 'local' and plan['nodes'] > 1:
        raise RanksError('--nodes %d needs a launcher that reaches other nodes (srun, torchrun '
                         'or mpirun inside an allocation)' % plan['nodes'])
    return kind


def host_file(environ, name):
    """The words of each line of the host file that $name names, else None (unset, unreadable)."""
    path = environ.get(name)
    if not path:
        return None
    try:
        with open(path) as f:
            return [line.split() for line in f]
    except OSError:
        return None


def grid_engine_hosts(environ):
    """{host: slots} of a Grid Engine parallel job (its PE_HOSTFILE), else None."""
    lines = host_file(environ, 'PE_HOSTFILE')
    if lines is None:
        return None
    hosts = {}
    for parts in lines:
        if len(parts) >= 2 and parts[1].isdigit():
            hosts[parts[0]] = hosts.get(parts[0], 0) + int(parts[1])
    return hosts


def check_grid_engine_hosts(kind, plan, environ):
    """Grid Engine places a parallel environment's slots by its allocation_rule, not by
    --nodes: fewer hosts than nodes (or local ranks over several hosts) is refused rather than
    run side by side on one host."""
    hosts = grid_engine_hosts(environ)
    if not hosts:
        return
    got = ', '.join('%s: %d slots' % (h, n) for h, n in sorted(hosts.items()))
    pe = environ.get('PE') or '?'
    if len(hosts) < plan['nodes']:
        raise RanksError('--nodes %d needs %d hosts, and Grid Engine gave this job %d (%s) from '
                         'parallel environment %s, whose allocation_rule placed them. Use a '
                         'parallel environment whose allocation_rule is the tasks per node (%d), '
                         'or --nodes 1.' % (plan['nodes'], plan['nodes'], len(hosts), got, pe,
                                            plan['tasksPerNode']))
    if kind == 'local' and len(hosts) > 1:
        raise RanksError('Grid Engine spread this job over %d hosts (%s) from parallel '
                         'environment %s, and ranks without --launch all run on this one. Use '
                         '--launch mpirun, or a parallel environment whose allocation_rule is '
                         '$pe_slots.' % (len(hosts), got, pe))


def pbs_hosts(environ):
    """{host: slots} of a PBS job, in $PBS_NODEFILE's order (one line per mpiprocs slot; the
    first host runs the job script), else None."""
    lines = host_file(environ, 'PBS_NODEFILE')
    if lines is None:
        return None
    hosts = {}
    for parts in lines:
        if parts:
            hosts[parts[0]] = hosts.get(parts[0], 0) + 1
    return hosts


def check_pbs_hosts(plan, environ):
    """PBS places the select line's chunks (one a node, place=scatter) as the site lets it: fewer
    hosts than --nodes is refused rather than run side by side on one host."""
    hosts = pbs_hosts(environ)
    if not hosts or len(hosts) >= plan['nodes']:
        return
    got = ', '.join('%s: %d slots' % (h, n) for h, n in hosts.items())
    raise RanksError('--nodes %d needs %d hosts, and PBS gave this job %d (%s) in $PBS_NODEFILE. '
                     'The job asked for %d chunks with place=scatter; a site or queue that '
                     'overrides the placement can pack them on one host. Ask for a queue that '
                     'scatters, or --nodes 1.' % (plan['nodes'], plan['nodes'], len(hosts), got,
                                                 plan['nodes']))


def master_host(environ, fallback):
    """MASTER_ADDR: ours if set, else PBS's first host (the name its other hosts know it by),
    else this host's name."""
    pbs = pbs_hosts(environ)
    return environ.get('CB_MASTER_ADDR') or (next(iter(pbs)) if pbs else None) or fallback


def find_tool(name, environ):
    """The tool in VENV2's bin folder first, then on PATH; a clear error names the env."""
    path = ENV_BIN + os.pathsep + environ.get('PATH', '')
    found = shutil.which(name, path=path)
    if found is None:
        raise RanksError('--launch %s: `%s` was not found in the cell\'s environment (%s) nor on '
                         'PATH. Add it to the environment (torchrun comes with the torch package; '
                         'mpirun with an MPI module in the cluster\'s setup lines).'
                         % (name, name, sys.prefix))
    return found


def torch_importable():
    return importlib.util.find_spec('torch') is not None


def torchrun_argv(environ):
    """torchrun as the cell's env has it: its own torchrun script, else `python -m
    torch.distributed.run` when it imports torch (a venv that sees the system's torch has no
    torchrun script), else a torchrun on PATH."""
    own = os.path.join(ENV_BIN, 'torchrun')
    if os.access(own, os.X_OK):
        return [own]
    if torch_importable():
        return [sys.executable, '-m', 'torch.distributed.run']
    return [find_tool('torchrun', environ)]


def check_mpirun_user(mpirun, environ):
    """Open MPI refuses root unless two variables allow it, with a banner for an error: say so
    first, and how to allow it, rather than pass --allow-run-as-root behind the user's back."""
    allowed = all(environ.get(v) == '1' for v in ROOT_MPI_VARS)
    open_mpi = os.path.exists(os.path.join(os.path.dirname(mpirun), 'ompi_info'))
    if os.geteuid() == 0 and open_mpi and not allowed:
        raise RanksError('--launch mpirun: Open MPI refuses to run as root, and this job runs as '
                         'root. Run jobs as another user, or allow it in the env\'s setup lines: '
                         'export %s' % ' '.join('%s=1' % v for v in ROOT_MPI_VARS))


def command(kind, plan, jobdir, master, environ):
    """argv of the one launcher process (None for local ranks, which this process starts)."""
    n, t, w = plan['nodes'], plan['tasksPerNode'], plan['worldSize']
    rank_argv = [sys.executable, '-u', RANKS_FILE, 'rank', jobdir]
    # -K: a rank that fails ends the step; -X: one SIGINT reaches the ranks (no status prompt).
    srun = ['srun', '--nodes=%d' % n, '--kill-on-bad-exit=1', '--disable-status']
    if kind == 'local':
        return None
    if kind == 'srun':
        find_tool('srun', environ)
        return srun + ['--ntasks=%d' % w, '--ntasks-per-node=%d' % t] + rank_argv
    if kind == 'torchrun':
        # Underscored flags: torch before 2.0 knows no dashed ones. --no_python with our own
        # interpreter: a torchrun of another Python (PATH, a module) still runs VENV2's ranks.
        rdzv = ['--nnodes=%d' % n, '--nproc_per_node=%d' % t, '--rdzv_backend=c10d',
                '--rdzv_endpoint=%s:%d' % master, '--rdzv_id=%s' % os.path.basename(jobdir),
                # Redirect settings other than the default 0: torch 1.x on Python 3.11+ cannot
                # parse 0 (IntFlag no longer iterates it). stderr teed: it reaches launcher.err.
                '--redirects=2', '--tee=2',
                '--log_dir=%s' % os.path.join(jobdir, 'ranks', 'torchrun'),
                '--no_python']
        tail = torchrun_argv(environ) + rdzv + rank_argv
        if environ.get('SLURM_JOB_ID'):
            find_tool('srun', environ)
            return srun + ['--ntasks=%d' % n, '--ntasks-per-node=1'] + tail
        if n > 1 and environ.get('PBS_NODEFILE'):
            # One torchrun a node through mpirun: pbsdsh passes no environment to its tasks,
            # exits 0 whatever they return, and starts one task per mpiprocs slot.
            return mpirun_argv(n, 1, environ) + tail
        if n > 1:
            raise RanksError('--launch torchrun with --nodes %d needs a SLURM or PBS allocation'
                             % n)
        return tail
    if kind == 'mpirun':
        return mpirun_argv(w, t, environ) + rank_argv
    raise RanksError('unknown --launch %r' % kind)


def mpirun_argv(np, per_node, environ):
    """mpirun starting np processes, per_node on each node. On PBS the hosts come from
    $PBS_NODEFILE: an Open MPI built with tm launches through PBS anyway (the file only repeats
    the allocation), one without tm launches over ssh, which forwards only the variables named
    by -x."""
    # Open MPI takes its install prefix from the path it was started by: /bin/mpirun
    # (first on Grid Engine's PATH, /bin -> /usr/bin) gives "/", which it refuses.
    mpirun = os.path.realpath(find_tool('mpirun', environ))
    check_mpirun_user(mpirun, environ)
    argv = [mpirun, '-np', str(np), '--map-by', 'ppr:%d:node' % per_node]
    if environ.get('PBS_NODEFILE'):
        argv += ['--hostfile', environ['PBS_NODEFILE'], '-x', 'CB_MASTER_ADDR',
                 '-x', 'CB_MASTER_PORT']
    return argv


def first_var(environ, names):
    for name in names:
        value = environ.get(name)
        if value not in (None, ''):
            return int(value)
    return None


def rank_environment(environ, plan, node_devices=None):
    """The rank's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
    MASTER_PORT, CUDA_VISIBLE_DEVICES) from whichever launcher started it."""
    rank = first_var(environ, RANK_VARS)
    if rank is None:
        raise RanksError('no rank variable (%s) is set' % ', '.join(RANK_VARS))
    local = first_var(environ, LOCAL_VARS)
    t = plan['tasksPerNode']
    if local is None:
        local = rank % t
    env = {'RANK': str(rank), 'LOCAL_RANK': str(local), 'WORLD_SIZE': str(plan['worldSize']),
           'LOCAL_WORLD_SIZE': str(t), 'NODE_RANK': str(rank // t)}
    for name, ours in (('MASTER_ADDR', 'CB_MASTER_ADDR'), ('MASTER_PORT', 'CB_MASTER_PORT')):
        env[name] = environ.get(name) or environ.get(ours) or ''
    if plan['gpusPerNode'] > 0 and not environ.get('TORCHELASTIC_RUN_ID'):
        # torchrun's ranks keep every GPU of the node (they pick theirs by LOCAL_RANK).
        devices = node_devices if node_devices is not None else \
            [d for d in (environ.get('CUDA_VISIBLE_DEVICES') or '').split(',') if d != '']
        if not devices:
            devices = [str(i) for i in range(plan['gpusPerNode'])]
        env['CUDA_VISIBLE_DEVICES'] = ','.join(own_devices(devices, local, t))
    return env


def own_devices(devices, local, tasks):
    """This local rank's share of the node's GPUs (shared round-robin when ranks outnumber
    them)."""
    if tasks <= len(devices):
        per = len(devices) // tasks
        return devices[local * per:(local + 1) * per]
    return [devices[local % len(devices)]]


def run_rank(jobdir):
    """`rank JOBDIR`: one rank; execs the runner on its own folder."""
    from _cb_events import EventLog
    from _cb_jobfiles import hostname, read_json
    bundle = read_json(os.path.join(jobdir, 'bundle.json')) or {}
    plan = shape(bundle.get('request'))
    env = rank_environment(os.environ, plan)
    os.environ.update(env)
    rank = int(env['RANK'])
    folder = rank_dir(jobdir, rank)
    EventLog(folder).write([{'type': 'rank-start', 'rank': rank, 'localRank': int(env['LOCAL_RANK']),
                             'node': hostname(), 'pid': os.getpid(),
                             'cudaVisibleDevices': env.get('CUDA_VISIBLE_DEVICES')}])
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, '-u', RUNNER_FILE, folder])


class RankLog:
    """One rank's events.jsonl, read as it grows (whole lines only)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.rest = b''

    def read(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b'\n') + 1
        self.rest = data[cut:]
        events = []
        for line in data[:cut].split(b'\n'):
            if line.strip():
                try:
                    events.append(json.loads(line.decode('utf-8')))
                except ValueError:
                    pass
        return events


class Merger:
    """Copies the ranks' events into the job's log and keeps what the end needs."""

    def __init__(self, log, jobdir, world):
        self.log = log
        self.logs = [RankLog(os.path.join(rank_dir(jobdir, r), 'events.jsonl'))
                     for r in range(world)]
        self.started = {}  # rank -> its rank-start event
        self.errors = {}  # rank -> its first error event
        self.gpu = {}  # rank -> its gpu event
        self.failed = None  # the first rank that raised

    def poll(self):
        out = []
        for r, rank_log in enumerate(self.logs):
            for event in rank_log.read():
                kind = event.get('type')
                event.pop('seq', None)
                if kind == 'rank-start':
                    self.started[r] = event
                elif kind == 'error' and r not in self.errors:
                    self.errors[r] = event
                    if self.failed is None:
                        self.failed = r
                elif kind == 'gpu':
                    self.gpu[r] = event
                    continue  # one card for the whole job, at the end
                if r == 0 and kind != 'rank-start':
                    event.pop('t', None)
                    out.append(event)
                else:
                    out.append({'type': 'rank', 'rank': r, 'event': event})
        if out:
            self.log.write(out)
        return bool(out)

    def gpu_event(self):
        """Rank 0's GPU facts (or the first rank's) plus every node's GPUs."""
        if not self.gpu:
            return None
        nodes = {}
        for r in sorted(self.gpu):
            g = self.gpu[r]
            host = g.get('host') or (self.started.get(r) or {}).get('node') or '?'
            entry = nodes.setdefault(host, {'host': host, 'ranks': [], 'devices': [],
                                            'cudaVisibleDevices': []})
            entry['ranks'].append(r)
            cvd = g.get('cudaVisibleDevices')
            if cvd not in (None, '') and cvd not in entry['cudaVisibleDevices']:
                entry['cudaVisibleDevices'].append(cvd)
            seen = {(d.get('uuid'), d.get('index')) for d in entry['devices']}
            for d in g.get('devices') or []:
                if (d.get('uuid'), d.get('index')) not in seen:
                    entry['devices'].append(d)
        first = dict(self.gpu.get(0) or self.gpu[min(self.gpu)])
        first.pop('t', None)
        for entry in nodes.values():
            entry['cudaVisibleDevices'] = ','.join(entry['cudaVisibleDevices'])
        first['nodes'] = list(nodes.values())
        return first


def run_launch(jobdir):
    """`launch JOBDIR`: starts the ranks, merges their logs; the exit status is the cell's."""
    from _cb_events import EventLog, notify_fd_from_environ
    from _cb_jobfiles import hostname, read_json
    jobdir = os.path.abspath(jobdir)
    log = EventLog(jobdir, notify_fd_from_environ())
    bundle = read_json(os.path.join(jobdir, 'bundle.json')) or {}
    plan = shape(bundle.get('request'))
    state = {'stopping': None}

    def on_signal(signum, frame):
        # The group got it too (local ranks, srun -X forwards SIGINT to every rank on every
        # node): note it, keep merging until the ranks are gone.
        state['stopping'] = state['stopping'] or signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        kind = launch_kind(plan, os.environ)
        check_grid_engine_hosts(kind, plan, os.environ)
        check_pbs_hosts(plan, os.environ)
        master = (master_host(os.environ, hostname()), free_port())
        argv = command(kind, plan, jobdir, master, os.environ)
    except RanksError as e:
        log.write([{'type': 'error', 'ename': 'LaunchError', 'evalue': str(e),
                    'traceback': ['LaunchError: %s' % e]}])
        return 2
    world = plan['worldSize']
    for r in range(world):
        os.makedirs(rank_dir(jobdir, r), mode=0o700, exist_ok=True)
        shutil.copyfile(os.path.join(jobdir, 'bundle.json'),
                        os.path.join(rank_dir(jobdir, r), 'bundle.json'))
    env = dict(os.environ)
    env['CB_MASTER_ADDR'], env['CB_MASTER_PORT'] = master[0], str(master[1])
    env.pop('CB_NOTIFY_FD', None)
    log.write([{'type': 'ranks', 'worldSize': world, 'nodes': plan['nodes'],
                'tasksPerNode': plan['tasksPerNode'], 'gpusPerNode': plan['gpusPerNode'],
                'launch': kind, 'masterAddr': master[0], 'masterPort': master[1]}])
    merger = Merger(log, jobdir, world)
    err_path = os.path.join(jobdir, 'ranks', 'launcher.err')
    procs = start(argv, plan, env, err_path, jobdir)
    codes = supervise(procs, merger, state)
    merger.poll()
    return finish(log, merger, codes, state, world, err_path)


def start(argv, plan, env, err_path, jobdir):
    """{key: pid}: one launcher process, or one child per local rank."""
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    procs = {}
    try:
        runs = [(None, argv)] if argv is not None else \
            [(r, [sys.executable, '-u', RANKS_FILE, 'rank', jobdir])
             for r in range(plan['worldSize'])]
        for r, args in runs:
            child_env = dict(env)
            if r is not None:
                child_env.update({'RANK': str(r), 'LOCAL_RANK': str(r),
                                  'MASTER_ADDR': env['CB_MASTER_ADDR'],
                                  'MASTER_PORT': env['CB_MASTER_PORT']})
            pid = os.fork()
            if pid == 0:
                try:
                    # Ranks capture their own fds 1/2; nothing may reach the agent's stdout.
                    os.dup2(err, 1)
                    os.dup2(err, 2)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    os.execvpe(args[0], args, child_env)
                finally:
                    os._exit(127)
            procs[r if r is not None else 'launcher'] = pid
    finally:
        os.close(err)
    return procs


def supervise(procs, merger, state):
    """Merges while the ranks run; the first failure stops the rest. Returns {key: code}."""
    codes = {}
    stop_sent = None
    while len(codes) < len(procs):
        progressed = merger.poll()
        for key, pid in procs.items():
            if key in codes:
                continue
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                codes[key] = os.waitstatus_to_exitcode(status) if hasattr(
                    os, 'waitstatus_to_exitcode') else (status >> 8 if status & 0x7f == 0
                                                        else -(status & 0x7f))
        failed = merger.failed is not None or any(c != 0 for c in codes.values())
        if (failed or state['stopping']) and stop_sent is None and len(codes) < len(procs):
            stop_sent = time.monotonic()
            if failed and not state['stopping']:
                signal_all(procs, codes, signal.SIGTERM)
        elif stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE_S:
            signal_all(procs, codes, signal.SIGKILL)
            stop_sent = float('inf')
        if not progressed:
            time.sleep(POLL_S)
    return codes


def signal_all(procs, codes, signum):
    for key, pid in procs.items():
        if key not in codes:
            try:
                os.kill(pid, signum)
            except OSError:
                pass


def finish(log, merger, codes, state, world, err_path):
    """Per-rank ends, the failing rank's traceback inline, the GPU card; the exit status."""
    cancelled = state['stopping'] is not None
    failed = None if cancelled else merger.failed
    if failed is None and not cancelled and any(c != 0 for c in codes.values()):
        failed = next((r for r, c in sorted((k, c) for k, c in codes.items()
                                            if isinstance(k, int)) if c != 0), None)
    ends = []
    for r in range(world):
        if cancelled:
            end = 'cancelled'
        elif r in merger.errors and r == failed:
            end = 'error'
        elif failed is not None:
            end = 'error' if r in merger.errors else 'cancelled'
        else:
            code = codes.get(r, codes.get('launcher', 0))
            end = 'done' if code == 0 and r in merger.started else 'error'
        rank_end = {'type': 'rank-end', 'state': end}
        if r == failed:
            rank_end['failed'] = True
        ends.append({'type': 'rank', 'rank': r, 'event': rank_end})
    log.write(ends)
    extra = []
    if failed is not None:
        node = (merger.started.get(failed) or {}).get('node') or '?'
        error = merger.errors.get(failed)
        if failed != 0 and error is not None:
            extra.append({'type': 'error', 'ename': error.get('ename') or 'Error',
                          'evalue': error.get('evalue') or '',
                          'traceback': ['Rank %d of %d (on %s) failed:' % (failed, world, node)]
                          + list(error.get('traceback') or [])})
        extra.append({'type': 'notice', 'text': 'Rank %d of %d (on %s) failed; the other ranks '
                      'were stopped.' % (failed, world, node)})
    launcher_code = codes.get('launcher', 0)
    if not merger.started and not cancelled:
        text = tail(err_path) or 'the launcher exited with status %s' % launcher_code
        extra.append({'type': 'error', 'ename': 'LaunchError',
                      'evalue': 'no rank started: %s' % summary_line(text),
                      'traceback': ['LaunchError: no rank started. The launcher said:', text]})
    gpu = merger.gpu_event()
    if gpu is not None:
        extra.append(gpu)
    if extra:
        log.write(extra)
    if cancelled:
        return 130
    if failed is not None or not merger.started or launcher_code != 0:
        return 1
    return 0


def summary_line(text):
    """The last line that says something (Open MPI ends its messages with a rule of dashes)."""
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in reversed(lines) if any(c.isalnum() for c in line)),
                lines[-1] if lines else '')


def tail(path, limit=4000):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return ''
    return data[-limit:].decode('utf-8', 'replace').strip()


def main(argv):
    if len(argv) != 3 or argv[1] not in ('launch', 'rank'):
        sys.stderr.write('usage: _cb_ranks.py launch|rank JOBDIR\n')
        return 2
    if argv[1] == 'launch':
        return run_launch(argv[2])
    try:
        run_rank(os.path.abspath(argv[2]))
    except RanksError as e:
        sys.stderr.write('cluster-bridge rank: %s\n' % e)
        return 2
    return 127


if __name__ == '__main__':
    sys.path[0] = RUNTIME_DIR
    sys.exit(main(sys.argv))
