"""A job's event log, JOBDIR/events.jsonl, for both writers: the agent and the runner.

Python 3.6+, standard library only (the agent runs it on old system Pythons). Events are compact
JSON lines `{"seq":N,"t":T,"type":...}`. The two writers never write at the same time (the agent
only while the runner is not running), and each continues from the last `seq` in the file, so
`seq` is strictly increasing. The agent's readers (follow, cancel, status) find the `done` line
here too.

A full disk or quota (ENOSPC, EDQUOT) never leaves a cut line: the bytes of a failed batch are
cut off again, JOBDIR/events.reserve (made by `prepare`) is given up so the log can say why, one
DiskFullError event is written, and after it only the `done` line is (the cell is stopped through
on_full). Readers take whole lines only, so the next writer cuts off a line a killed writer left
unfinished, and no event is ever glued to half of another.
"""
import _thread  # not `threading`: its import is about 1 ms of a warm cell
import errno
import os
import time

import _cb_json as json

DONE_MARK = b'"type":"done"'
RESERVE_NAME = 'events.reserve'
# Room for the DiskFullError event and the `done` line when nothing else is left.
RESERVE_SIZE = 16 * 1024
FULL_ERRNOS = (errno.ENOSPC, getattr(errno, 'EDQUOT', errno.ENOSPC), errno.EFBIG)


class DiskFull(OSError):
    """The log's file system or quota is full (the DiskFullError event is written already)."""


def is_disk_full(err):
    return isinstance(err, OSError) and err.errno in FULL_ERRNOS


def disk_full_text(path, err):
    return ('%s writing %s: the disk or your quota is full. The cell was stopped and its '
            'output from here on is lost. Free space there (`%%cluster clean NAME` removes old '
            'jobs and environments) and run the cell again.'
            % (os.strerror(err.errno) if err.errno else 'No space left on device', path))


def make_reserve(jobdir, size=RESERVE_SIZE):
    """Sets size bytes aside in JOBDIR for the last words of a log on a full disk."""
    path = os.path.join(jobdir, RESERVE_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except (AttributeError, OSError) as e:
            if is_disk_full(e):
                raise
            write_all(fd, b'\0' * size)  # NFS and others without fallocate
    except OSError:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    os.close(fd)


class EventLog:
    """Appends events to JOBDIR/events.jsonl: one os.write per batch of whole lines, then a byte
    on notify_fd (the follower's wake-up pipe), when there is one."""

    def __init__(self, jobdir, notify_fd=None, on_full=None):
        self.path = os.path.join(jobdir, 'events.jsonl')
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # Read at the first write: a held runner exists before the agent's last events.
        self.seq = None
        self.lock = _thread.allocate_lock()  # the runner writes from several threads
        self.notify_fd = notify_fd
        self.full = False
        self.pending = 0
        self.on_full = on_full  # called once, after the DiskFullError event (the runner stops)

    def resync(self):
        """Continues after what the other writer appended since our last write."""
        self.seq = None

    def write(self, events):
        if not events:
            return
        with self.lock:
            if self.full:
                events = [e for e in events if e.get('type') == 'done']
                if not events:
                    return
            t = time.time()
            if self.seq is None:
                seq, cut = tail_state(self.path)
                self.seq = seq + 1
                if cut is not None:
                    # A writer died mid-line; readers never take a cut line, so it can go.
                    os.ftruncate(self.fd, cut)
            lines = []
            for event in events:
                lines.append(self._encode(event, t))
            self.pending = len(events)
            data = ('\n'.join(lines) + '\n').encode('ascii')
            try:
                self._append(data)
            except OSError as e:
                if not is_disk_full(e):
                    raise
                self._disk_full(e, t, [ev for ev in events if ev.get('type') == 'done'])
                return
            self._notify()
            if events[-1].get('type') == 'done':
                self._drop_reserve()  # the log is complete: its room is no longer needed

    def _append(self, data):
        """Whole lines only: when a write fails part way, its cut last line is cut off again
        before the error goes up (its whole lines stay: a reader may have taken them)."""
        written = 0
        try:
            while written < len(data):
                written += os.write(self.fd, data[written:])
        except OSError:
            partial = written - (data.rfind(b'\n', 0, written) + 1)
            if partial:
                try:
                    os.ftruncate(self.fd, os.fstat(self.fd).st_size - partial)
                except OSError:
                    pass
            raise

    def _disk_full(self, err, t, done):
        """Caller holds the lock. Frees the reserve and, the first time this log had more than
        `done` to write, says why, sets half of the reserve aside again for the other writer's
        `done` (the cell may still write elsewhere before it stops) and lets the owner stop.
        Otherwise (the agent after a runner that said why) it writes just the `done` line."""
        says_why = not self.full and len(done) < self.pending
        self.full = True
        self._drop_reserve()
        last = list(done)
        if says_why:
            text = disk_full_text(self.path, err)
            last.insert(0, {'type': 'error', 'ename': 'DiskFullError', 'evalue': text,
                            'traceback': ['DiskFullError: ' + text]})
        if last:
            try:
                self._append(('\n'.join(self._encode(e, t) for e in last) + '\n')
                             .encode('ascii'))
                self._notify()
            except OSError:
                pass  # not even the reserve's room: the follower reports the job lost
        if says_why:
            if not done:
                try:
                    make_reserve(os.path.dirname(self.path), RESERVE_SIZE // 2)
                except OSError:
                    pass
            if self.on_full is not None:
                self.on_full()

    def _drop_reserve(self):
        try:
            os.unlink(os.path.join(os.path.dirname(self.path), RESERVE_NAME))
        except OSError:
            pass

    def _notify(self):
        if self.notify_fd is not None:
            try:
                os.write(self.notify_fd, b'.')
            except BlockingIOError:
                pass  # the pipe is full of wake-ups already
            except OSError:
                self.notify_fd = None  # the follower is gone

    def _encode(self, event, t):
        record = {'seq': self.seq, 't': t}
        record.update(event)
        try:
            line = json.dumps(record)
        except (TypeError, ValueError, RecursionError):
            line = json.dumps(sanitize(record))
        self.seq += 1
        return line


class LineLog:
    """EventLog's write() onto a stream (`env-ensure` prints its events to the bridge)."""

    def __init__(self, fd):
        self.fd = fd
        self.seq = 0

    def write(self, events):
        t = time.time()
        lines = []
        for event in events:
            record = {'seq': self.seq, 't': t}
            record.update(event)
            lines.append(json.dumps(sanitize(record)))
            self.seq += 1
        if lines:
            write_all(self.fd, ('\n'.join(lines) + '\n').encode('ascii'))


def notify_fd_from_environ():
    """The follower's wake-up pipe the agent passed down in CB_NOTIFY_FD (taken out of the
    environment, so the cell's children do not see it), non-blocking: a full pipe must never
    stall the cell."""
    fd = os.environ.pop('CB_NOTIFY_FD', None)
    if not fd:
        return None
    try:
        fd = int(fd)
        os.set_inheritable(fd, False)
        os.set_blocking(fd, False)
    except (ValueError, OSError):
        return None
    return fd


def sanitize(value):
    """Make a value JSON-safe: non-finite floats become None, unknown objects their repr."""
    if isinstance(value, float):
        return value if value == value and value not in (float('inf'), float('-inf')) else None
    if isinstance(value, dict):
        return dict((str(k), sanitize(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return repr(value)


def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


def last_seq(path):
    """Sequence number of the last whole event in path, or -1."""
    return tail_state(path)[0]


def tail_state(path):
    """(sequence number of the last whole event or -1, the size without a cut last line, or
    None when the file ends with a whole line)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return -1, None
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        size = 4096
        cut = None
        first = True
        while True:
            start = max(0, end - size)
            data = os.pread(fd, end - start, start)
            if first and data and not data.endswith(b'\n'):
                cut = -1  # found below, where the last newline is
            first = False
            if cut == -1:
                nl = data.rfind(b'\n')
                if nl >= 0 and (start == 0 or nl > 0):
                    cut = start + nl + 1
                elif start == 0:
                    cut = 0
            lines = data.rstrip(b'\n').split(b'\n')
            # The first piece may be cut unless we read from the start.
            candidates = lines if start == 0 else lines[1:]
            for line in reversed(candidates):
                try:
                    return int(json.loads(line.decode('utf-8', 'replace'))['seq']), cut
                except (ValueError, KeyError, TypeError):
                    continue
            if start == 0:
                return -1, cut
            size *= 4
    finally:
        os.close(fd)


def find_done(chunk):
    """End offset of the `done` line in chunk, or None. The marker can only appear unescaped as
    a key of an event's own fields (or inside nested display data, which json.loads rules out)."""
    start = 0
    while True:
        i = chunk.find(DONE_MARK, start)
        if i < 0:
            return None
        line_start = chunk.rfind(b'\n', 0, i) + 1
        line_end = chunk.find(b'\n', i) + 1
        try:
            if json.loads(chunk[line_start:line_end].decode('utf-8', 'replace')).get('type') == 'done':
                return line_end
        except ValueError:
            pass
        start = line_end


def has_done(path):
    """Whether the log at path ends with a `done` line (looks at its last 64 KiB)."""
    try:
        with open(path, 'rb') as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            return find_done(f.read()) is not None
    except OSError:
        return False
