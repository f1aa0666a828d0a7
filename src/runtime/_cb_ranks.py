"""Distributed launch (`--nodes/--gpus-per-node/--tasks-per-node/--launch`): the cell's code as
WORLD_SIZE = nodes x tasks-per-node ranks, each a runner of its own.

`python -u _cb_ranks.py launch JOBDIR` takes the runner's place in `run` (same process group,
same signals): it picks MASTER_ADDR/MASTER_PORT, starts the ranks (local children, `srun`,
`srun ... torchrun` or `mpirun`), and merges their logs JOBDIR/ranks/<r>/events.jsonl into
JOBDIR/events.jsonl, being its only writer while the ranks run: rank 0's events unchanged
(its output is the cell's), every other rank's wrapped as {"type": "rank", "rank": r,
"event": ...}. The first rank that raises fails the cell with its traceback; the others are
stopped. `python -u _cb_ranks.py rank JOBDIR` is one rank: the rank's variables from whichever
launcher started it, then an exec of the runner on JOBDIR/ranks/<r>. Which launcher, its argv
and the rank's variables are worked out in `_cb_launchers.py`.

Python 3.8+ (VENV2's interpreter), standard library only.
"""
import json
import os
import shutil
import signal
import sys
import time

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
if __name__ == '__main__':
    # Before the sibling imports below (and the ones inside functions): this folder first,
    # whatever the interpreter put there.
    sys.path[0] = RUNTIME_DIR

from _cb_launchers import (  # noqa: E402
    RANKS_FILE, RanksError, check_grid_engine_hosts, check_pbs_hosts, command, free_port,
    launch_kind, master_host, rank_environment, shape)

RUNNER_FILE = os.path.join(RUNTIME_DIR, 'runner.py')
POLL_S = 0.05
STOP_GRACE_S = 10.0  # after SIGTERM to the ranks, SIGKILL


def rank_dir(jobdir, rank):
    return os.path.join(jobdir, 'ranks', str(rank))


def run_rank(jobdir):
    """`rank JOBDIR`: one rank; execs the runner on its own folder."""
    from _cb_events import EventLog
    from _cb_jobfiles import hostname, read_json
    bundle = read_json(os.path.join(jobdir, 'bundle.json')) or {}
    plan = shape(bundle.get('request'))
    env = rank_environment(os.environ, plan)
    os.environ.update(env)
    rank = int(env['RANK'])
    folder = rank_dir(jobdir, rank)
    EventLog(folder).write([{'type': 'rank-start', 'rank': rank, 'localRank': int(env['LOCAL_RANK']),
                             'node': hostname(), 'pid': os.getpid(),
                             'cudaVisibleDevices': env.get('CUDA_VISIBLE_DEVICES')}])
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, '-u', RUNNER_FILE, folder])


class RankLog:
    """One rank's events.jsonl, read as it grows (whole lines only)."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.rest = b''

    def read(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b'\n') + 1
        self.rest = data[cut:]
        events = []
        for line in data[:cut].split(b'\n'):
            if line.strip():
                try:
                    events.append(json.loads(line.decode('utf-8')))
                except ValueError:
                    pass
        return events


class Merger:
    """Copies the ranks' events into the job's log and keeps what the end needs."""

    def __init__(self, log, jobdir, world):
        self.log = log
        self.logs = [RankLog(os.path.join(rank_dir(jobdir, r), 'events.jsonl'))
                     for r in range(world)]
        self.started = {}  # rank -> its rank-start event
        self.errors = {}  # rank -> its first error event
        self.gpu = {}  # rank -> its gpu event
        self.failed = None  # the first rank that raised

    def poll(self):
        out = []
        for r, rank_log in enumerate(self.logs):
            for event in rank_log.read():
                kind = event.get('type')
                event.pop('seq', None)
                if kind == 'rank-start':
                    self.started[r] = event
                elif kind == 'error' and r not in self.errors:
                    self.errors[r] = event
                    if self.failed is None:
                        self.failed = r
                elif kind == 'gpu':
                    self.gpu[r] = event
                    continue  # one card for the whole job, at the end
                if r == 0 and kind != 'rank-start':
                    event.pop('t', None)
                    out.append(event)
                else:
                    out.append({'type': 'rank', 'rank': r, 'event': event})
        if out:
            self.log.write(out)
        return bool(out)

    def gpu_event(self):
        """Rank 0's GPU facts (or the first rank's) plus every node's GPUs."""
        if not self.gpu:
            return None
        nodes = {}
        for r in sorted(self.gpu):
            g = self.gpu[r]
            host = g.get('host') or (self.started.get(r) or {}).get('node') or '?'
            entry = nodes.setdefault(host, {'host': host, 'ranks': [], 'devices': [],
                                            'cudaVisibleDevices': []})
            entry['ranks'].append(r)
            cvd = g.get('cudaVisibleDevices')
            if cvd not in (None, '') and cvd not in entry['cudaVisibleDevices']:
                entry['cudaVisibleDevices'].append(cvd)
            seen = {(d.get('uuid'), d.get('index')) for d in entry['devices']}
            for d in g.get('devices') or []:
                if (d.get('uuid'), d.get('index')) not in seen:
                    entry['devices'].append(d)
        first = dict(self.gpu.get(0) or self.gpu[min(self.gpu)])
        first.pop('t', None)
        for entry in nodes.values():
            entry['cudaVisibleDevices'] = ','.join(entry['cudaVisibleDevices'])
        first['nodes'] = list(nodes.values())
        return first


def run_launch(jobdir):
    """`launch JOBDIR`: starts the ranks, merges their logs; the exit status is the cell's."""
    from _cb_events import EventLog, notify_fd_from_environ
    from _cb_jobfiles import hostname, read_json
    jobdir = os.path.abspath(jobdir)
    log = EventLog(jobdir, notify_fd_from_environ())
    bundle = read_json(os.path.join(jobdir, 'bundle.json')) or {}
    plan = shape(bundle.get('request'))
    state = {'stopping': None}

    def on_signal(signum, frame):
        # The group got it too (local ranks, srun -X forwards SIGINT to every rank on every
        # node): note it, keep merging until the ranks are gone.
        state['stopping'] = state['stopping'] or signum

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        kind = launch_kind(plan, os.environ)
        check_grid_engine_hosts(kind, plan, os.environ)
        check_pbs_hosts(plan, os.environ)
        master = (master_host(os.environ, hostname()), free_port())
        argv = command(kind, plan, jobdir, master, os.environ)
    except RanksError as e:
        log.write([{'type': 'error', 'ename': 'LaunchError', 'evalue': str(e),
                    'traceback': ['LaunchError: %s' % e]}])
        return 2
    world = plan['worldSize']
    for r in range(world):
        os.makedirs(rank_dir(jobdir, r), mode=0o700, exist_ok=True)
        shutil.copyfile(os.path.join(jobdir, 'bundle.json'),
                        os.path.join(rank_dir(jobdir, r), 'bundle.json'))
    env = dict(os.environ)
    env['CB_MASTER_ADDR'], env['CB_MASTER_PORT'] = master[0], str(master[1])
    env.pop('CB_NOTIFY_FD', None)
    log.write([{'type': 'ranks', 'worldSize': world, 'nodes': plan['nodes'],
                'tasksPerNode': plan['tasksPerNode'], 'gpusPerNode': plan['gpusPerNode'],
                'launch': kind, 'masterAddr': master[0], 'masterPort': master[1]}])
    merger = Merger(log, jobdir, world)
    err_path = os.path.join(jobdir, 'ranks', 'launcher.err')
    procs = start(argv, plan, env, err_path, jobdir)
    codes = supervise(procs, merger, state)
    merger.poll()
    return finish(log, merger, codes, state, world, err_path)


def start(argv, plan, env, err_path, jobdir):
    """{key: pid}: one launcher process, or one child per local rank."""
    err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    procs = {}
    try:
        runs = [(None, argv)] if argv is not None else \
            [(r, [sys.executable, '-u', RANKS_FILE, 'rank', jobdir])
             for r in range(plan['worldSize'])]
        for r, args in runs:
            child_env = dict(env)
            if r is not None:
                child_env.update({'RANK': str(r), 'LOCAL_RANK': str(r),
                                  'MASTER_ADDR': env['CB_MASTER_ADDR'],
                                  'MASTER_PORT': env['CB_MASTER_PORT']})
            pid = os.fork()
            if pid == 0:
                try:
                    # Ranks capture their own fds 1/2; nothing may reach the agent's stdout.
                    os.dup2(err, 1)
                    os.dup2(err, 2)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    os.execvpe(args[0], args, child_env)
                finally:
                    os._exit(127)
            procs[r if r is not None else 'launcher'] = pid
    finally:
        os.close(err)
    return procs


def supervise(procs, merger, state):
    """Merges while the ranks run; the first failure stops the rest. Returns {key: code}."""
    codes = {}
    stop_sent = None
    while len(codes) < len(procs):
        progressed = merger.poll()
        for key, pid in procs.items():
            if key in codes:
                continue
            got, status = os.waitpid(pid, os.WNOHANG)
            if got:
                codes[key] = os.waitstatus_to_exitcode(status) if hasattr(
                    os, 'waitstatus_to_exitcode') else (status >> 8 if status & 0x7f == 0
                                                        else -(status & 0x7f))
        failed = merger.failed is not None or any(c != 0 for c in codes.values())
        if (failed or state['stopping']) and stop_sent is None and len(codes) < len(procs):
            stop_sent = time.monotonic()
            if failed and not state['stopping']:
                signal_all(procs, codes, signal.SIGTERM)
        elif stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE_S:
            signal_all(procs, codes, signal.SIGKILL)
            stop_sent = float('inf')
        if not progressed:
            time.sleep(POLL_S)
    return codes


def signal_all(procs, codes, signum):
    for key, pid in procs.items():
        if key not in codes:
            try:
                os.kill(pid, signum)
            except OSError:
                pass


def finish(log, merger, codes, state, world, err_path):
    """Per-rank ends, the failing rank's traceback inline, the GPU card; the exit status."""
    cancelled = state['stopping'] is not None
    failed = None if cancelled else merger.failed
    if failed is None and not cancelled and any(c != 0 for c in codes.values()):
        failed = next((r for r, c in sorted((k, c) for k, c in codes.items()
                                            if isinstance(k, int)) if c != 0), None)
    ends = []
    for r in range(world):
        if cancelled:
            end = 'cancelled'
        elif r in merger.errors and r == failed:
            end = 'error'
        elif failed is not None:
            end = 'error' if r in merger.errors else 'cancelled'
        else:
            code = codes.get(r, codes.get('launcher', 0))
            end = 'done' if code == 0 and r in merger.started else 'error'
        rank_end = {'type': 'rank-end', 'state': end}
        if r == failed:
            rank_end['failed'] = True
        ends.append({'type': 'rank', 'rank': r, 'event': rank_end})
    log.write(ends)
    extra = []
    if failed is not None:
        node = (merger.started.get(failed) or {}).get('node') or '?'
        error = merger.errors.get(failed)
        if failed != 0 and error is not None:
            extra.append({'type': 'error', 'ename': error.get('ename') or 'Error',
                          'evalue': error.get('evalue') or '',
                          'traceback': ['Rank %d of %d (on %s) failed:' % (failed, world, node)]
                          + list(error.get('traceback') or [])})
        extra.append({'type': 'notice', 'text': 'Rank %d of %d (on %s) failed; the other ranks '
                      'were stopped.' % (failed, world, node)})
    launcher_code = codes.get('launcher', 0)
    if not merger.started and not cancelled:
        text = tail(err_path) or 'the launcher exited with status %s' % launcher_code
        extra.append({'type': 'error', 'ename': 'LaunchError',
                      'evalue': 'no rank started: %s' % summary_line(text),
                      'traceback': ['LaunchError: no rank started. The launcher said:', text]})
    gpu = merger.gpu_event()
    if gpu is not None:
        extra.append(gpu)
    if extra:
        log.write(extra)
    if cancelled:
        return 130
    if failed is not None or not merger.started or launcher_code != 0:
        return 1
    return 0


def summary_line(text):
    """The last line that says something (Open MPI ends its messages with a rule of dashes)."""
    lines = [line.strip() for line in text.splitlines()]
    return next((line for line in reversed(lines) if any(c.isalnum() for c in line)),
                lines[-1] if lines else '')


def tail(path, limit=4000):
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return ''
    return data[-limit:].decode('utf-8', 'replace').strip()


def main(argv):
    if len(argv) != 3 or argv[1] not in ('launch', 'rank'):
        sys.stderr.write('usage: _cb_ranks.py launch|rank JOBDIR\n')
        return 2
    if argv[1] == 'launch':
        return run_launch(argv[2])
    try:
        run_rank(os.path.abspath(argv[2]))
    except RanksError as e:
        sys.stderr.write('cluster-bridge rank: %s\n' % e)
        return 2
    return 127


if __name__ == '__main__':
    sys.exit(main(sys.argv))
