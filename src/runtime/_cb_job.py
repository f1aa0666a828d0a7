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

SIGUSR2 = getattr(signal, 'SIGUSR2', None)  # Grid Engine's -notify; treated as SIGTERM


def run_job(jobdir, notify_fd=None):
    """Ensures VENV2, runs the runner, writes `done` and status.json. Returns the exit status."""
    jobdir = os.path.abspath(jobdir)
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    log = EventLog(jobdir, notify_fd)
    node = hostname()
    started = time.time()
    state = {'cancelled': False, 'runner': None, 'venv2': None, 'signal': None}

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
    early = venv2 = None
    forkable = False
    if bundle is not None:
        work_dir = work_dir_for(jobdir, bundle=bundle)
        venv2 = Env(work_dir, bundle.get('env'), log, bundle.get('envHash'),
                    cancelled=lambda: state['cancelled'])
        env, pass_fds = runner_env(jobdir, bundle, notify_fd)
        forkable = can_fork_runner(venv2.spec, bundle)
        if forkable:
            ready = venv2.ready()
            if ready and same_interpreter(ready):
                try:
                    early = state['runner'] = fork_runner(jobdir, env, hold=True)
                except OSError:
                    pass  # no held runner: it is forked (or started) after the bookkeeping
    update_status(jobdir, state='preparing', pid=os.getpid(), pgid=os.getpgrp(), node=node,
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
        log.write([done])
        return exit_code if exit_code is not None else 1

    if bundle is None:
        log.write([{'type': 'error', 'ename': 'BundleError', 'evalue': 'bundle.json is missing or not JSON',
                    'traceback': ['bundle.json is missing or not JSON in %s' % jobdir]}])
        return finish('failed', 2, 'bad bundle')

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
    in_process = early is not None or (forkable and same_interpreter(info))
    try:
        if early is not None:
            runner = early
        elif in_process:
            runner = fork_runner(jobdir, env)
        else:
            argv = [info['python'], '-u', RUNNER_FILE, jobdir]
            runner = spawn(with_setup(venv2.spec['setup'], argv), env, jobdir, pass_fds)
    except OSError as e:
        log.write([{'type': 'error', 'ename': 'RunnerError', 'evalue': str(e),
                    'traceback': ['Could not start the runner %s: %s' % (info['python'], e)]}])
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


def same_interpreter(info):
    """True when this agent already runs on VENV2's interpreter (the bridge's warm fast path:
    `<venv2>/bin/python -u agent.py go`), so the runner can be forked instead of started."""
    if sys.version_info < MIN_RUNNER_PYTHON:
        return False
    try:
        return os.path.realpath(sys.prefix) == os.path.realpath(info.get('prefix') or '/nonexistent')
    except (OSError, ValueError):
        return False
