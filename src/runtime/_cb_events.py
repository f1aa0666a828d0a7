"""A job's event log, JOBDIR/events.jsonl, for both writers: the agent and the runner.

Python 3.6+, standard library only (the agent runs it on old system Pythons). Events are compact
JSON lines `{"seq":N,"t":T,"type":...}`. The two writers never write at the same time (the agent
only while the runner is not running), and each continues from the last `seq` in the file, so
`seq` is strictly increasing. The agent's readers (follow, cancel, status) find the `done` line
here too.
"""
import _thread  # not `threading`: its import is about 1 ms of a warm cell
import os
import time

import _cb_json as json

DONE_MARK = b'"type":"done"'


class EventLog:
    """Appends events to JOBDIR/events.jsonl: one os.write per batch of whole lines, then a byte
    on notify_fd (the follower's wake-up pipe), when there is one."""

    def __init__(self, jobdir, notify_fd=None):
        self.path = os.path.join(jobdir, 'events.jsonl')
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # Read at the first write: a held runner exists before the agent's last events.
        self.seq = None
        self.lock = _thread.allocate_lock()  # the runner writes from several threads
        self.notify_fd = notify_fd

    def resync(self):
        """Continues after what the other writer appended since our last write."""
        self.seq = None

    def write(self, events):
        if not events:
            return
        with self.lock:
            t = time.time()
            if self.seq is None:
                self.seq = last_seq(self.path) + 1
            lines = []
            for event in events:
                lines.append(self._encode(event, t))
            write_all(self.fd, ('\n'.join(lines) + '\n').encode('ascii'))
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
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return -1
    try:
        end = os.lseek(fd, 0, os.SEEK_END)
        size = 4096
        while True:
            start = max(0, end - size)
            os.lseek(fd, start, os.SEEK_SET)
            data = os.read(fd, end - start)
            lines = data.rstrip(b'\n').split(b'\n')
            # The first piece may be cut unless we read from the start.
            candidates = lines if start == 0 else lines[1:]
            for line in reversed(candidates):
                try:
                    return int(json.loads(line.decode('utf-8', 'replace'))['seq'])
                except (ValueError, KeyError, TypeError):
                    continue
            if start == 0:
                return -1
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
