"""cluster-bridge agent (VENV1 side): the command line, and the commands that unpack, detach,
follow, cancel and report on a job. The job itself (`run`) is _cb_job.run_job.

Usage: <venv1>/bin/python -u agent.py COMMAND [JOBDIR] [options]   (see docs/architecture.md)

  prepare JOBDIR              bundle JSON on stdin -> JOBDIR/bundle.json      prints {"ok": true}
  run JOBDIR                  the job itself: VENV2 + runner + `done` event   prints nothing
  launch JOBDIR               `run` detached (own session/process group)      prints {"pid": N}
  follow JOBDIR [--offset N]  events.jsonl from byte N until the `done` line  prints event lines
  go JOBDIR                   prepare + launch + follow --offset 0           prints event lines
  cancel JOBDIR [--grace S]   SIGINT, then SIGTERM, then SIGKILL              prints {"ok": true, ...}
                              (exit 3, {"otherNode": N}: the job runs on node N, nothing signalled)
  status JOBDIR               status.json plus liveness                       prints JSON
  doctor [--workdir DIR] [--env-kind K]  facts about this host (sizes included)  prints JSON
  clean [--workdir DIR] [--dry-run] [--auto] [--jobs-days N] [--runtimes-days N] [--envs-days N]
                              retention: old job dirs, runtimes, envs     prints JSON
  env-ensure [--workdir DIR]  {"env", "envHash"} on stdin: VENV2 ready here   prints env event lines
  sync-apply SYNCDIR          a project folder's delta on stdin (_cb_sync.py) prints JSON
  relay HOST PORT             stdin/stdout <-> a TCP socket, raw (_cb_relay.py)  prints the bytes
  array-follow JOBDIR [--offsets N,N,-]  every element's events, `k<TAB>line` (_cb_array.py)

Runs on Python 3.6+ with the standard library only: no f-strings, no 3.7+ APIs. It imports its
siblings (_cb_*.py in this folder, which the agent.py stub puts on sys.path, so `python -I`
works too); what only a cold start or a rare command needs (building VENV2, doctor) and the
heavier standard modules are imported inside the functions that need them, so the warm `go`
path stays cheap.
"""
import os
import sys
import time

import _cb_json as json  # json without `re`/`enum`: the warm path's imports are its cost
from _cb_events import EventLog, find_done, has_done, is_disk_full, make_reserve, write_all
from _cb_job import run_job
from _cb_jobfiles import clean_due, hostname, read_json, update_status, work_dir_for
from _cb_proc import ChildExit, group_alive, pid_alive

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal


SESSION_COMMANDS = ('session-start', 'session-prepare', 'session-run', 'session-info',
                    'session-stop')  # in _cb_agent_session, imported only for them
ARRAY_COMMANDS = ('array-element', 'array-follow')  # in _cb_array, likewise


class AgentError(Exception):
    """An error reported to the caller as a clear one-line message."""


# ---------------------------------------------------------------------------------------------
# prepare: the bundle into JOBDIR


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
    make_reserve(jobdir)
    work_dir = work_dir_for(jobdir, bundle=bundle)
    if bundle.get('retention') is not False and clean_due(work_dir):
        import _cb_clean  # once a day: the usual prepare costs one stat, not this import
        _cb_clean.maybe_auto_clean(work_dir, bundle.get('retention'))


# ---------------------------------------------------------------------------------------------
# launch: detach `run` from the caller (survives the SSH connection)


def launch(jobdir, notify_fd=None, close_in_child=(), body=None):
    """Double fork: the job runs in its own session and process group, stdin from /dev/null,
    stdout/stderr to files in JOBDIR. Returns its pid once status.json names it.
    body(jobdir): what runs there instead of run_job (a session's session-run)."""
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
                # No scheduler enforces the cell's resources here: run_job does.
                code = body(jobdir) if body else run_job(jobdir, notify_fd, enforce_limits=True)
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


def follow(jobdir, offset=0, notify_fd=None, out_fd=1, find_end=find_done):
    """Copies whole lines of events.jsonl from byte `offset` to out_fd as the file grows and
    returns 0 after the `done` line. Returns 3 when the job process is gone without a `done`,
    4 when our caller went away. Sleeps adaptively (2 ms .. 50 ms), or waits on notify_fd."""
    import select
    if not os.path.isdir(jobdir):
        raise AgentError('no job directory %s' % jobdir)
    path = os.path.join(jobdir, 'events.jsonl')
    status_path = os.path.join(jobdir, 'status.json')
    fd = None
    pos = offset
    want = 1 << 20
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
            except OSError:
                fd = None
        if fd is not None:
            while True:
                # Whole lines only, read again from their start: a writer on a full disk cuts
                # its unfinished line off, and a reader must never have taken half of it.
                data = os.pread(fd, want, pos)
                if not data:
                    break
                cut = data.rfind(b'\n') + 1
                if not cut:
                    if len(data) < want:
                        break  # a line still being written
                    want *= 4  # one line longer than a read
                    continue
                want = 1 << 20
                whole = data[:cut]
                pos += cut
                got = True
                done_at = find_end(whole)
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


# ---------------------------------------------------------------------------------------------
# cancel, status


def cancel(jobdir, grace=5.0):
    status = read_json(os.path.join(jobdir, 'status.json')) or {}
    pgid = status.get('pgid')
    runner_pgid = status.get('runnerPgid')
    groups = [g for g in (pgid, runner_pgid) if g]
    if not groups or status.get('state') in ('completed', 'failed', 'cancelled'):
        return {'ok': True, 'state': status.get('state') or 'unknown', 'signalled': False}
    if status.get('session'):
        # Its pgid is the session's: signals would end every cell and the namespace.
        return {'ok': False, 'session': status['session'],
                'error': 'the job is a cell of session %s: interrupt it through the session'
                % status['session']}
    if status.get('node') and status['node'] != hostname():
        # Its pids mean other processes here: never signal them (round-robin login nodes).
        return {'ok': False, 'otherNode': status['node'], 'here': hostname(),
                'error': 'the job runs on %s, not on %s: not signalled'
                % (status['node'], hostname())}
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
    if not left and not has_done(path):
        # The job was killed before it could say so: record the end for followers.
        EventLog(jobdir).write([{'type': 'done', 'state': 'cancelled', 'exitCode': None,
                                 'reason': 'killed with %s after %.0f s'
                                 % (used[-1] if used else 'signal', grace)}])
        update_status(jobdir, state='cancelled', endedAt=time.time())
    return {'ok': not left, 'signals': used, 'left': left}


def job_status(jobdir):
    status = read_json(os.path.join(jobdir, 'status.json'))
    out = dict(status or {})
    out['exists'] = os.path.isdir(jobdir)
    out['here'] = hostname()
    if status and status.get('pid') and status.get('node') == out['here']:
        out['alive'] = pid_alive(status['pid'])
    try:
        # The job's heartbeat (status.json touched every 30 s while it runs).
        out['beatAge'] = max(0.0, time.time() - os.stat(os.path.join(jobdir, 'status.json')).st_mtime)
    except OSError:
        out['beatAge'] = None
    path = os.path.join(jobdir, 'events.jsonl')
    try:
        out['eventsSize'] = os.path.getsize(path)
    except OSError:
        out['eventsSize'] = None
    out['done'] = has_done(path)
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    if not argv:
        raise AgentError('usage: agent.py COMMAND [JOBDIR] [--offset N] [--offsets N,N,-] '
                         '[--grace S] [--workdir DIR]')
    opts = {'command': argv[0], 'jobdir': None, 'offset': 0, 'offsets': None, 'grace': 5.0,
            'workdir': None, 'envKind': None}
    rest = argv[1:]
    if argv[0] == 'relay':
        opts['args'] = rest
        return opts
    if argv[0] == 'clean':
        import _cb_clean
        opts.update(_cb_clean.parse_options(rest, AgentError))
        return opts
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ('--offset', '--offsets', '--grace', '--workdir', '--env-kind'):
            if i + 1 >= len(rest):
                raise AgentError('%s needs a value' % arg)
            value = rest[i + 1]
            try:
                if arg == '--offset':
                    opts['offset'] = int(value)
                elif arg == '--offsets':
                    opts['offsets'] = value  # array-follow checks it against the elements
                elif arg == '--grace':
                    opts['grace'] = float(value)
                elif arg == '--env-kind':
                    opts['envKind'] = value
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
    needs_job = ('prepare', 'run', 'launch', 'follow', 'go', 'cancel', 'status', 'sync-apply') + \
        SESSION_COMMANDS + ARRAY_COMMANDS
    if opts['command'] in needs_job and not opts['jobdir']:
        raise AgentError('%s needs a JOBDIR' % opts['command'])
    if opts['command'] not in needs_job + ('doctor', 'clean', 'env-ensure'):
        raise AgentError('unknown command %r' % opts['command'])
    return opts


def array_body(jobdir):
    """run_direct for an array job's launch on a direct host, else None (run_job)."""
    bundle = read_json(os.path.join(jobdir, 'bundle.json')) or {}
    if not isinstance((bundle.get('request') or {}).get('array'), dict):
        return None
    import _cb_array
    return _cb_array.run_direct


def opts_dir(argv):
    return argv[1] if len(argv) > 1 and not argv[1].startswith('-') else 'the work directory'


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
            print_json({'pid': launch(jobdir, body=array_body(jobdir))})
            return 0
        if cmd in ARRAY_COMMANDS:
            import _cb_array
            try:
                return _cb_array.command(cmd, jobdir, opts['offsets'])
            except _cb_array.ArrayError as e:
                raise AgentError(str(e))
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
            return 0 if result.get('ok') else (3 if result.get('otherNode') else 1)
        if cmd == 'status':
            print_json(job_status(jobdir))
            return 0
        if cmd in SESSION_COMMANDS:
            import _cb_agent_session
            try:
                return _cb_agent_session.command(cmd, jobdir, opts, launch, follow, print_json)
            except _cb_agent_session.SessionError as e:
                raise AgentError(str(e))
        if cmd == 'doctor':
            import _cb_doctor
            print_json(_cb_doctor.doctor(work_dir_for(explicit=opts['workdir']), opts['envKind']))
            return 0
        if cmd == 'clean':
            import _cb_clean
            print_json(_cb_clean.clean(work_dir_for(explicit=opts['workdir']), opts))
            return 0
        if cmd == 'relay':
            import _cb_relay
            try:
                return _cb_relay.command(opts['args'])
            except _cb_relay.RelayError as e:
                raise AgentError(str(e))
        if cmd == 'sync-apply':
            import _cb_sync
            return _cb_sync.command(jobdir, print_json)
        if cmd == 'env-ensure':
            from _cb_envs import ensure_here
            return ensure_here(work_dir_for(explicit=opts['workdir']), read_stdin_bundle())
    except ChildExit as e:
        return e.code
    except AgentError as e:
        sys.stderr.write('cluster-bridge agent: %s\n' % e)
        return 2
    except OSError as e:
        if not is_disk_full(e):
            raise
        sys.stderr.write('cluster-bridge agent: %s in %s: the disk or your quota is full. Free '
                         'space there (`%%cluster clean NAME` removes old jobs and environments).\n'
                         % (os.strerror(e.errno), e.filename or opts_dir(argv)))
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
