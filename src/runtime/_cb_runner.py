# One module on purpose: every section runs in a warm cell; one more costs ~0.23 ms (measured).
"""cluster-bridge runner implementation (VENV2 side): runs one notebook cell the way IPython does.

Usage: <venv2>/bin/python -u runner.py JOBDIR

Reads JOBDIR/bundle.json ({"code", "lineOffset", "cwd"?, "executionCount"?}), executes the code,
and appends events (src/shared/events.ts) to JOBDIR/events.jsonl: stream, display, result, error,
gpu, notice. Standard library only; IPython, matplotlib and torch are hooked when the cell uses them.
Python 3.8+. Exit status: 0 ok, 1 error in the cell, 130 KeyboardInterrupt, N for SystemExit(N).

Tunables (environment): CB_OUTPUT_BURST (bytes passed before throttling, default 16 MiB),
CB_OUTPUT_RATE (bytes/s after that, default 1 MiB/s), CB_FLUSH_INTERVAL (seconds, default 0.05).

Sections: output capture and throttling, rich display, hooks into libraries, GPU facts,
tracebacks, the cell. They stay one module: all but the tracebacks run in every trivial cell, and
each module imported costs about 0.23 ms even when empty (finder stats and the .pyc read; 10
empty modules timed on the test VM), paid by every warm cell's runner: six modules would add
~1.2 ms. Siblings (_cb_json, _cb_events, _cb_proc, shared with the agent, which has them loaded
already on the fork path) are imported here at import time only: afterwards sys.path no longer
lists this folder (the cell sees its cwd first, as in Jupyter).
"""
import _ast  # ~1 ms to set up its node classes: at import, which a held runner does early
import _thread  # not `threading`: its import is about 1 ms of a trivial cell
import os
import sys
import time
import types

import _cb_json as json  # json without `re`/`enum`: imports are most of a trivial cell's cost
from _cb_events import EventLog, notify_fd_from_environ
from _cb_proc import which

try:
    import _signal as signal  # the C module: `signal` would import enum
except ImportError:
    import signal

RUNNER_FILE = os.path.abspath(__file__)
HIDDEN_FILES = {RUNNER_FILE}  # frames from these are stripped from tracebacks (a session adds its own)
CELL_FILE = '<cell>'  # a session names each cell's code apart: its functions outlive the cell
FLUSH_SIZE = 1 << 20  # flush inline when this many characters are pending
MAX_EVENT_TEXT = 1 << 20  # split stream events bigger than this
OVERFLOW_CAP = 256 << 20  # keep at most this much dropped output on disk

REPR_METHODS = (
    ('_repr_html_', 'text/html'),
    ('_repr_markdown_', 'text/markdown'),
    ('_repr_svg_', 'image/svg+xml'),
    ('_repr_png_', 'image/png'),
    ('_repr_jpeg_', 'image/jpeg'),
    ('_repr_latex_', 'text/latex'),
    ('_repr_json_', 'application/json'),
    ('_repr_javascript_', 'application/javascript'),
    ('_repr_pdf_', 'application/pdf'),
)
BINARY_MIMES = ('image/png', 'image/jpeg', 'application/pdf')


def _env_number(name, default):
    try:
        return float(os.environ.get(name, ''))
    except ValueError:
        return default


class _Flag:
    """threading.Event's set/clear/wait on two _thread locks. `gate` is held exactly while the
    flag is clear, so wait() is one acquire."""

    def __init__(self):
        self.mutex = _thread.allocate_lock()
        self.gate = _thread.allocate_lock()
        self.gate.acquire()
        self.flag = False

    def is_set(self):
        return self.flag

    def set(self):
        with self.mutex:
            if not self.flag:
                self.flag = True
                self.gate.release()

    def clear(self):
        with self.mutex:
            if self.flag:
                self.gate.acquire()  # free but for a waiter's brief hold in wait()
                self.flag = False

    def wait(self, timeout=None):
        if self.gate.acquire(True, -1 if timeout is None else max(timeout, 0)):
            self.gate.release()
            return True
        return self.flag


class Throttle:
    """Token bucket over output bytes: a burst passes whole, then a steady rate; the rest is
    dropped with visible notices and kept in an overflow file."""

    def __init__(self, log, jobdir):
        self.log = log
        self.burst = _env_number('CB_OUTPUT_BURST', 16 << 20)
        self.rate = _env_number('CB_OUTPUT_RATE', 1 << 20)
        self.tokens = self.burst
        self.last = time.monotonic()
        self.overflow_path = os.path.join(jobdir, 'dropped-output.txt')
        self.overflow = None
        self.overflow_bytes = 0
        self.dropped_chars = 0
        self.dropped_lines = 0
        self.dropped_displays = 0
        self.dropping = False
        self.last_notice = 0.0
        self.notices = []  # written after the text that did pass, by the next flush

    def _refill(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def take_text(self, name, text):
        """Returns the part of text that may pass (a prefix, cut at a newline where possible)."""
        self._refill()
        n = len(text)
        if n <= self.tokens:
            self.tokens -= n
            self._recovered()
            return text
        allowed = int(max(0, self.tokens))
        cut = text.rfind('\n', 0, allowed) + 1 if allowed else 0
        passed, dropped = text[:cut], text[cut:]
        self.tokens -= len(passed)
        self._drop(name, dropped)
        return passed

    def take_display(self, size):
        self._refill()
        if size <= self.tokens:
            self.tokens -= size
            self._recovered()
            return True
        self.dropped_displays += 1
        self._drop(None, '')
        return False

    def _drop(self, name, text):
        self.dropped_chars += len(text)
        self.dropped_lines += text.count('\n')
        if text and self.overflow_bytes < OVERFLOW_CAP:
            try:
                if self.overflow is None:
                    self.overflow = open(self.overflow_path, 'a', encoding='utf-8', errors='replace')
                self.overflow.write(text)
                self.overflow_bytes += len(text)
            except OSError:
                pass
        now = time.monotonic()
        if not self.dropping:
            self.dropping = True
            self.last_notice = now
            self.notices.append({'type': 'notice', 'text': (
                'Output is arriving faster than %s/s after the first %s: dropping output until it '
                'slows down. Dropped text is kept on the remote in %s' % (
                    _size(self.rate), _size(self.burst), self.overflow_path))})
        elif now - self.last_notice > 5:
            self.last_notice = now
            self.notices.append({'type': 'notice', 'text': self.summary('so far')})

    def _recovered(self):
        if self.dropping:
            self.dropping = False

    def summary(self, when):
        parts = []
        if self.dropped_chars:
            parts.append('%s (%d lines) of text' % (_size(self.dropped_chars), self.dropped_lines))
        if self.dropped_displays:
            parts.append('%d displays' % self.dropped_displays)
        return 'Output throttled: dropped %s %s; see %s on the remote.' % (
            ' and '.join(parts), when, self.overflow_path)

    def close(self):
        if self.notices:
            self.log.write(self.notices)
            self.notices = []
        if self.dropped_chars or self.dropped_displays:
            self.log.write([{'type': 'notice', 'text': self.summary('in total')}])
        if self.overflow is not None:
            try:
                self.overflow.close()
            except OSError:
                pass


def _size(n):
    n = float(n)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0


class Streams:
    """Collects stdout/stderr text (Python-level writes and fd-level pipe data) and writes it as
    coalesced `stream` events: time-based flush (CB_FLUSH_INTERVAL) or when a lot is pending.
    Lock order: flush_lock -> pipe_lock -> lock."""

    def __init__(self, log, throttle):
        self.log = log
        self.throttle = throttle
        self.lock = _thread.allocate_lock()
        self.flush_lock = _thread.allocate_lock()
        self.pipe_lock = _thread.allocate_lock()
        self.groups = []
        self.pending = 0
        self.armed = False
        self.wake = _Flag()
        self.interval = _env_number('CB_FLUSH_INTERVAL', 0.05)
        self.pipes = []  # (read fd, name, incremental decoder)
        self.last_flush = 0.0
        self.owner = os.getpid()
        self.urgent = _Flag()
        self.wrappers = []  # C-buffered text streams whose buffers flush into _append
        self.closed = False
        _thread.start_new_thread(self._flusher, ())  # like a daemon thread: exit does not wait

    def write(self, name, text):
        self.writer(name)(text)

    def _append(self, name, text):
        """Adds text without flushing: for callers that may hold flush_lock (read_pipes)."""
        with self.lock:
            big = self._add(name, text) > FLUSH_SIZE
            arm = not self.armed
            self.armed = True
        if arm:
            self.wake.set()
        if big:
            self.urgent.set()

    def _add(self, name, text):
        """Queues text after what is pending (callers hold self.lock); returns the pending size."""
        groups = self.groups
        if groups and groups[-1][0] is name:
            groups[-1][1].append(text)
        else:
            groups.append((name, [text]))
        self.pending += len(text)
        return self.pending

    def writer(self, name):
        """A write(text) function for one stream: the hot path of print(file=sys.stderr) (sys.stdout
        is C-buffered, see _make_fast_stream)."""
        lock = self.lock
        wake = self.wake

        def write(text):
            if text.__class__ is not str and not isinstance(text, str):
                raise TypeError('write() argument must be str, not %s' % type(text).__name__)
            with lock:
                if self._add(name, text) > FLUSH_SIZE:
                    big = True
                else:
                    big = False
                    if self.armed:
                        return len(text)
                    self.armed = True
            if big:
                self.flush()
            else:
                wake.set()
            return len(text)
        return write

    def _flusher(self):
        while not self.closed:
            self.wake.wait()
            self.urgent.wait(self.interval)  # cut short when a lot is pending
            self.urgent.clear()
            self.wake.clear()
            with self.lock:
                self.armed = False
            try:
                self.flush()
            except Exception:  # never let the flusher die silently
                _diag('flush failed')

    def capture_fds(self):
        """Point fds 1 and 2 at pipes read here, so subprocesses and C code are captured."""
        import codecs
        import select
        for fd, name in ((1, 'stdout'), (2, 'stderr')):
            r, w = os.pipe()
            os.dup2(w, fd)
            os.close(w)
            os.set_blocking(r, False)
            decoder = codecs.getincrementaldecoder('utf-8')('replace')
            self.pipes.append((r, name, decoder))
        readers = [p[0] for p in self.pipes]

        def pump():
            while True:
                try:
                    select.select(readers, [], [])
                except (OSError, ValueError):
                    return
                self.read_pipes()
                if self.pending > FLUSH_SIZE:
                    self.flush()

        _thread.start_new_thread(pump, ())

    def read_pipes(self):
        with self.pipe_lock:
            for r, name, decoder in self.pipes:
                while True:
                    try:
                        data = os.read(r, 65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if not data:
                        break
                    self._append(name, decoder.decode(data))

    def flush_wrappers(self):
        """Moves what the C-buffered sys.stdout holds into the buffer (the base class's flush:
        the override would come back here)."""
        import io
        for wrapper in self.wrappers:
            try:
                io.TextIOWrapper.flush(wrapper)
            except (RuntimeError, ValueError, OSError):
                pass  # reentrant call from a signal handler, or closed by the cell

    def user_flush(self):
        """sys.stdout.flush(): write pending text now, at most every 2 ms (a loop of
        print(..., flush=True) must not become one event per line); otherwise the timer does."""
        if self.pending and time.monotonic() - self.last_flush > 0.002:
            self.flush()

    def flush(self, blocking=True):
        # Non-blocking only from the SIGTERM handler, which may interrupt a holder of the lock.
        if not self.flush_lock.acquire(blocking):
            return
        try:
            self.flush_unlocked()
        finally:
            self.flush_lock.release()

    def retarget(self, log, throttle):
        """Sends later output to another log (a session's next cell); what is pending goes to
        the current one first."""
        with self.flush_lock:
            self.flush_unlocked()
            self.log = log
            self.throttle = throttle

    def emit(self, event):
        """Write a non-stream event after the text written before it (keeps the order)."""
        if os.getpid() != self.owner:
            return  # only the runner process writes events (seq numbers stay increasing)
        with self.flush_lock:
            self.flush_unlocked()
            self.log.write([event])

    def flush_unlocked(self):
        # Callers hold flush_lock.
        if os.getpid() != self.owner:
            return  # a forked child (os.fork, multiprocessing): its output goes through fds 1/2
        self.flush_wrappers()
        self.last_flush = time.monotonic()
        if self.pipes:
            self.read_pipes()
        with self.lock:
            groups, self.groups = self.groups, []
            self.pending = 0
        events = []
        for name, parts in groups:
            text = self.throttle.take_text(name, ''.join(parts))
            for i in range(0, len(text), MAX_EVENT_TEXT):
                events.append({'type': 'stream', 'name': name, 'text': text[i:i + MAX_EVENT_TEXT]})
        if self.throttle.notices:
            events.extend(self.throttle.notices)
            self.throttle.notices = []
        self.log.write(events)


class _BinaryStream:
    """sys.stdout.buffer: bytes decoded as UTF-8 with replacement characters."""

    def __init__(self, text):
        import codecs
        self._text = text
        self._decoder = codecs.getincrementaldecoder('utf-8')('replace')

    def write(self, data):
        data = bytes(data)
        self._text.write(self._decoder.decode(data))
        return len(data)

    def flush(self):
        self._text.flush()

    def writable(self):
        return True

    def fileno(self):
        return self._text.fileno()

    def isatty(self):
        return False


def _make_fast_stream(streams, name, fileno):
    """sys.stdout as C code: a TextIOWrapper over a BufferedWriter whose raw sink decodes each
    64 KiB chunk into the stream buffer, so print() costs what it costs in plain Python."""
    import codecs
    import io

    class Sink(io.RawIOBase):
        def __init__(self):
            io.RawIOBase.__init__(self)
            self._decoder = codecs.getincrementaldecoder('utf-8')('replace')

        def writable(self):
            return True

        def write(self, data):
            streams._append(name, self._decoder.decode(bytes(data)))
            return len(data)

        def fileno(self):
            return fileno

        def isatty(self):
            return False

    class FastStream(io.TextIOWrapper):
        def flush(self):
            io.TextIOWrapper.flush(self)
            streams.user_flush()

    stream = FastStream(io.BufferedWriter(Sink(), 1 << 16), encoding='utf-8',
                        errors='surrogateescape')
    streams.wrappers.append(stream)
    return stream


def _make_text_stream(streams, name, fileno):
    import io

    class TextStream(io.TextIOBase):
        encoding = 'utf-8'
        errors = 'replace'
        newlines = None
        line_buffering = False

        def write(self, s):  # replaced per instance by the fast closure below
            return fast_write(s)

        def _ordered_write(self, s):
            streams.flush_wrappers()  # text still buffered in C for stdout goes first
            return fast_write(s)

        def writable(self):
            return True

        def readable(self):
            return False

        def flush(self):
            streams.user_flush()

        def fileno(self):
            return fileno

        def isatty(self):
            return False

        @property
        def name(self):
            return '<%s>' % name

    fast_write = streams.writer(name)
    stream = TextStream()
    # An instance attribute: print() finds it without a method call.
    stream.write = stream._ordered_write if streams.wrappers else fast_write
    stream.buffer = _BinaryStream(stream)
    return stream


# ---------------------------------------------------------------------------------------------
# Rich display


def _b64(data):
    import base64
    return base64.b64encode(data).decode('ascii')


def _plain(obj):
    text = repr(obj)
    if len(text) > 79 and type(obj) in (dict, list, tuple, set):
        try:
            import pprint
            text = pprint.pformat(obj, sort_dicts=False)
        except Exception:
            pass
    return text


def _figure_png(fig):
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format='png', bbox_inches='tight')
    return _b64(buf.getvalue())


def _is_figure(obj):
    cls = type(obj)
    return cls.__module__.startswith('matplotlib.') and any(
        c.__name__ == 'Figure' and c.__module__ == 'matplotlib.figure' for c in cls.__mro__)


def format_object(obj, include=None, exclude=None):
    """(data, metadata) for obj, the way IPython's display formatter builds a mime bundle."""
    data = {}
    metadata = {}
    rich = not isinstance(obj, type)
    if rich:
        try:
            # Objects that claim every attribute (proxies, mocks) get only text/plain.
            rich = not hasattr(obj, '_ipython_canary_method_should_not_exist_')
        except Exception:
            rich = False
    if rich:
        method = _get_method(obj, '_repr_mimebundle_')
        if method is not None:
            try:
                out = method(include=include, exclude=exclude)
            except TypeError:
                out = _call_repr(method)
            except Exception:
                out = None
                _repr_failed(obj, '_repr_mimebundle_')
            if isinstance(out, tuple) and len(out) == 2:
                out, md = out
                if isinstance(md, dict):
                    metadata.update(md)
            if isinstance(out, dict):
                for mime, value in out.items():
                    data[mime] = _normalize(mime, value)
        for attr, mime in REPR_METHODS:
            if mime in data:
                continue
            method = _get_method(obj, attr)
            if method is None:
                continue
            try:
                value = method()
            except NotImplementedError:
                continue
            except Exception:
                _repr_failed(obj, attr)
                continue
            if value is None:
                continue
            if isinstance(value, tuple) and len(value) == 2:
                value, md = value
                if md:
                    metadata[mime] = md
            data[mime] = _normalize(mime, value)
        if 'image/png' not in data and _is_figure(obj):
            try:
                data['image/png'] = _figure_png(obj)
            except Exception:
                _repr_failed(obj, 'savefig')
    if 'text/plain' not in data:
        try:
            data['text/plain'] = _plain(obj)
        except Exception as e:
            data['text/plain'] = '<repr of %s failed: %s>' % (type(obj).__name__, e)
    if include:
        data = dict((k, v) for k, v in data.items() if k in include)
    if exclude:
        data = dict((k, v) for k, v in data.items() if k not in exclude)
    return data, metadata


def _get_method(obj, attr):
    try:
        method = getattr(obj, attr, None)
    except Exception:
        return None
    return method if callable(method) else None


def _call_repr(method):
    try:
        return method()
    except Exception:
        return None


def _normalize(mime, value):
    if mime in BINARY_MIMES and isinstance(value, (bytes, bytearray)):
        return _b64(bytes(value))
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode('utf-8', 'replace')
    if mime == 'application/json' and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _repr_failed(obj, attr):
    import traceback
    sys.stderr.write('%s.%s() failed:\n%s' % (type(obj).__name__, attr, traceback.format_exc()))


class DisplayHandle:
    """Returned by display(..., display_id=...): update() replaces the output in place."""

    def __init__(self, display_id=None):
        self.display_id = display_id or os.urandom(16).hex()

    def __repr__(self):
        return '<DisplayHandle display_id=%s>' % self.display_id

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        update_display(obj, display_id=self.display_id, **kwargs)


_STATE = {}


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None,
            raw=False, clear=False, update=False, **kwargs):
    """IPython's display(): each object becomes a `display` event with its rich reprs."""
    ctx = _STATE.get('ctx')
    if transient and transient.get('display_id'):
        display_id = transient['display_id']
    if display_id is True:
        display_id = os.urandom(16).hex()
    for obj in objs:
        if raw:
            data, md = dict(obj), dict(metadata or {})
        else:
            custom = None if isinstance(obj, type) else _get_method(obj, '_ipython_display_')
            if custom is not None and not update:
                custom()
                continue
            data, md = format_object(obj, include, exclude)
            if metadata:
                md.update(metadata)
        event = {'type': 'display', 'data': data}
        if md:
            event['metadata'] = md
        if display_id:
            event['displayId'] = str(display_id)
        if update:
            event['update'] = True
        if ctx is not None:
            ctx.emit_output(event)
        else:
            sys.stdout.write(str(data.get('text/plain', '')) + '\n')
    if display_id and not update:
        ipython = sys.modules.get('IPython.core.display_functions')
        cls = getattr(ipython, 'DisplayHandle', None) if ipython is not None else None
        return (cls or DisplayHandle)(display_id)
    return None


def update_display(obj, *, display_id, **kwargs):
    kwargs['update'] = True
    display(obj, display_id=display_id, **kwargs)


def clear_output(wait=False):
    """No clear event exists in the event log; kept so code written for Jupyter runs."""
    return None


def publish_display_data(data, metadata=None, source=None, *, transient=None, **kwargs):
    display(data, raw=True, metadata=metadata, transient=transient, **kwargs)


# ---------------------------------------------------------------------------------------------
# Hooks into libraries the cell may import (installed lazily: importing them is slow)


class _PostImportHook:
    """A meta path finder that patches a module right after it is executed."""

    def __init__(self, hooks):
        self.hooks = hooks

    def find_spec(self, fullname, path=None, target=None):
        hook = self.hooks.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, 'exec_module'):
            return spec

        class Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    hook(module)
                except Exception:
                    _diag('hook for %s failed' % fullname)

            def __getattr__(self, name):
                return getattr(loader, name)

        spec.loader = Loader()
        return spec


def _patch_ipython(module):
    for name, func in (('display', display), ('update_display', update_display),
                       ('clear_output', clear_output),
                       ('publish_display_data', publish_display_data)):
        if name in module.__dict__:
            setattr(module, name, func)


def _patch_pyplot(module):
    def show(*args, **kwargs):
        emit_figures(module)
    show.__doc__ = 'cluster-bridge: sends every open figure to the cell as PNG, then closes it.'
    module.show = show


def emit_figures(pyplot=None):
    plt = pyplot or sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return
    for num in list(plt.get_fignums()):
        fig = plt.figure(num)
        try:
            data = {'image/png': _figure_png(fig), 'text/plain': repr(fig)}
        except Exception:
            _repr_failed(fig, 'savefig')
            data = None
        plt.close(fig)
        if data is not None:
            display(data, raw=True)


def _flush_python_streams():
    ctx = _STATE.get('ctx')
    if ctx is not None:
        ctx.streams.flush_wrappers()


def _drain_pipes():
    """Reads what a finished child left in the fd 1/2 pipes now, so it precedes the cell's next
    print (the pump thread might otherwise read it a moment later)."""
    ctx = _STATE.get('ctx')
    if ctx is not None and ctx.streams.pipes:
        try:
            ctx.streams.read_pipes()
        except Exception:
            pass


def _patch_subprocess(module):
    popen = getattr(module, 'Popen', None)
    if popen is None or getattr(popen.wait, '_cb_patched', False):
        return
    original = popen.wait
    original_init = popen.__init__

    def __init__(self, *args, **kwargs):
        _flush_python_streams()  # the cell's earlier prints come before the child's output
        original_init(self, *args, **kwargs)
    __init__.__doc__ = original_init.__doc__
    popen.__init__ = __init__

    def wait(self, timeout=None):
        code = original(self, timeout)
        _drain_pipes()
        return code
    wait._cb_patched = True
    wait.__doc__ = original.__doc__
    popen.wait = wait


def _patch_os_system():
    original = os.system

    def system(command):
        _flush_python_streams()
        code = original(command)
        _drain_pipes()
        return code
    system.__doc__ = original.__doc__
    os.system = system


_SOURCES = {}  # cell file name -> source (a session keeps every cell's: its functions live on)
_LABELS = {}  # cell file name -> traceback label ("Cell In[3]")


def register_cell_source(linecache):
    """The cells' source for tracebacks, inspect and warnings (mtime None: checkcache keeps it)."""
    for filename, source in _SOURCES.items():
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


HOOKS = {
    'linecache': register_cell_source,
    'subprocess': _patch_subprocess,
    'matplotlib.pyplot': _patch_pyplot,
    'IPython.core.display_functions': _patch_ipython,
    'IPython.core.display': _patch_ipython,
    'IPython.display': _patch_ipython,
}


def install_hooks():
    _patch_os_system()
    for name, hook in HOOKS.items():
        if name in sys.modules:
            hook(sys.modules[name])
    sys.meta_path.insert(0, _PostImportHook(HOOKS))


# ---------------------------------------------------------------------------------------------
# GPU facts


class GpuSampler:
    """Samples nvidia-smi while the cell runs, for the peak memory of each visible device."""
    QUERY = '--query-gpu=index,uuid,name,memory.total,memory.used'

    def __init__(self):
        self.smi = which('nvidia-smi')
        self.cvd = os.environ.get('CUDA_VISIBLE_DEVICES')
        self.samples = {}
        self.proc = None
        self.got = _Flag()
        if self.smi:
            import subprocess
            try:
                self.proc = subprocess.Popen(
                    [self.smi, self.QUERY, '--format=csv,noheader,nounits', '-lms', '500'],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
            except OSError:
                self.proc = None
            else:
                _thread.start_new_thread(self._read, ())

    def wanted(self):
        """A GPU card only where there is something GPU to say: devices assigned or visible to
        nvidia-smi, or CUDA in use through torch (not torch alone, as on a CPU-only node)."""
        return self.cvd is not None or self.smi is not None or self._torch_cuda() is not None

    @staticmethod
    def _torch_cuda():
        torch = sys.modules.get('torch')
        try:
            cuda = torch.cuda if torch is not None else None
            if cuda is not None and cuda.is_available() and cuda.is_initialized():
                return cuda
        except Exception:
            pass
        return None

    def _read(self):
        for raw in self.proc.stdout:
            parts = [p.strip() for p in raw.decode('utf-8', 'replace').split(',')]
            if len(parts) < 5:
                continue
            try:
                index = int(parts[0])
                total = int(float(parts[3])) << 20
                used = int(float(parts[4])) << 20
            except ValueError:
                continue
            old = self.samples.get(index)
            peak = max(used, old['memoryPeak']) if old else used
            self.samples[index] = {'index': index, 'uuid': parts[1], 'name': parts[2],
                                   'memoryTotal': total, 'memoryUsed': used, 'memoryPeak': peak}
            self.got.set()

    def _visible(self, devices):
        if not self.cvd or self.cvd.strip() in ('', 'all'):
            return devices
        wanted = [x.strip() for x in self.cvd.split(',') if x.strip()]
        out = []
        for w in wanted:
            for d in devices:
                if str(d['index']) == w or d.get('uuid', '').startswith(w):
                    out.append(d)
        return out

    def facts(self):
        devices = []
        source = 'env'
        cuda = self._torch_cuda()
        if cuda is not None:
            try:
                for i in range(cuda.device_count()):
                    free, total = cuda.mem_get_info(i)
                    devices.append({'index': i, 'name': cuda.get_device_name(i),
                                    'memoryTotal': int(total), 'memoryUsed': int(total - free),
                                    'memoryPeak': int(cuda.max_memory_allocated(i))})
                source = 'torch'
            except Exception:
                devices = []
        if not devices and self.proc is not None:
            self.got.wait(3)
            devices = self._visible([self.samples[k] for k in sorted(self.samples)])
            if devices:
                source = 'nvidia-smi'
        if not devices and self.cvd:
            for i, ident in enumerate(x.strip() for x in self.cvd.split(',')):
                if ident and ident not in ('NoDevFiles', '-1'):
                    devices.append({'index': i, 'name': 'GPU %s' % ident})
        event = {'type': 'gpu', 'devices': devices, 'source': source}
        if self.cvd is not None:
            event['cudaVisibleDevices'] = self.cvd
        try:
            import socket
            event['host'] = socket.gethostname()
        except Exception:
            pass
        return event

    def stop(self):
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Tracebacks

RED = '\x1b[0;31m'
GREEN = '\x1b[0;32m'
CYAN = '\x1b[0;36m'
BOLD_RED = '\x1b[1;31m'
RESET = '\x1b[0m'


def format_traceback(etype, evalue, tb):
    """IPython-style traceback lines for the cell, with the runner's own frames removed."""
    import linecache
    import traceback
    register_cell_source(linecache)
    te = traceback.TracebackException(etype, evalue, tb, limit=None)
    chain = []
    seen = set()
    cur = te
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if cur.__cause__ is not None:
            chain.append((cur, 'The above exception was the direct cause of the following exception:'))
            cur = cur.__cause__
        elif cur.__context__ is not None and not cur.__suppress_context__:
            chain.append((cur, 'During handling of the above exception, another exception occurred:'))
            cur = cur.__context__
        else:
            chain.append((cur, None))
            cur = None
    chain.reverse()
    lines = []
    for i, (exc, _) in enumerate(chain):
        if i > 0:
            lines.append('\n%s\n' % chain[i][1])
        lines.extend(_format_one(exc))
    return lines


def _format_one(te):
    import linecache
    register_cell_source(linecache)
    out = []
    stack = [fs for fs in te.stack if fs.filename not in HIDDEN_FILES]
    firsts = [i for i, fs in enumerate(stack) if fs.filename in _LABELS]
    if firsts:
        stack = stack[firsts[0]:]  # drop plumbing (asyncio etc.) before the cell's first frame
    ename = te.exc_type.__qualname__ if te.exc_type else 'Exception'
    mod = te.exc_type.__module__ if te.exc_type else 'builtins'
    if mod not in ('builtins', '__main__'):
        ename = mod + '.' + ename
    if stack:
        out.append('%s%s%s' % (RED, '-' * 75, RESET))
        out.append('%s%s%sTraceback (most recent call last)' % (RED, ename.ljust(42), RESET))
    for fs in stack:
        if fs.filename in _LABELS:
            head = '%s%s, line %d%s' % (CYAN, _LABELS[fs.filename], fs.lineno, RESET)
            if fs.name != '<module>':
                head += ', in %s()' % fs.name
            context = 2
        else:
            head = '%sFile %s:%d%s, in %s()' % (CYAN, fs.filename, fs.lineno, RESET, fs.name)
            context = 2
        body = [head]
        lo = max(1, fs.lineno - context)
        for n in range(lo, fs.lineno + context + 1):
            src = linecache.getline(fs.filename, n)
            if not src and n > fs.lineno:
                break
            src = src.rstrip('\n')
            if n == fs.lineno:
                body.append('%s---> %d%s %s' % (GREEN, n, RESET, src))
            elif src.strip() or n < fs.lineno:
                body.append('%s%s%s %s' % (GREEN, str(n).rjust(6), RESET, src))
        out.append('\n'.join(body) + '\n')
    only = list(te.format_exception_only())
    text = ''.join(only).rstrip('\n')
    if issubclass(te.exc_type, SyntaxError) if te.exc_type else False:
        for filename, label in _LABELS.items():
            text = text.replace('File "%s", ' % filename, label + ', ')
    last = text.split('\n')
    if last:
        tail = last[-1]
        if ': ' in tail or tail == ename.split('.')[-1]:
            name, _, rest = tail.partition(': ')
            last[-1] = '%s%s%s%s' % (BOLD_RED, name, RESET, (': ' + rest) if rest else '')
    out.append('\n'.join(last))
    return out


# ---------------------------------------------------------------------------------------------
# The cell


def _diag(message):
    """Runner diagnostics go to the agent's log (the original stderr), never to the cell."""
    import traceback
    fd = _STATE.get('diag_fd', 2)
    try:
        os.write(fd, ('cluster-bridge runner: %s\n%s' % (message, traceback.format_exc())).encode(
            'utf-8', 'replace'))
    except OSError:
        pass


class Cell:
    """One cell: its bundle, event log and output budget. A one-off runner's cell also owns the
    output capture (Streams); a session passes its own, set up once, with its log and file name."""

    def __init__(self, jobdir, bundle=None, log=None, streams=None, filename=CELL_FILE):
        self.jobdir = jobdir
        if bundle is None:
            with open(os.path.join(jobdir, 'bundle.json'), 'rb') as f:
                bundle = json.loads(f.read().decode('utf-8'))
        self.bundle = bundle
        if log is None:
            # A full disk stops the cell (KeyboardInterrupt) after the log said why.
            log = EventLog(jobdir, notify_fd_from_environ(), on_full=_thread.interrupt_main)
        self.log = log
        self.throttle = Throttle(self.log, jobdir)
        self.streams = streams if streams is not None else Streams(self.log, self.throttle)
        self.filename = filename
        count = bundle.get('executionCount')
        self.label = 'Cell In[%s]' % count if count is not None else 'Cell'
        self.set_up = False
        self.setup_error = None
        self.notices = []  # from setup, written when the cell starts

    def emit_output(self, event):
        if event.get('type') in ('display', 'result'):
            try:
                size = len(json.dumps(event.get('data')))
            except (TypeError, ValueError, RecursionError):
                size = sum(len(repr(v)) for v in (event.get('data') or {}).values())
            if not self.throttle.take_display(size):
                self.streams.flush()
                return
        self.streams.emit(event)

    def prepare(self):
        """setup() ahead of the cell (a held runner): writes nothing, keeps a failure for main."""
        try:
            self.setup()
        except Exception as e:
            self.setup_error = e

    def setup(self):
        if self.set_up:
            return
        self.set_up = True
        _STATE['ctx'] = self
        capture_output(self.streams)
        self.notices.extend(change_dir(self.bundle.get('cwd')))

    def run(self, main=None):
        """Runs the code in `main` (a session's lasting __main__), else in a new __main__."""
        offset = int(self.bundle.get('lineOffset') or 0)
        code = self.bundle.get('code') or ''
        source = '\n' * offset + code
        filename = self.filename
        _SOURCES[filename] = source
        _LABELS[filename] = self.label
        if 'linecache' in sys.modules:
            register_cell_source(sys.modules['linecache'])
        if main is None:
            main = types.ModuleType('__main__')
            main.__dict__['__builtins__'] = __builtins__
            sys.modules['__main__'] = main
            sys.argv = ['<cell>']
        ns = main.__dict__
        flags = getattr(_ast, 'PyCF_ALLOW_TOP_LEVEL_AWAIT', 0)
        try:
            # ast.parse without importing ast (which imports enum)
            tree = compile(source, filename, 'exec', _ast.PyCF_ONLY_AST, dont_inherit=True)
            last = None
            if tree.body and isinstance(tree.body[-1], _ast.Expr):
                last = _ast.Expression(tree.body.pop().value)
            body = compile(tree, filename, 'exec', flags=flags, dont_inherit=True)
            last_code = compile(last, filename, 'eval', flags=flags, dont_inherit=True) if last else None
            element = self.bundle.get('arrayElement')
            if element:
                ns[element['name']] = element['value']  # an --array element's value
            if self.bundle.get('syncDir'):
                enter_sync_dir(self.bundle['syncDir'])
            if self.bundle.get('varsIn'):
                _vars().receive(self.bundle, ns)
            self._eval(body, ns)
            if last_code is not None:
                value = self._eval(last_code, ns)
                if value is not None and not _ends_with_semicolon(code):
                    ns['_'] = value
                    custom = None if isinstance(value, type) else _get_method(value, '_ipython_display_')
                    if custom is not None:
                        custom()
                    else:
                        data, md = format_object(value)
                        event = {'type': 'result', 'data': data}
                        if md:
                            event['metadata'] = md
                        self.emit_output(event)
            if self.bundle.get('varsOut'):
                _vars().send(self.bundle, ns)
            return 0
        except SystemExit as e:
            status = e.code
            if status is None or status == 0:
                return 0
            self._error(type(e), e, None)
            return status if isinstance(status, int) else 1
        except KeyboardInterrupt as e:
            self._error(type(e), e, e.__traceback__)
            return 130
        except BaseException as e:
            self._error(type(e), e, e.__traceback__)
            return 1

    def _eval(self, code, ns):
        result = eval(code, ns)
        if code.co_flags & 0x80:  # CO_COROUTINE: the cell used top-level await
            import asyncio
            loop = _STATE.get('loop')
            if loop is None:
                loop = _STATE['loop'] = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
            result = loop.run_until_complete(result)
        return result

    def _error(self, etype, evalue, tb):
        try:
            traceback = format_traceback(etype, evalue, tb)
        except Exception:
            _diag('formatting a traceback failed')
            traceback = ['%s: %s' % (etype.__name__, evalue)]
        try:
            evalue_text = str(evalue)
        except Exception:
            evalue_text = '<unprintable %s>' % etype.__name__
        self.streams.emit({'type': 'error', 'ename': etype.__name__, 'evalue': evalue_text,
                           'traceback': traceback})

    def finish(self, sampler, mute_interrupts=True):
        """Figures, GPU facts, the last output. mute_interrupts: a session's handler guards this
        itself (and must keep working for the next cell)."""
        if os.getpid() != self.streams.owner:
            return  # a child the cell forked, leaving through sys.exit(): nothing to report
        if mute_interrupts:
            # Late interrupts must not cut the bookkeeping short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            emit_figures()
        except Exception:
            _diag('emitting figures failed')
        if sampler is not None and sampler.wanted():
            try:
                self.streams.emit(sampler.facts())
            except Exception:
                _diag('GPU facts failed')
        if sampler is not None:
            sampler.stop()
        self.streams.flush()
        self.throttle.close()


def _vars():
    """The --in/--out codec, imported only by cells that move variables."""
    module = sys.modules.get('_cb_vars')
    if module is None:
        # The runtime folder is off sys.path while cells run: load it by its path.
        import importlib.util
        path = os.path.join(os.path.dirname(RUNNER_FILE), '_cb_vars.py')
        spec = importlib.util.spec_from_file_location('_cb_vars', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules['_cb_vars'] = module
        HIDDEN_FILES.add(path)
    return module


def capture_output(streams):
    """Process-wide and once: fds 1/2 and sys.stdout/stderr into `streams`, display(), the
    library hooks. A one-off cell does it in setup(); a session at its start."""
    _STATE['diag_fd'] = os.dup(2)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    try:
        streams.capture_fds()
    except OSError:
        _diag('could not capture fds 1 and 2')
    sys.stdout = _make_fast_stream(streams, 'stdout', 1)
    sys.stderr = _make_text_stream(streams, 'stderr', 2)
    import builtins
    builtins.display = display
    os.register_at_fork(after_in_child=_after_fork_in_child)
    install_hooks()
    import atexit
    atexit.register(streams.flush)  # registered first, so it runs after the cell's own


def enter_sync_dir(path):
    """--sync: the cell runs in the project's mirror, first on sys.path (`import mymodule`)."""
    os.chdir(path)
    if sys.path[:1] != [path]:
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    import importlib
    importlib.invalidate_caches()  # a session: files synced since its last cell must be found


def change_dir(cwd):
    """chdir to cwd (default ~); returns the notice events for a folder that cannot be used."""
    cwd = cwd or os.path.expanduser('~')
    try:
        os.chdir(cwd)
    except OSError as e:
        text = 'Could not change to %s (%s); running in %s' % (cwd, e.strerror, os.getcwd())
        return [{'type': 'notice', 'text': text}]
    return []


def _after_fork_in_child():
    """In a child forked by the cell (multiprocessing workers...): the flusher thread is gone and
    the event log belongs to the parent, so print through fds 1/2, which the parent's pump thread
    reads, and let display() print text."""
    import io
    _STATE['ctx'] = None
    # The runner's handlers write to the parent's event log: children get Python's defaults.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for fd, name in ((1, 'stdout'), (2, 'stderr')):
        stream = io.TextIOWrapper(io.FileIO(fd, 'w', closefd=False), encoding='utf-8',
                                  errors='replace', line_buffering=True)
        setattr(sys, name, stream)


def _ends_with_semicolon(code):
    lines = [ln for ln in code.rstrip().split('\n')]
    last = lines[-1].split('#', 1)[0].rstrip() if lines else ''
    return last.endswith(';')


def _install_signals(cell):
    last = [0.0]

    def on_sigint(signum, frame):
        # A group signal plus a forwarded one can arrive together: raise once.
        now = time.monotonic()
        if now - last[0] < 0.3:
            return
        last[0] = now
        raise KeyboardInterrupt

    def on_sigterm(signum, frame):
        try:
            cell.streams.flush(blocking=False)
            cell.log.write([{'type': 'notice', 'text': 'Terminated (SIGTERM).'}])
        finally:
            os._exit(143)

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)


def main(argv, cell=None):
    """cell: made ahead by the agent's held fork (fork_runner), else here."""
    if len(argv) != 2:
        sys.stderr.write('usage: runner.py JOBDIR\n')
        return 2
    jobdir = os.path.abspath(argv[1])
    if cell is None:
        cell = Cell(jobdir)
    _install_signals(cell)
    sampler = None
    try:
        cell.setup()
        if cell.setup_error is not None:
            raise cell.setup_error
        if cell.notices:
            cell.log.write(cell.notices)
        sampler = GpuSampler()
        status = cell.run()
    except BaseException as e:  # the runner itself failed: say so in the cell
        _diag('runner failure')
        cell._error(type(e), e, e.__traceback__)
        status = 1
    cell.finish(sampler)
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv))
