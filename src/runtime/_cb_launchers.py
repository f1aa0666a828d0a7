"""How a distributed cell's ranks are launched, decided before any starts: the plan
(`shape`), the launcher (local, srun, torchrun, mpirun) and its argv, the refusals of what the
allocation cannot honour (Grid Engine's PE_HOSTFILE, PBS's $PBS_NODEFILE, srun outside SLURM,
a missing tool, Open MPI as root), the master's host, and one rank's variables from whichever
launcher started it. `_cb_ranks.py` starts and supervises the ranks with it.

Python 3.8+ (VENV2's interpreter), standard library only.
"""
import importlib.util
import os
import shutil
import socket
import sys

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
RANKS_FILE = os.path.join(RUNTIME_DIR, '_cb_ranks.py')  # each rank's entry, whatever launches it
ENV_BIN = os.path.dirname(sys.executable)  # VENV2's bin folder: its tools come first
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
