# Over 500 lines on purpose: the cells, interrupts and the end share one lock and one state.
"""A session (VENV2 side): one long-lived Python that keeps one __main__ across cells, fed over
one TCP connection per client (JSON lines), so a warm cell needs no new process and no exec.

Usage: started by the agent's `session-run SESSIONDIR` (in-process on VENV2's interpreter, else
`<venv2>/bin/python -u -c <boot> RUNTIME_DIR SESSIONDIR`). The protocol, the layout of SESSIONDIR
and each cell's job dir are in docs/architecture.md ("Sessions"). Each cell keeps the runner's
semantics (_cb_runner.Cell) and its own append-only events.jsonl, ended by a `done` line written
here; the output capture (fds 1/2, display, hooks) is set up once for the whole session.

Threads: the main thread runs cells one at a time (FIFO; KeyboardInterrupt must reach it), one
thread per connection, one per open follow, one watchdog (idle timeout, time-limit warning).
Syntax stays Python 3.6 (the agent's checks follow its imports); it runs on the runner's 3.8+.
"""
import _thread
import os
import socket
import sys
import threading
import time
import types

import _cb_json as json
import _cb_runner as runner
from _cb_agent_session import STOP_MARK
from _cb_events import EventLog, write_all
from _cb_jobfiles import hostname, read_json, write_json_atomic
from _cb_proc import group_members
from _cb_session_wire import Connection, RequestError

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

SESSION_FILE = os.path.abspath(__file__)
NEAR_DEADLINE = 120  # a SIGTERM this close to the deadline is the scheduler's time limit
STOP_GRACE = 3.0  # seconds a stopped session waits for an interrupted cell to end by itself
JOB_ID_CHARS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-')


class JobLog(EventLog):
    """A cell's events.jsonl that wakes the cell's followers. After the `done` line, what a thread
    the cell left running still writes goes to the session's log instead."""

    def __init__(self, jobdir, job):
        # A full disk interrupts the running cell (the session's handler raises in it).
        EventLog.__init__(self, jobdir, on_full=_thread.interrupt_main)
        self.job = job
        self.gate = _thread.allocate_lock()
        self.after = None

    def write(self, events):
        with self.gate:
            if self.after is None:
                EventLog.write(self, events)
                self.job.grew()
                return
            after = self.after
        after.write(events)

    def close(self, after):
        with self.gate:
            if self.after is None:
                self.after = after
                os.close(self.fd)


class Job(object):
    """One cell of the session: its dir, bundle, log and where it stands."""

    def __init__(self, jid, jobdir, bundle):
        self.id = jid
        self.jobdir = jobdir
        self.bundle = bundle
        self.cond = threading.Condition()  # followers wait here for the log to grow
        self.version = 0
        self.state = 'queued'  # queued | running | over (the session's lock guards it)
        self.end_lock = _thread.allocate_lock()
        self.ended = False
        self.interrupted = False
        self.started = None
        self.status = {}
        self.log = JobLog(jobdir, self)

    def grew(self):
        with self.cond:
            self.version += 1
            self.cond.notify_all()


class Session(object):
    def __init__(self, sessiondir):
        self.dir = sessiondir
        self.spec = read_json(os.path.join(sessiondir, 'spec.json'))
        if not isinstance(self.spec, dict):
            raise RuntimeError('spec.json is missing or not JSON in %s' % sessiondir)
        with open(os.path.join(sessiondir, 'token')) as f:
            self.token = f.read().strip().encode('ascii')
        self.sid = self.spec.get('sessionId') or os.path.basename(sessiondir)
        self.log = EventLog(sessiondir)
        self.node = hostname()
        self.pid = os.getpid()
        self.started = time.time()
        self.python = '%d.%d.%d' % sys.version_info[:3]
        self.lock = threading.Condition()  # queue, current, ending; the main loop waits on it
        self.queue = []
        self.jobs = {}
        self.current = None
        self.in_cell = False  # the main thread is inside the cell's code: interrupts may raise
        self.interrupt_target = None
        self.cells = 0
        self.last_active = time.monotonic()
        self.ending = None
        self.idle_timeout = float(self.spec.get('idleTimeout') or 0)
        self.time_limit = self.spec.get('timeLimit') or None
        self.deadline = self.started + self.time_limit if self.time_limit else None
        warn = self.spec.get('warnBefore')
        self.warn_before = 300.0 if warn is None else float(warn)
        self.warned = False
        self.status = {}
        self.status_lock = _thread.allocate_lock()  # one writer of status.json at a time
        self.main = None
        self.streams = None
        self.throttle = None
        self.server = None

    # -----------------------------------------------------------------------------------------
    # Start

    def start(self):
        """Output capture, one __main__, signals, the listening socket; then endpoint.json and
        the `ready` event."""
        self.throttle = runner.Throttle(self.log, self.dir)
        self.streams = runner.Streams(self.log, self.throttle)
        runner.HIDDEN_FILES.add(SESSION_FILE)
        runner.capture_output(self.streams)
        self.log.write(runner.change_dir(self.spec.get('cwd')))
        main = types.ModuleType('__main__')
        main.__dict__['__builtins__'] = __builtins__
        sys.modules['__main__'] = self.main = main
        sys.argv = ['<cell>']
        runtime_dir = os.path.dirname(SESSION_FILE)
        sys.path[:] = [''] + [p for p in sys.path if p and os.path.abspath(p) != runtime_dir]
        sys.dont_write_bytecode = bool(os.environ.get('PYTHONDONTWRITEBYTECODE'))
        signal.signal(signal.SIGINT, self.on_sigint)
        for name in ('SIGTERM', 'SIGUSR2'):  # SIGUSR2: Grid Engine's warning before its kill
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self.on_sigterm)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        bind = self.spec.get('bind') or '127.0.0.1'
        server = self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((bind, 0))
        server.listen(16)
        port = server.getsockname()[1]
        host = '127.0.0.1' if bind == '127.0.0.1' else self.node
        pgid = os.getpgrp()
        write_json_atomic(os.path.join(self.dir, 'endpoint.json'), {
            'host': host, 'port': port, 'pid': self.pid, 'pgid': pgid, 'node': self.node,
            'startedAt': self.started})
        self.status = {'state': 'idle', 'pid': self.pid, 'pgid': pgid, 'node': self.node,
                       'startedAt': self.started, 'endedAt': None, 'reason': None}
        self.write_status()
        _thread.start_new_thread(self.accept, ())
        _thread.start_new_thread(self.guarded, (self.watchdog,))
        self.log.write([{'type': 'ready', 'host': host, 'port': port, 'pid': self.pid,
                         'node': self.node, 'python': self.python}])

    def guarded(self, body):
        """A thread's body whose failure goes to the session's stderr, not into a cell."""
        try:
            body()
        except Exception:
            runner._diag('%s failed' % body.__name__)

    def write_status(self, **fields):
        with self.status_lock:
            if self.status.get('state') == 'ended':
                return  # a late idle/busy from the watchdog
            self.status.update(fields)
            write_json_atomic(os.path.join(self.dir, 'status.json'), self.status)

    # -----------------------------------------------------------------------------------------
    # Cells (the main thread)

    def serve_cells(self):
        while True:
            with self.lock:
                while not self.queue or self.ending is not None:
                    self.lock.wait()
                job = self.queue.pop(0)
                self.current = job
                job.state = 'running'
                self.interrupt_target = None
                self.cells += 1
                number = self.cells
            self.run_cell(job, number)

    def run_cell(self, job, number):
        job.started = time.time()
        if job.status.get('state') != 'running':
            job.status.update(state='running', startedAt=job.started)
            write_json_atomic(os.path.join(job.jobdir, 'status.json'), job.status)
        cell = runner.Cell(job.jobdir, bundle=job.bundle, log=job.log, streams=self.streams,
                           filename='<cell-%d>' % number)
        self.streams.retarget(job.log, cell.throttle)
        runner._STATE['ctx'] = cell
        os.environ['CLUSTER_BRIDGE_JOB_DIR'] = job.jobdir
        os.environ['CLUSTER_BRIDGE_JOB_ID'] = job.id
        first = [{'type': 'status', 'phase': 'running', 'node': self.node, 'python': self.python,
                  'session': self.sid}]
        if self.warned:
            first.append(self.deadline_notice())
        job.log.write(first)
        sampler = None
        code = 1
        try:
            sampler = runner.GpuSampler()
            self.in_cell = True
            try:
                if self.interrupt_target is job:  # it came while the cell was being set up
                    self.on_sigint(signal.SIGINT, None)
                code = cell.run(self.main)
            finally:
                self.in_cell = False
        except BaseException as e:  # an interrupt just outside the cell's own handling
            cell._error(type(e), e, None)
            code = 130 if isinstance(e, KeyboardInterrupt) else 1
        try:
            cell.finish(sampler, mute_interrupts=False)
        except Exception:
            runner._diag('finishing a cell failed')
        self.streams.retarget(self.log, self.throttle)
        runner._STATE['ctx'] = None
        if code == 0:
            state = 'completed'
        else:
            state = 'cancelled' if job.interrupted else 'failed'
        self.finish_job(job, state, code)

    def finish_job(self, job, state, exit_code, reason=None):
        """Writes the cell's end once (status.json, then `done`): whoever comes first, the main
        thread or an ending session."""
        with job.end_lock:
            if job.ended:
                return
            job.ended = True
        now = time.time()
        done = {'type': 'done', 'state': state, 'exitCode': exit_code,
                'duration': round(now - (job.started or now), 6)}
        if reason:
            done['reason'] = reason
        job.status.update(state=state, exitCode=exit_code, endedAt=now)
        try:
            write_json_atomic(os.path.join(job.jobdir, 'status.json'), job.status)
        except OSError:
            runner._diag('writing the status of %s failed' % job.id)
        job.log.write([done])
        job.log.close(self.log)
        with self.lock:
            job.state = 'over'
            if self.current is job:
                self.current = None
                self.last_active = time.monotonic()
            self.lock.notify_all()
        job.grew()

    def on_sigint(self, signum, frame):
        """An interrupt (ours or a SIGINT from outside) raises in the running cell's code only."""
        job = self.current
        if job is None or not self.in_cell:
            return
        target = self.interrupt_target
        if target is not None and target is not job:
            return
        self.interrupt_target = None
        job.interrupted = True
        raise KeyboardInterrupt

    def on_sigterm(self, signum, frame):
        # The ending runs beside the cell: the cell's code may never give the main thread back.
        _thread.start_new_thread(self.terminated, ())

    # -----------------------------------------------------------------------------------------
    # Requests (connection threads)

    def add_cell(self, msg):
        jid, jobdir, bundle = msg.get('job'), msg.get('jobdir'), msg.get('bundle')
        if not isinstance(jid, str) or not jid or not all(c in JOB_ID_CHARS for c in jid):
            raise RequestError('"job" must be letters, digits, ".", "_" or "-" (got %r)' % (jid,))
        if not isinstance(jobdir, str) or not os.path.isabs(jobdir):
            raise RequestError('"jobdir" must be an absolute path (got %r)' % (jobdir,))
        if not isinstance(bundle, dict) or not isinstance(bundle.get('code', ''), str):
            raise RequestError('"bundle" must be an object with a "code" string')
        with self.lock:
            if jid in self.jobs:
                raise RequestError('job %s is already in this session' % jid)
            if self.ending is not None:
                raise RequestError('the session is ending (%s)' % self.ending)
        _make_job_dir(jobdir, bundle)
        job = Job(jid, jobdir, bundle)
        with self.lock:
            if self.ending is not None:
                raise RequestError('the session is ending (%s)' % self.ending)
            ahead = len(self.queue) + (1 if self.current is not None else 0)
            job.status = {'state': 'queued' if ahead else 'running', 'pid': self.pid,
                          'pgid': os.getpgrp(), 'node': self.node, 'session': self.sid,
                          'queuedAt': time.time()}
            _write_new(os.path.join(jobdir, 'status.json'), job.status)
            if ahead:
                job.log.write([{'type': 'status', 'phase': 'queued', 'message':
                                'waiting for %d cell(s) ahead in the session' % ahead}])
            self.jobs[jid] = job
            self.queue.append(job)
            self.lock.notify_all()
        return {'ahead': ahead}

    def interrupt(self, jid):
        job = self.jobs.get(jid)
        with self.lock:
            if job is None or job.state == 'over':
                return 'over'
            if job.state == 'queued':
                self.queue.remove(job)
                was = 'queued'
            else:
                self.interrupt_target = job
                was = 'running'
        if was == 'queued':
            self.finish_job(job, 'cancelled', None, 'interrupted before it started')
        else:
            os.kill(self.pid, signal.SIGINT)
        return was

    def status_reply(self):
        with self.lock:
            current = self.current
            queued = [j.id for j in self.queue]
            idle = 0.0 if current is not None or queued else time.monotonic() - self.last_active
            cells = self.cells
        return {'state': 'busy' if current is not None or queued else 'idle', 'pid': self.pid,
                'node': self.node, 'startedAt': self.started, 'idleSeconds': round(idle, 3),
                'rssBytes': _rss_bytes(), 'gpus': os.environ.get('CUDA_VISIBLE_DEVICES', ''),
                'deadline': self.deadline, 'current': current.id if current is not None else None,
                'queued': queued, 'cells': cells}

    def accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                if self.ending is not None:
                    return
                time.sleep(0.1)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _thread.start_new_thread(Connection(self, conn).serve, ())

    # -----------------------------------------------------------------------------------------
    # The end: stop, idle timeout, SIGTERM

    def watchdog(self):
        """Keeps status.json's idle/busy (off the cells' path: each write is a file system round
        trip), ends an idle session at its idle timeout, warns the running cell before the
        deadline. It decides and waits under the lock, so no change slips between the two."""
        while True:
            with self.lock:
                if self.ending is not None:
                    return
                idle = self.current is None and not self.queue
                want = 'idle' if idle else 'busy'
                now = time.time()
                warn_now = (self.deadline is not None and not self.warned
                            and now >= self.deadline - self.warn_before)
                expired = bool(self.idle_timeout and idle and
                               time.monotonic() - self.last_active >= self.idle_timeout)
                if want == self.status.get('state') and not warn_now and not expired:
                    waits = [3600.0]
                    if self.idle_timeout and idle:
                        waits.append(self.idle_timeout - (time.monotonic() - self.last_active))
                    if self.deadline is not None and not self.warned:
                        waits.append(self.deadline - self.warn_before - now)
                    self.lock.wait(max(0.0, min(waits)) + 0.01)
                    continue
                current = self.current
            if expired:
                break
            if want != self.status.get('state'):
                self.write_status(state=want)
            if warn_now:
                self.warned = True
                if current is not None:
                    self.streams.emit(self.deadline_notice())
        self.end('idle timeout (%s)' % _span(self.idle_timeout), 'cancelled', 'idle timeout')

    def deadline_notice(self):
        left = max(0, self.deadline - time.time())
        when = '%d min' % round(left / 60.0) if left >= 60 else '%d s' % left
        return {'type': 'notice', 'text': "The session's allocation ends in %s (time limit %s)"
                % (when, _hms(self.time_limit))}

    def terminated(self):
        if os.path.exists(os.path.join(self.dir, STOP_MARK)):
            self.end('stopped', 'cancelled', 'the session was stopped')
            return
        if self.deadline is not None and self.deadline - time.time() <= NEAR_DEADLINE:
            limit = _hms(self.time_limit)
            reason = 'the scheduler ended the session at its time limit (%s)' % limit
            error = {'type': 'error', 'ename': 'TimeLimitExceeded', 'evalue': reason,
                     'traceback': ['TimeLimitExceeded: %s. Variables of the session are lost; '
                                   'the next cell starts a new session.' % reason]}
            self.end('time limit (%s)' % limit, 'timeout', reason, error)
        else:
            reason = 'the session was terminated (SIGTERM)'
            error = {'type': 'error', 'ename': 'SessionTerminated', 'evalue': reason,
                     'traceback': ['SessionTerminated: %s' % reason]}
            self.end('terminated (SIGTERM)', 'cancelled', reason, error)

    def end(self, reason, cell_state, cell_reason, error=None):
        """Ends the session once: queued cells cancelled, the running one ended (interrupted
        first when it may end by itself), `ended` + status, no process of the group left."""
        with self.lock:
            if self.ending is not None:
                return
            self.ending = reason
            queued, self.queue = self.queue, []
            current = self.current
            if current is not None and error is None:
                self.interrupt_target = current
        for job in queued:
            self.finish_job(job, 'cancelled', None, 'the session ended before the cell started '
                            '(%s)' % reason)
        if current is not None:
            if error is None:
                os.kill(self.pid, signal.SIGINT)
                deadline = time.monotonic() + STOP_GRACE
                with self.lock:
                    while current.state != 'over' and time.monotonic() < deadline:
                        self.lock.wait(0.05)
            else:
                try:
                    self.streams.flush()
                except Exception:
                    pass
                with current.end_lock:
                    unfinished = not current.ended
                if unfinished:
                    current.log.write([error])
            self.finish_job(current, cell_state, None, cell_reason)
        self.write_status(state='ended', endedAt=time.time(), reason=reason)
        self.log.write([{'type': 'ended', 'reason': reason}])
        try:
            self.server.close()
        except OSError:
            pass
        _end_group_but_me(self.pid)
        os._exit(0)


def _make_job_dir(jobdir, bundle):
    """JOBDIR (0700) and bundle.json, as the agent's `prepare` makes them."""
    os.makedirs(os.path.dirname(jobdir), 0o700, exist_ok=True)
    try:
        os.mkdir(jobdir, 0o700)
    except FileExistsError:
        path = os.path.join(jobdir, 'events.jsonl')
        if os.path.exists(path) and os.path.getsize(path) > 0:
            raise RequestError('job directory %s is already in use' % jobdir)
        os.chmod(jobdir, 0o700)
    _write_new(os.path.join(jobdir, 'bundle.json'), bundle)


def _write_new(path, obj):
    """A file in a new job dir: written in place (no reader has it yet; a rename is one more
    file system round trip per cell, which on NFS is the cost of a warm cell)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, json.dumps(obj).encode('ascii'))
    finally:
        os.close(fd)


def _rss_bytes():
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


def _end_group_but_me(me):
    """SIGTERM, then SIGKILL, to every other process of our group (what the cells started):
    nothing is left behind after the session."""
    pgid = os.getpgrp()
    if pgid != me:
        return  # not our own group (we never made one): leave the others alone
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 1.0)):
        try:
            members = group_members(pgid, but=me)
        except OSError:
            return
        if not members:
            return
        for pid in members:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and group_members(pgid, but=me, limit=1):
            time.sleep(0.02)


def _hms(seconds):
    seconds = int(seconds or 0)
    return '%02d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def _span(seconds):
    """2h 0m, 5m 30s, 45s."""
    seconds = int(seconds)
    if seconds >= 3600:
        return '%dh %dm' % (seconds // 3600, seconds // 60 % 60)
    if seconds >= 60:
        return '%dm %ds' % (seconds // 60, seconds % 60)
    return '%ds' % seconds


def main(argv):
    if len(argv) != 1:
        sys.stderr.write('usage: _cb_session SESSIONDIR\n')
        return 2
    sessiondir = os.path.abspath(argv[0])
    try:
        session = Session(sessiondir)
        session.start()
    except BaseException as e:
        import traceback
        traceback.print_exc()
        reason = 'error: the session did not start: %s' % e
        try:
            from _cb_jobfiles import update_status
            update_status(sessiondir, state='ended', endedAt=time.time(), reason=reason)
            EventLog(sessiondir).write([{'type': 'ended', 'reason': reason}])
        except OSError:
            pass
        return 1
    try:
        session.serve_cells()
    except BaseException as e:
        runner._diag('the session failed')
        session.end('error: %s: %s' % (type(e).__name__, e), 'failed', 'the session failed')
    return 1
