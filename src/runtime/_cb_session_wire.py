"""A session's wire (VENV2 side, with _cb_session): one client connection speaking JSON lines.

The first line must be {"op":"hello","token":T}; then requests with an "id", each answered by one
{"op":"reply","id":n,"ok":...}; a follow also pushes {"op":"events","job":J,"data":RAW} as the
cell's events.jsonl grows (whole lines, from the byte offset asked for) and {"op":"followed"}
after the `done` line. The protocol is in docs/architecture.md ("Sessions"). Syntax: Python 3.6.
"""
import _thread
import os

import _cb_json as json
from _cb_events import find_done
from _cb_runner import _diag  # to the session's own stderr, never into a cell

try:
    from _operator import _compare_digest as compare_digest  # hmac.compare_digest, minus hashlib
except ImportError:
    from hmac import compare_digest

MAX_LINE = 256 << 20  # a request line longer than this closes the connection
HELLO_TIMEOUT = 30.0


class RequestError(Exception):
    """A request that cannot be served: the reply carries the message."""


class Connection(object):
    """One client: hello with the token first, then requests (JSON lines) until it closes."""

    def __init__(self, session, sock):
        self.session = session
        self.sock = sock
        self.send_lock = _thread.allocate_lock()
        self.closed = False

    def send(self, obj):
        data = (json.dumps(obj) + '\n').encode('ascii')
        with self.send_lock:
            self.sock.sendall(data)

    def serve(self):
        try:
            self.sock.settimeout(HELLO_TIMEOUT)  # a client that never says hello holds no thread
            lines = self.lines()
            first = _parse(next(lines, b''))
            self.sock.settimeout(None)
            token = first.get('token') if isinstance(first, dict) else None
            if not (isinstance(first, dict) and first.get('op') == 'hello' and isinstance(token, str)
                    and compare_digest(token.encode('utf-8'), self.session.token)):
                self.send({'op': 'hello', 'ok': False, 'error': 'bad token'})
                return
            self.send({'op': 'hello', 'ok': True, 'session': self.session.sid,
                       'pid': self.session.pid})
            for line in lines:
                self.handle(_parse(line))
        except (OSError, ValueError):
            pass
        finally:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def lines(self):
        buf = bytearray()
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                return
            start = len(buf)
            buf += data
            end = buf.find(b'\n', start)
            while end >= 0:
                line = bytes(buf[:end])
                del buf[:end + 1]
                if line.strip():
                    yield line
                end = buf.find(b'\n')
            if len(buf) > MAX_LINE:
                self.send({'op': 'reply', 'id': None, 'ok': False,
                           'error': 'request longer than %d bytes' % MAX_LINE})
                return

    def handle(self, msg):
        rid = msg.get('id') if isinstance(msg, dict) else None
        try:
            if not isinstance(msg, dict):
                raise RequestError('a request must be a JSON object')
            op = msg.get('op')
            session = self.session
            if op == 'run':
                extra = session.add_cell(msg)
            elif op == 'follow':
                job = session.jobs.get(msg.get('job'))
                if job is None:
                    raise RequestError('no job %r in this session' % (msg.get('job'),))
                offset = msg.get('offset', 0)
                if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
                    raise RequestError('"offset" must be a byte offset >= 0')
                self.send({'op': 'reply', 'id': rid, 'ok': True})
                _thread.start_new_thread(self.follow, (job, offset))
                return
            elif op == 'interrupt':
                extra = {'was': session.interrupt(msg.get('job'))}
            elif op == 'status':
                extra = {'status': session.status_reply()}
            elif op == 'versions':  # what --in values may be (_cb_vars.skew), asked before sending
                import _cb_runner
                extra = {'versions': _cb_runner._vars().versions()}
            elif op == 'stop':
                self.send({'op': 'reply', 'id': rid, 'ok': True})
                session.end('stopped', 'cancelled', 'the session was stopped')
                return
            else:
                raise RequestError('unknown op %r' % (op,))
        except (RequestError, OSError) as e:
            self.send({'op': 'reply', 'id': rid, 'ok': False, 'error': str(e)})
            return
        except Exception as e:  # a bug of ours: said to the client, never printed into a cell
            _diag('request %r failed' % (msg,))
            self.send({'op': 'reply', 'id': rid, 'ok': False,
                       'error': 'internal error: %s: %s' % (type(e).__name__, e)})
            return
        reply = {'op': 'reply', 'id': rid, 'ok': True}
        reply.update(extra)
        self.send(reply)

    def follow(self, job, offset):
        """Pushes the job's log from `offset` as it grows, whole lines only, then `followed`
        after the `done` line."""
        try:
            fd = os.open(os.path.join(job.jobdir, 'events.jsonl'), os.O_RDONLY)
        except OSError as e:
            self.send({'op': 'followed', 'job': job.id, 'error': str(e)})
            return
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            partial = b''
            while not self.closed:
                with job.cond:
                    seen = job.version
                over = job.state == 'over'
                chunks = []
                while True:
                    data = os.read(fd, 1 << 20)
                    if not data:
                        break
                    chunks.append(data)
                data = partial + b''.join(chunks)
                cut = data.rfind(b'\n') + 1
                whole, partial = data[:cut], data[cut:]
                if whole:
                    end = find_done(whole)
                    self.send({'op': 'events', 'job': job.id,
                               'data': whole[:end].decode('utf-8', 'replace')})
                    if end is not None:
                        break
                    continue
                if over:
                    break  # the `done` line lies before the offset
                with job.cond:
                    if job.version == seen:
                        job.cond.wait(1.0)
            else:
                return
            self.send({'op': 'followed', 'job': job.id})
        except OSError:
            pass
        except Exception:
            _diag('following %s failed' % job.id)
        finally:
            os.close(fd)


def _parse(line):
    try:
        return json.loads(line.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        return None
