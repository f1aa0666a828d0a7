"""`run`, the job itself (on the compute node, or detached by `launch`/`go`): ensures VENV2,
starts the runner in its own process group (a fork of this interpreter on the warm path, else an
exec of VENV2's python), forwards signals to it, then records the end in status.json and the
`done` event.

Python 3.6+, standard library only; the warm path (env ready) imports nothing beyond this
module's imports below.
"""
import os
import sys
import time

from _cb_envs import MIN_RUNNER_PYTHON, Env, EnvBuildError, EnvCancelled, with_setup
from _cb_events import EventLog
from _cb_jobfiles import hostname, read_json, update_status, work_dir_for
from _cb_proc import RUNNER_FILE, fork_runner, reap_group, spawn

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

SIGUSR2 = getattr(signal, 'SIGUSR2', None)
HEARTBEAT_S = 30.0  # status.json's mtime while the job runs (bridge: NODE_SILENT_S)  # Grid Engine's -notify; treated as SIGTERM
LIMIT_KEYS = ('gpus', 'cpus', 'mem', 'time')  # what _cb_limits enforces on a direct host
DISTRIBUTED_KEYS = ('nodes', 'gpusPerNode', 'tasksPerNode', 'launch')  # see _cb_ranks.shape
RANKS_FILE = os.path.join(os.path.dirname(RUNNER_FILE), '_cb_ranks.py')
TIME_LIMIT_STEPS = ((signal.SIGINT, 5.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, None))


def run_job(jobdir, notify_fd=None, enforce_limits=False):
    """Ensures VENV2, runs the runner, writes `done` and status.json. Returns the exit status.
    enforce_limits: no scheduler does (a direct host), so the request's --gpus/--cpus/--mem/
    --time are applied here (_cb_limits)."""
    jobdir = os.path.abspath(jobdir)
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    log = EventLog(jobdir, notify_fd)
    node = hostname()
    started = time.time()
    state = {'cancelled': False, 'runner': None, 'venv2': None, 'signal': None,
             'timed_out': False, 'step': 0}

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
        elif state['venv2'] is not None:
            state['venv2'].kill_current(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if SIGUSR2 is not None:
        signal.signal(SIGUSR2, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The warm path: VENV2 is ready and this agent runs on its interpreter, so the runner is
    # forked first thing and loads itself while this process does its bookkeeping; it starts
    # the cell when released (two cores do in parallel what was serial).
    early = venv2 = limits = limit_error = setup = None
    forkable = distributed = False
    if bundle is not None:
        work_dir = work_dir_for(jobdir, bundle=bundle)
        venv2 = Env(work_dir, bundle.get('env'), log, bundle.get('envHash'),
                    cancelled=lambda: state['cancelled'])
        env, pass_fds = runner_env(jobdir, bundle, notify_fd)
        request = bundle.get('request') or {}
        if enforce_limits and any(request.get(k) not in (None, '') for k in LIMIT_KEYS):
            limits, limit_error = take_limits(request, work_dir)
            if limits is not None:
                env.update(limits.env)
                setup = limits.apply
        # A distributed cell's ranks are started by _cb_ranks, never a forked runner.
        distributed = any(request.get(k) not in (None, '') for k in DISTRIBUTED_KEYS)
        forkable = limit_error is None and can_fork_runner(venv2.spec, bundle) and \
            not (limits is not None and limits.needs_exec) and not distributed
        if forkable:
            ready = venv2.ready()
            if ready and same_interpreter(ready):
                try:
                    early = state['runner'] = fork_runner(jobdir, env, hold=True, setup=setup)
                except OSError:
                    pass  # no held runner: it is forked (or started) after the bookkeeping
    update_status(jobdir, state='preparing', pid=os.getpid(), pgid=os.getpgrp(), node=node,
                  startedAt=started)
    # From the start, not from the runner's: an env build takes minutes, and a node that dies
    # during it must fall silent too.
    start_heartbeat(jobdir)

    def finish(end_state, exit_code, reason=None, runner_started=None):
        if limits is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            limits.release()
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
        log.write([done])
        return exit_code if exit_code is not None else 1

    if bundle is None:
        log.write([{'type': 'error', 'ename': 'BundleError', 'evalue': 'bundle.json is missing or not JSON',
                    'traceback': ['bundle.json is missing or not JSON in %s' % jobdir]}])
        return finish('failed', 2, 'bad bundle')
    if limit_error is not None:
        log.write([{'type': 'error', 'ename': 'ResourceUnavailable', 'evalue': limit_error,
                    'traceback': ['ResourceUnavailable: %s' % limit_error]}])
        return finish('rejected', None, limit_error)

    state['venv2'] = venv2
    log.write([{'type': 'status', 'phase': 'preparing', 'node': node,
                'message': 'preparing the environment'}])
    try:
        info = venv2.ensure()
    except EnvCancelled:
        return finish('cancelled', None, 'cancelled while building the environment')
    except EnvBuildError as e:
        if state['cancelled']:
            return finish('cancelled', None, 'cancelled while building the environment')
        log.write([{'type': 'error', 'ename': 'EnvironmentBuildError', 'evalue': str(e),
                    'traceback': ['Building environment %s failed: %s' % (venv2.hash, e), '']
                    + list(e.output_tail)}])
        return finish('failed', e.exit_code if e.exit_code is not None else 1,
                      'environment build failed')
    except Exception as e:
        import traceback
        log.write([{'type': 'error', 'ename': type(e).__name__, 'evalue': str(e),
                    'traceback': traceback.format_exc().splitlines()}])
        return finish('failed', 1, 'environment build failed')
    state['venv2'] = None
    if state['cancelled']:
        return finish('cancelled', None, 'cancelled before the cell started')

    runner_started = time.time()
    # `python` tells the bridge which interpreter can run `go` for the warm fork path.
    log.write([{'type': 'status', 'phase': 'running', 'node': node, 'python': info['python']}])
    if limits is not None and limits.notices:
        log.write([{'type': 'notice', 'text': text} for text in limits.notices])
    in_process = early is not None or (forkable and same_interpreter(info))
    try:
        if early is not None:
            runner = early
        elif in_process:
            runner = fork_runner(jobdir, env, setup=setup)
        else:
            entry = [RANKS_FILE, 'launch'] if distributed else [RUNNER_FILE]
            argv = with_setup(venv2.spec['setup'], [info['python'], '-u'] + entry + [jobdir])
            if limits is not None:
                argv = limits.wrap(argv)
            runner = spawn(argv, env, jobdir, pass_fds, setup=setup)
    except OSError as e:
        log.write([{'type': 'error', 'ename': 'RunnerError', 'evalue': str(e),
                    'traceback': ['Could not start the runner %s: %s' % (info['python'], e)]}])
        return finish('failed', 1, 'runner did not start')
    state['runner'] = runner
    update_status(jobdir, state='running', runnerPid=runner.pid, runnerPgid=runner.pid,
                  runnerStartedAt=runner_started, runnerMode='fork' if in_process else 'exec',
                  runnerHeld=early is not None,
                  **({'limits': limits.describe()} if limits is not None else {}))
    if limits is not None and limits.time_limit is not None:
        start_time_limit(state, limits.time_limit)
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
    if state['timed_out']:
        end_state = 'timeout'
        reason = 'time limit %s reached' % limits.time_text
        log.resync()
        log.write([{'type': 'notice', 'text': 'The cell ran into its time limit (--time %s) and '
                    'was stopped.' % limits.time_text}])
    elif state['cancelled']:
        end_state = 'cancelled'
    elif code == 0:
        end_state = 'completed'
    elif limits is not None and limits.mem_bytes is not None and \
            memory_overrun(jobdir, code, limits):
        end_state = 'out_of_memory'
        reason = 'memory limit %s reached' % limits.mem_text
    else:
        end_state = 'failed'
    return finish(end_state, exit_code, reason, runner_started)


def heartbeat_seconds():
    try:
        return max(0.05, float(os.environ.get('CB_HEARTBEAT_S') or HEARTBEAT_S))
    except ValueError:
        return HEARTBEAT_S


def start_heartbeat(jobdir):
    """Touches status.json while the job lives (env build included): from another login node
    the job's pids mean nothing, so its mtime is how the bridge tells a silent job from a dead
    node."""
    import _thread
    path = os.path.join(jobdir, 'status.json')
    every = heartbeat_seconds()

    def beat():
        while True:
            time.sleep(every)
            try:
                os.utime(path, None)
            except OSError:
                pass

    _thread.start_new_thread(beat, ())


def take_limits(request, work_dir):
    """(Limits, None), or (None, why) when the host cannot give what the cell asks for."""
    import _cb_limits
    try:
        return _cb_limits.prepare_limits(request, work_dir), None
    except _cb_limits.LimitError as e:
        return None, str(e)


def start_time_limit(state, seconds):
    """At the limit the runner's group gets SIGINT (KeyboardInterrupt in the cell), then
    SIGTERM and SIGKILL if it is still there: SIGALRM steps through TIME_LIMIT_STEPS."""

    def on_alarm(signum, frame):
        runner = state['runner']
        if runner is None or runner.returncode is not None:
            return
        sig, wait = TIME_LIMIT_STEPS[min(state['step'], len(TIME_LIMIT_STEPS) - 1)]
        state['step'] += 1
        state['timed_out'] = True
        try:
            os.killpg(runner.pid, sig)
        except OSError:
            pass
        if wait is not None:
            signal.setitimer(signal.ITIMER_REAL, wait)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def memory_overrun(jobdir, code, limits):
    """Whether a failed runner hit the memory limit: killed by the cgroup's OOM killer, or its
    last error is a MemoryError."""
    if code == -signal.SIGKILL:
        return limits.mem_method == 'cgroup'
    try:
        with open(os.path.join(jobdir, 'events.jsonl'), 'rb') as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read()
    except OSError:
        return False
    errors = [line for line in tail.split(b'\n') if b'"type":"error"' in line]
    return bool(errors) and b'"ename":"MemoryError"' in errors[-1]


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


def same_interpreter(info):
    """True when this agent already runs on VENV2's interpreter (the bridge's warm fast path:
    `<venv2>/bin/python -u agent.py go`), so the runner can be forked instead of started."""
    if sys.version_info < MIN_RUNNER_PYTHON:
        return False
    try:
        return os.path.realpath(sys.prefix) == os.path.realpath(info.get('prefix') or '/nonexistent')
    except (OSError, ValueError):
        return False
