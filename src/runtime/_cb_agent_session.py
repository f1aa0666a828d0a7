"""The agent's session commands (VENV1 side): session-prepare, session-start, session-run,
session-info, session-stop. The session itself (VENV2, one lasting __main__, the TCP server) is
_cb_session.py; this module only makes its folder, starts it in VENV2 and reports on it.

Layout: <workDir>/sessions/<sid>/ (0700) with spec.json, token (0600), events.jsonl (env events,
then `ready` or `ended`), endpoint.json, status.json. Python 3.6+, standard library only.
"""
import os
import sys
import time

import _cb_json as json
from _cb_events import EventLog, write_all
from _cb_jobfiles import hostname, read_json, update_status, work_dir_for, write_json_atomic
from _cb_proc import RUNTIME_DIR, group_alive, pid_alive

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

STOP_MARK = 'stop-requested'  # written by session-stop before its SIGTERM: "stopped", not killed
# Runs _cb_session in VENV2's python: argv[1] is this folder, argv[2] the session dir.
SESSION_BOOT = ('import sys; sys.dont_write_bytecode = False; sys.path.insert(0, sys.argv[1]); '
                'import _cb_session; sys.exit(_cb_session.main(sys.argv[2:]))')


class SessionError(Exception):
    """A clear one-line message for the caller (the agent prints it and exits 2)."""


def command(cmd, sessiondir, opts, launch, follow, print_json):
    """One session command of the agent's command line (launch, follow and print_json are the
    agent's own). Returns the exit status."""
    if cmd == 'session-prepare':
        prepare_session(sessiondir, read_spec(_read_stdin()))
        print_json({'ok': True})
        return 0
    if cmd == 'session-start':
        prepare_session(sessiondir, read_spec(_read_stdin()))
        # A direct host: no scheduler enforces the session's resources, so session-run does.
        launch(sessiondir, body=lambda d: run_session(d, enforce_limits=True))
        return follow(sessiondir, 0, find_end=find_start_end)
    if cmd == 'session-run':
        return run_session(sessiondir)
    if cmd == 'session-info':
        print_json(session_info(sessiondir))
        return 0
    if cmd == 'session-stop':
        print_json(stop_session(sessiondir, opts['grace']))
        return 0
    raise SessionError('unknown command %r' % cmd)


# ---------------------------------------------------------------------------------------------
# session-prepare / session-start


def read_spec(data):
    try:
        spec = json.loads(data.decode('utf-8'))
    except ValueError as e:
        raise SessionError('session spec on stdin is not valid JSON: %s' % e)
    if not isinstance(spec, dict):
        raise SessionError('session spec must be a JSON object')
    return spec


def prepare_session(sessiondir, spec):
    """SESSIONDIR (0700), spec.json and a fresh token (0600). A folder that held a session
    before is refused: its log's byte offsets may still be followed."""
    sid = spec.get('sessionId')
    if not isinstance(sid, str) or not sid or not _valid_sid(sid):
        raise SessionError('sessionId must be letters, digits, "_" or "-" (got %r)' % (sid,))
    if os.path.basename(sessiondir) != sid:
        raise SessionError('sessionId %s does not match the session directory %s' % (sid, sessiondir))
    for key, kind in (('idleTimeout', (int, float)), ('timeLimit', (int, float)),
                      ('warnBefore', (int, float))):
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value < 0):
            raise SessionError('%s must be a number of seconds >= 0 (got %r)' % (key, value))
    if spec.get('bind', '127.0.0.1') not in ('127.0.0.1', '0.0.0.0'):
        raise SessionError('bind must be "127.0.0.1" or "0.0.0.0" (got %r)' % (spec.get('bind'),))
    os.makedirs(os.path.dirname(sessiondir), 0o700, exist_ok=True)
    try:
        os.mkdir(sessiondir, 0o700)
    except FileExistsError:
        if os.path.exists(os.path.join(sessiondir, 'token')):
            raise SessionError('session directory %s is already in use: start the session under '
                               'a new id' % sessiondir)
    os.chmod(sessiondir, 0o700)
    write_json_atomic(os.path.join(sessiondir, 'spec.json'), spec)
    fd = os.open(os.path.join(sessiondir, 'token'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        write_all(fd, _hex(os.urandom(32)).encode('ascii'))
    finally:
        os.close(fd)
    os.close(os.open(os.path.join(sessiondir, 'events.jsonl'), os.O_WRONLY | os.O_CREAT, 0o600))
    update_status(sessiondir, state='starting')


def find_start_end(chunk):
    """End offset of the first `ready` or `ended` line in chunk, or None (follow's end finder)."""
    return _end_of_first(chunk, ('ready', 'ended'))


# ---------------------------------------------------------------------------------------------
# session-run: VENV2, then the session in it


def run_session(sessiondir, enforce_limits=False):
    """The session's process: ensures VENV2 (env events in the session log, the env lock), then
    becomes the session (in this interpreter when it is VENV2's, else an exec of VENV2's python:
    the same pid, which status.json and endpoint.json name). Returns an exit status only when
    it fails before `ready`."""
    from _cb_envs import Env, EnvBuildError, EnvCancelled, with_setup
    from _cb_job import LIMIT_KEYS, can_fork_runner, same_interpreter
    sessiondir = os.path.abspath(sessiondir)
    spec = read_json(os.path.join(sessiondir, 'spec.json'))
    log = EventLog(sessiondir)
    if os.getpgrp() != os.getpid():
        try:
            os.setpgid(0, 0)  # a batch job's body: stop ends this group, not the job's shell
        except OSError:
            pass
    update_status(sessiondir, state='starting', pid=os.getpid(), pgid=os.getpgrp(),
                  node=hostname(), startedAt=time.time())
    if not isinstance(spec, dict):
        return _fail(sessiondir, log, 'spec.json is missing or not JSON')
    stopping = {'signal': None, 'env': None}

    def on_signal(signum, frame):
        stopping['signal'] = signum
        if stopping['env'] is not None:
            stopping['env'].kill_current(signal.SIGTERM)

    for name in ('SIGINT', 'SIGTERM', 'SIGUSR2'):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    work_dir = work_dir_for(explicit=spec.get('workDir') or _work_dir_above(sessiondir))
    env = stopping['env'] = Env(work_dir, spec.get('env'), log, spec.get('envHash'),
                                cancelled=lambda: stopping['signal'] is not None)
    try:
        info = env.ensure()
    except EnvCancelled:
        info = None
    except EnvBuildError as e:
        if stopping['signal'] is None:
            for line in e.output_tail:
                log.write([{'type': 'env', 'text': line + '\n'}])
            return _fail(sessiondir, log, 'environment build failed: %s' % e)
        info = None
    except Exception as e:
        return _fail(sessiondir, log, 'environment build failed: %s' % e)
    if stopping['signal'] is not None or info is None:
        return _fail(sessiondir, log, _stop_reason(sessiondir, 'while building the environment'))
    for name in ('SIGINT', 'SIGTERM', 'SIGUSR2'):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    _session_environ(os.environ, sessiondir, spec)
    limits = None
    request = spec.get('request') or {}
    if enforce_limits and any(request.get(k) not in (None, '') for k in LIMIT_KEYS):
        import _cb_limits
        try:
            limits = _cb_limits.limit_this_process(request, work_dir, log)
        except _cb_limits.LimitError as e:
            return _fail(sessiondir, log, str(e))
    if can_fork_runner(env.spec, spec) and same_interpreter(info) and \
            not (limits is not None and limits.needs_exec):
        import _cb_session  # the session takes this folder off sys.path (the cells' view)
        return _cb_session.main([sessiondir])
    argv = with_setup(env.spec['setup'], [info['python'], '-u', '-c', SESSION_BOOT, RUNTIME_DIR,
                                          sessiondir])
    if limits is not None:
        argv = limits.wrap(argv)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)
    except OSError as e:
        return _fail(sessiondir, log, 'could not start %s: %s' % (argv[0], e))


# ---------------------------------------------------------------------------------------------
# session-info / session-stop


def session_info(sessiondir):
    if not os.path.isdir(sessiondir):
        raise SessionError('no session directory %s' % sessiondir)
    status = read_json(os.path.join(sessiondir, 'status.json')) or {}
    try:
        with open(os.path.join(sessiondir, 'token')) as f:
            token = f.read().strip()
    except OSError:
        token = None
    alive = None
    if status.get('pid') and status.get('node') == hostname():
        alive = pid_alive(status['pid'])
    return {'endpoint': read_json(os.path.join(sessiondir, 'endpoint.json')), 'token': token,
            'status': status, 'alive': alive}


def stop_session(sessiondir, grace=5.0):
    """SIGTERM to the session's group (the session ends itself, reason "stopped"), SIGKILL after
    the grace; records the end when the process could not."""
    if not os.path.isdir(sessiondir):
        raise SessionError('no session directory %s' % sessiondir)
    status = read_json(os.path.join(sessiondir, 'status.json')) or {}
    was = status.get('state') or 'unknown'
    pgid = status.get('pgid')
    if status.get('node') and status['node'] != hostname() and pgid and was != 'ended':
        raise SessionError('the session runs on %s, not on %s: stop it through its scheduler or '
                           'its connection' % (status['node'], hostname()))
    if was != 'ended' and pgid and group_alive(pgid):
        with open(os.path.join(sessiondir, STOP_MARK), 'w') as f:
            f.write('%f\n' % time.time())
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(int(pgid), sig)
            except OSError:
                break
            deadline = time.time() + wait
            while time.time() < deadline and group_alive(pgid):
                time.sleep(0.02)
            if not group_alive(pgid):
                break
    if was != 'ended' and not _has_ended(sessiondir):
        log = EventLog(sessiondir)
        log.write([{'type': 'ended', 'reason': 'stopped'}])
        update_status(sessiondir, state='ended', endedAt=time.time(), reason='stopped')
    return {'ok': True, 'was': was}


def _read_stdin():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def _valid_sid(sid):
    return len(sid) <= 128 and all(c in _SID_CHARS for c in sid)


_SID_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-')


def _hex(data):
    return ''.join('%02x' % b for b in bytearray(data))


def _end_of_first(chunk, kinds):
    """End offset of the first whole line in chunk that is an event of one of `kinds`."""
    end = 0
    for line in chunk.split(b'\n')[:-1]:
        end += len(line) + 1
        if any(('"type":"%s"' % kind).encode('ascii') in line for kind in kinds):
            try:
                if json.loads(line.decode('utf-8', 'replace')).get('type') in kinds:
                    return end
            except ValueError:
                pass
    return None


def _has_ended(sessiondir):
    try:
        with open(os.path.join(sessiondir, 'events.jsonl'), 'rb') as f:
            return _end_of_first(f.read(), ('ended',)) is not None
    except OSError:
        return False


def _work_dir_above(sessiondir):
    parent = os.path.dirname(sessiondir)
    return os.path.dirname(parent) if os.path.basename(parent) == 'sessions' else None


def _stop_reason(sessiondir, when):
    if os.path.exists(os.path.join(sessiondir, STOP_MARK)):
        return 'stopped'
    return 'the session was terminated %s' % when


def _fail(sessiondir, log, reason):
    update_status(sessiondir, state='ended', endedAt=time.time(), reason=reason)
    log.write([{'type': 'ended', 'reason': reason}])
    return 1


def _session_environ(environ, sessiondir, spec):
    """What an exec'd runner gets (runner_env), for the session and its cells' children."""
    environ['PYTHONUNBUFFERED'] = '1'
    environ['MPLBACKEND'] = 'Agg'
    environ['CLUSTER_BRIDGE_SESSION_DIR'] = sessiondir
    kept = spec.get('keepEnv') or []
    for key in ('PYTHONHOME', 'PYTHONPATH', '__PYVENV_LAUNCHER__'):
        if key in environ and key not in kept:
            environ.pop(key)
