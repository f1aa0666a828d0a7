"""Array jobs (`--array name=v1,v2,...`): one element per value, each a job of its own in
JOBDIR/elements/<k>/ (bundle.json with the binding, events.jsonl, status.json), run by the
unchanged run_job. The scheduler's job array starts `array-element` once per element; on a
direct host `launch` runs run_direct, which starts them itself, at most max-parallel at once.
`array-follow` streams every element's events on one channel, each line prefixed `k<TAB>`;
after a dropped connection, `--offsets` resumes each element's log where the bridge had it.

Python 3.6+, standard library only.
"""
import os
import sys
import time

import _cb_json as json
from _cb_events import EventLog, find_done, has_done, write_all
from _cb_jobfiles import read_json, update_status

try:
    import _signal as signal
except ImportError:
    import signal

# A running (or env-building) element's status.json is touched every 30 s (_cb_job.HEARTBEAT_S): this long
# without a touch, its node or process is gone (killed outright, node failure) and it ends lost.
LOST_AFTER_S = 150.0

# Where each scheduler puts the element's index, and what its first index is.
INDEX_VARS = (('CB_ARRAY_INDEX', 0), ('SLURM_ARRAY_TASK_ID', 0), ('SGE_TASK_ID', 1),
              ('PBS_ARRAY_INDEX', 0), ('PBS_ARRAYID', 0))


class ArrayError(Exception):
    pass


def array_of(bundle):
    """(name, values, max_parallel) of an array bundle, or None."""
    request = (bundle or {}).get('request') or {}
    spec = request.get('array')
    if not isinstance(spec, dict):
        return None
    values = spec.get('values')
    if not isinstance(spec.get('name'), str) or not isinstance(values, list) or not values:
        raise ArrayError('bundle.json: request.array needs a name and a non-empty list of values')
    return spec['name'], values, request.get('maxParallel')


def element_index(environ, count):
    """This element's index (0-based) from the scheduler's variable; ArrayError when none is
    set or it is out of range."""
    for var, first in INDEX_VARS:
        text = environ.get(var)
        if text in (None, '', 'undefined'):
            continue
        try:
            k = int(text) - first
        except ValueError:
            raise ArrayError('%s=%r is not an array index' % (var, text))
        if not 0 <= k < count:
            raise ArrayError('%s=%s is outside the array (%d elements)' % (var, text, count))
        return k
    if count == 1:
        return 0  # one element (a rerun) is submitted as a plain job
    raise ArrayError('no array index in the environment (%s)'
                     % ', '.join(v for v, _ in INDEX_VARS))


def element_dir(jobdir, k):
    return os.path.join(jobdir, 'elements', str(k))


def prepare_element(jobdir, bundle, k):
    """elements/<k>/ with the array's bundle plus this element's binding. Returns its path."""
    name, values, _ = array_of(bundle)
    path = element_dir(jobdir, k)
    os.makedirs(path, 0o700, exist_ok=True)
    own = dict(bundle)
    own['arrayElement'] = {'name': name, 'value': values[k], 'index': k}
    target = os.path.join(path, 'bundle.json')
    with open(target + '.tmp', 'w') as f:
        f.write(json.dumps(own))
    os.rename(target + '.tmp', target)
    os.close(os.open(os.path.join(path, 'events.jsonl'), os.O_WRONLY | os.O_CREAT, 0o600))
    return path


def run_element(jobdir, environ=None, enforce_limits=False):
    """One element: its index from the environment, its folder, then the job itself."""
    from _cb_job import run_job
    jobdir = os.path.abspath(jobdir)
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    spec = array_of(bundle)
    if spec is None:
        raise ArrayError('%s is not an array job' % jobdir)
    k = element_index(os.environ if environ is None else environ, len(spec[1]))
    return run_job(prepare_element(jobdir, bundle, k), enforce_limits=enforce_limits)


def mark_ended(jobdir, bundle, k, state, reason):
    """Element k's end where it recorded none (never started, or killed), so followers see
    every element end."""
    path = element_dir(jobdir, k)
    if not os.path.isdir(path):
        path = prepare_element(jobdir, bundle, k)
    if has_done(os.path.join(path, 'events.jsonl')):
        return
    update_status(path, state=state, endedAt=time.time())
    EventLog(path).write([{'type': 'done', 'state': state, 'exitCode': None, 'reason': reason}])


def default_parallel(request=None):
    """Elements at once without --max-parallel: as many as the host's CPUs hold (each
    element's --cpus claims its own), one at a time when each claims GPUs (their count is not
    known here, and a claim that finds them taken fails the element)."""
    request = request or {}
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if request.get('gpus'):
        return 1
    try:
        each = max(1, int(request.get('cpus') or 1))
    except (TypeError, ValueError):
        each = 1
    return max(1, cpus // each)


def run_direct(jobdir):
    """A direct host's array: every element a forked child (same process group, so the agent's
    cancel reaches them all), at most max-parallel at once. Returns 0, or 1 when any failed."""
    jobdir = os.path.abspath(jobdir)
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    name, values, limit = array_of(bundle)
    limit = int(limit) if limit else default_parallel(bundle.get('request'))
    state = {'cancelled': False}

    def on_signal(signum, frame):
        state['cancelled'] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    running = {}
    failed = False
    next_k = 0
    while next_k < len(values) or running:
        while not state['cancelled'] and next_k < len(values) and len(running) < limit:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    code = run_element(jobdir, {'CB_ARRAY_INDEX': str(next_k)},
                                       enforce_limits=True)
                except BaseException:
                    import traceback
                    traceback.print_exc()
                finally:
                    os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)
            running[pid] = next_k
            next_k += 1
        if state['cancelled'] and next_k < len(values):
            for k in range(next_k, len(values)):
                mark_ended(jobdir, bundle, k, 'cancelled', 'cancelled before it started')
            next_k = len(values)
        if not running:
            break
        try:
            pid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        k = running.pop(pid, None)
        if k is None:
            continue
        if status != 0:
            failed = True
        if not has_done(os.path.join(element_dir(jobdir, k), 'events.jsonl')):
            # Killed before it could say so: followers must still see it end.
            failed = True
            mark_ended(jobdir, bundle, k, 'lost', 'its process ended without recording its '
                       'end (exit status %d)' % status)
    update_status(jobdir, state='cancelled' if state['cancelled'] else
                  ('failed' if failed else 'completed'), endedAt=time.time())
    return 1 if failed or state['cancelled'] else 0


def lost_after():
    try:
        return max(0.1, float(os.environ.get('CB_ARRAY_LOST_S') or LOST_AFTER_S))
    except ValueError:
        return LOST_AFTER_S


def end_silent(jobdir, k, silent_for):
    """Element k ends as lost when it runs or builds its env (per its status.json) but its
    heartbeat stopped."""
    path = os.path.join(element_dir(jobdir, k), 'status.json')
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError:
        return
    status = read_json(path) or {}
    if status.get('state') not in ('preparing', 'running') or age < silent_for:
        return
    bundle = read_json(os.path.join(jobdir, 'bundle.json'))
    mark_ended(jobdir, bundle, k, 'lost', 'no sign of life from %s for %.0f s (killed, or its '
               'node failed)' % (status.get('node') or 'its node', age))


def parse_offsets(text, count):
    """`--offsets 0,5120,-`: the byte offset each element's log resumes from, `-` for an
    element whose `done` the caller already has. Returns (offsets, ended)."""
    if text is None:
        return [0] * count, [False] * count
    parts = text.split(',')
    if len(parts) != count:
        raise ArrayError('--offsets has %d values for an array of %d elements'
                         % (len(parts), count))
    offsets, ended = [], []
    for part in parts:
        if part == '-':
            offsets.append(0)
            ended.append(True)
            continue
        if not part.isdigit():
            raise ArrayError('--offsets: %r is neither a byte offset nor -' % part)
        offsets.append(int(part))
        ended.append(False)
    return offsets, ended


def follow(jobdir, count, out_fd=1, poll=0.05, resume=None):
    """Streams every element's whole event lines to out_fd as `k<TAB>line`, until each element
    wrote its `done`. Returns 0 then, 4 when the caller went away. `resume` is parse_offsets'
    (offsets, ended) after a dropped connection."""
    parent = os.getppid()
    silent_for = lost_after()
    last_beat_check = time.time()
    offsets, ended = resume or ([0] * count, [False] * count)
    wants = [1 << 20] * count
    fds = [None] * count
    last_check = time.time()
    try:
        while not all(ended):
            got = False
            for k in range(count):
                if ended[k]:
                    continue
                if fds[k] is None:
                    try:
                        fds[k] = os.open(os.path.join(element_dir(jobdir, k), 'events.jsonl'),
                                         os.O_RDONLY)
                    except OSError:
                        continue
                data = os.pread(fds[k], wants[k], offsets[k])
                cut = data.rfind(b'\n') + 1
                if not cut:
                    if len(data) == wants[k]:
                        wants[k] *= 4  # one line longer than a read
                    continue
                whole = data[:cut]
                done_at = find_done(whole)
                if done_at is not None:
                    whole = whole[:done_at]
                    ended[k] = True
                offsets[k] += len(whole)
                prefix = ('%d\t' % k).encode('ascii')
                lines = whole.split(b'\n')[:-1]
                try:
                    write_all(out_fd, b''.join(prefix + line + b'\n' for line in lines))
                except OSError:
                    return 4
                got = True
            if got:
                continue
            if time.time() - last_check > 0.25:
                last_check = time.time()
                if os.getppid() != parent:
                    return 4
            if time.time() - last_beat_check > min(5.0, silent_for / 2):
                last_beat_check = time.time()
                for k in range(count):
                    if not ended[k]:
                        end_silent(jobdir, k, silent_for)
            time.sleep(poll)
    finally:
        for fd in fds:
            if fd is not None:
                os.close(fd)
    return 0


def command(cmd, jobdir, offsets=None):
    """The agent's array commands; returns the exit status."""
    if cmd == 'array-element':
        return run_element(jobdir)
    if cmd == 'array-follow':
        spec = array_of(read_json(os.path.join(jobdir, 'bundle.json')))
        if spec is None:
            raise ArrayError('%s is not an array job' % jobdir)
        count = len(spec[1])
        return follow(jobdir, count, resume=parse_offsets(offsets, count))
    raise ArrayError('unknown array command %r' % cmd)


if __name__ == '__main__':
    sys.exit(command(sys.argv[1], os.path.abspath(sys.argv[2])))
