"""Retention: what the work directory may lose, and `clean` that removes it (or, with --dry-run,
lists it with sizes), plus the sizes `doctor` shows. A rare command: the agent imports this for
`clean`, `doctor` and, at most once a day, from `prepare` (maybe_auto_clean), never per cell.

Kept always: a job that has not ended (or whose end cannot be known), a live session, the
runtime this agent runs from, an env that a kept job or live session uses or that is being built.
Ages count from the last write: a job dir's newest file, a runtime's `.used` stamp (touched by
each clean run from it), an env's `.used` stamp (moved forward from the jobs that used it before
they go).

Python 3.6+, standard library only.
"""
import os
import time

from _cb_events import has_done
from _cb_jobfiles import CLEAN_STAMP, RUNTIME_DIR, clean_due, hostname, read_json
from _cb_proc import pid_alive

DAY = 86400.0
DEFAULTS = {'jobsDays': 7.0, 'runtimesDays': 7.0, 'envsDays': 30.0}
AUTO_STAMP = CLEAN_STAMP
END_STATES = ('completed', 'failed', 'cancelled')
# A job with no recorded end on another node: no scheduler lets a job run this many times its
# retention without a write (SLURM's longest usual limits are days to a few weeks).
UNKNOWN_END_FACTOR = 4


def parse_options(args, error):
    """`clean` options -> dict; error is the agent's exception class."""
    opts = {'workdir': None, 'dryRun': False, 'auto': False, 'retention': {}}
    names = {'--jobs-days': 'jobsDays', '--runtimes-days': 'runtimesDays',
             '--envs-days': 'envsDays'}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == '--dry-run':
            opts['dryRun'] = True
        elif arg == '--auto':
            opts['auto'] = True
        elif arg in names or arg == '--workdir':
            if i + 1 >= len(args):
                raise error('%s needs a value' % arg)
            value = args[i + 1]
            if arg == '--workdir':
                opts['workdir'] = value
            else:
                try:
                    days = float(value)
                except ValueError:
                    days = -1
                if not days > 0:
                    raise error('%s needs a number of days above 0, not %r' % (arg, value))
                opts['retention'][names[arg]] = days
            i += 1
        else:
            raise error('clean: unknown argument %r' % arg)
        i += 1
    return opts


def retention_days(retention):
    out = dict(DEFAULTS)
    for key in DEFAULTS:
        value = (retention or {}).get(key) if isinstance(retention, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            out[key] = float(value)
    return out


def maybe_auto_clean(work_dir, retention=None, now=None):
    """At most once a day per work dir: a detached `clean --auto` (the cell does not wait).
    One stat on the usual path; the stamp is moved first, so concurrent jobs start one clean."""
    now = now or time.time()
    stamp = os.path.join(work_dir, AUTO_STAMP)
    if not clean_due(work_dir, now):
        return False
    try:
        fd = os.open(stamp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        os.utime(stamp, (now, now))
    except OSError:
        return False  # a full disk or a read-only dir: never fail the job for this
    import sys
    days = retention_days(retention)
    argv = [sys.executable, '-I', '-u', os.path.join(RUNTIME_DIR, 'agent.py'), 'clean',
            '--auto', '--workdir', work_dir,
            '--jobs-days', repr(days['jobsDays']), '--runtimes-days', repr(days['runtimesDays']),
            '--envs-days', repr(days['envsDays'])]
    _spawn_detached(argv, os.path.join(work_dir, 'clean.log'))
    return True


def _spawn_detached(argv, log_path):
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            out = null
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        try:
            os.nice(10)
        except OSError:
            pass
        os.execv(argv[0], argv)
    except BaseException:
        pass
    os._exit(1)


# ---------------------------------------------------------------------------------------------
# What there is


def tree_size(path):
    """Bytes used by files under path (lstat sizes; links are not followed)."""
    total = 0
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_size
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def newest_write(path):
    """The newest mtime of path and the files directly in it (a job dir is flat)."""
    try:
        newest = os.stat(path).st_mtime
    except OSError:
        return 0.0
    try:
        names = os.listdir(path)
    except OSError:
        return newest
    for name in names:
        try:
            newest = max(newest, os.stat(os.path.join(path, name)).st_mtime)
        except OSError:
            pass
    return newest


def job_state(jobdir, here):
    """('ended'|'running'|'unknown', why) for one job or session dir."""
    status = read_json(os.path.join(jobdir, 'status.json')) or {}
    if status.get('state') in END_STATES or status.get('state') == 'ended':
        return 'ended', status['state']
    if has_done(os.path.join(jobdir, 'events.jsonl')):
        return 'ended', 'done'
    pid = status.get('pid')
    node = status.get('node')
    if pid and node == here:
        if pid_alive(pid) or (status.get('runnerPid') and pid_alive(status['runnerPid'])):
            return 'running', 'pid %s is alive' % pid
        return 'ended', 'pid %s is gone' % pid
    if node and node != here:
        return 'unknown', 'no end recorded; it ran on %s' % node
    return 'unknown', 'not started or no end recorded'


def survey(work_dir, retention=None, now=None):
    """What the work dir holds and what retention would remove: a dict for clean and doctor."""
    now = now or time.time()
    days = retention_days(retention)
    here = hostname()
    remove = []
    keep = []
    envs_in_use = {}
    env_last_use = {}
    live_jobs = set()  # running, or maybe running on another node

    def item(kind, path, age, why, name=None):
        return {'kind': kind, 'name': name or os.path.basename(path), 'path': path,
                'bytes': tree_size(path), 'ageDays': round(age / DAY, 2), 'why': why}

    for kind in ('jobs', 'sessions'):
        base = os.path.join(work_dir, kind)
        for name in _listdir(base):
            path = os.path.join(base, name)
            if not os.path.isdir(path):
                continue
            bundle = read_json(os.path.join(path, 'bundle.json' if kind == 'jobs' else 'spec.json'))
            env_hash = (bundle or {}).get('envHash')
            last = newest_write(path)
            age = now - last
            if env_hash:
                env_last_use[env_hash] = max(env_last_use.get(env_hash, 0.0), last)
            state, why = job_state(path, here)
            limit = days['jobsDays'] * DAY
            if kind == 'jobs' and state != 'ended':
                live_jobs.add(name)
            if state == 'running':
                keep.append(item(kind, path, age, why))
            elif state == 'ended' and age > limit:
                remove.append(item(kind, path, age, 'ended (%s), last written %.1f days ago'
                                   % (why, age / DAY)))
                continue
            elif state == 'unknown' and age > limit * UNKNOWN_END_FACTOR:
                remove.append(item(kind, path, age, '%s; nothing written for %.1f days'
                                   % (why, age / DAY)))
                continue
            else:
                keep.append(item(kind, path, age, '%s, %.1f days old' % (why, age / DAY)))
            if env_hash:
                envs_in_use[env_hash] = '%s %s' % (kind[:-1], name)

    # --in/--out folders (vars/<jobId>-in, -out): the bridge removes them after the cell; what a
    # crash or a detached multi-process cell left goes with the jobs' retention.
    vars_base = os.path.join(work_dir, 'vars')
    for name in _listdir(vars_base):
        path = os.path.join(vars_base, name)
        age = now - newest_write(path)
        if name.rsplit('-', 1)[0] in live_jobs:
            keep.append(item('vars', path, age, 'its job may still run'))
        elif age > days['jobsDays'] * DAY:
            remove.append(item('vars', path, age, 'left by a cell, %.1f days ago' % (age / DAY)))
        else:
            keep.append(item('vars', path, age, '%.1f days old' % (age / DAY)))

    # --sync mirrors (sync/<key>/): a removed mirror is sent again, whole, by the next sync.
    sync_base = os.path.join(work_dir, 'sync')
    for name in _listdir(sync_base):
        path = os.path.join(sync_base, name)
        age = now - newest_write(path)
        if age > days['envsDays'] * DAY:
            remove.append(item('sync', path, age, 'not synced for %.1f days' % (age / DAY)))
        else:
            keep.append(item('sync', path, age, 'synced %.1f days ago' % (age / DAY)))

    runtime_base = os.path.join(work_dir, 'runtime')
    current = os.path.realpath(RUNTIME_DIR)
    for name in _listdir(runtime_base):
        path = os.path.join(runtime_base, name)
        if not os.path.isdir(path):
            continue
        age = now - _stamp_time(os.path.join(path, '.used'), path)
        if os.path.realpath(path) == current:
            keep.append(item('runtimes', path, age, 'in use (this agent runs from it)'))
        elif age > days['runtimesDays'] * DAY:
            remove.append(item('runtimes', path, age, 'not used for %.1f days' % (age / DAY)))
        else:
            keep.append(item('runtimes', path, age, 'used %.1f days ago' % (age / DAY)))

    envs_dir = os.path.join(work_dir, 'envs')
    for name in _listdir(envs_dir):
        if not name.endswith('.ready'):
            continue
        env_hash = name[:-len('.ready')]
        marker = os.path.join(envs_dir, name)
        info = read_json(marker) or {}
        used = max(_stamp_time(os.path.join(envs_dir, env_hash + '.used'), marker),
                   env_last_use.get(env_hash, 0.0))
        age = now - used
        prefix = info.get('prefix') or os.path.join(envs_dir, env_hash)
        entry = item('envs', prefix, age, '', name=env_hash)
        entry.update({'hash': env_hash, 'manager': info.get('manager') or 'venv',
                      'condaName': info.get('name'), 'conda': info.get('conda')})
        if env_hash in envs_in_use:
            entry['why'] = 'in use by %s' % envs_in_use[env_hash]
            keep.append(entry)
        elif age > days['envsDays'] * DAY:
            entry['why'] = 'not used for %.1f days' % (age / DAY)
            remove.append(entry)
        else:
            entry['why'] = 'used %.1f days ago' % (age / DAY)
            keep.append(entry)

    sizes = {'jobs': 0, 'sessions': 0, 'runtimes': 0, 'envs': 0, 'vars': 0, 'sync': 0}
    for entry in remove + keep:
        sizes[entry['kind']] += entry['bytes']
    sizes['workDir'] = tree_size(work_dir)
    return {'workDir': work_dir, 'retention': days, 'remove': remove, 'keep': keep,
            'sizes': sizes, 'envLastUse': env_last_use}


def clean(work_dir, opts, now=None):
    """Removes what survey() lists (or only lists it with dryRun). Returns the report."""
    now = now or time.time()
    report = survey(work_dir, opts.get('retention'), now)
    if os.path.basename(os.path.dirname(RUNTIME_DIR)) == 'runtime':
        _touch(os.path.join(RUNTIME_DIR, '.used'), now)
    envs_dir = os.path.join(work_dir, 'envs')
    if not opts.get('dryRun'):
        # Evidence of use moves from the job dirs into the envs' stamps before the jobs go.
        for env_hash, when in report['envLastUse'].items():
            if os.path.exists(os.path.join(envs_dir, env_hash + '.ready')):
                stamp = os.path.join(envs_dir, env_hash + '.used')
                if _stamp_time(stamp, None) < when:
                    _touch(stamp, when)
    freed = 0
    failed = []
    for entry in report['remove']:
        if opts.get('dryRun'):
            continue
        try:
            if entry['kind'] == 'envs':
                removed = _remove_env(envs_dir, entry)
            else:
                removed = _rmtree(entry['path'])
        except OSError as e:
            removed, entry['error'] = False, str(e)
        entry['removed'] = removed
        if removed:
            freed += entry['bytes']
        else:
            failed.append(entry['name'])
    del report['envLastUse']
    report.update({'dryRun': bool(opts.get('dryRun')), 'auto': bool(opts.get('auto')),
                   'freed': freed, 'failed': failed, 'at': now})
    return report


def _remove_env(envs_dir, entry):
    """Under the env's build lock (never one being built): marker first, so no new job picks
    the env while its files go; then the prefix (a conda env through conda)."""
    from _cb_envbuild import EnvLock
    lock = EnvLock(os.path.join(envs_dir, entry['hash'] + '.lock'))
    if not lock.try_acquire():
        entry['error'] = 'being built'
        return False
    try:
        for suffix in ('.ready', '.used'):
            try:
                os.unlink(os.path.join(envs_dir, entry['hash'] + suffix))
            except FileNotFoundError:
                pass
        if entry.get('manager') == 'conda' and entry.get('conda') and entry.get('condaName'):
            import subprocess
            subprocess.call([entry['conda'], 'env', 'remove', '-y', '-n', entry['condaName']],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        _rmtree(entry['path'])
        return True
    finally:
        lock.release(remove=True)


def _rmtree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.exists(path)


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _stamp_time(path, fallback):
    try:
        return os.stat(path).st_mtime
    except OSError:
        if fallback is None:
            return 0.0
        try:
            return os.stat(fallback).st_mtime
        except OSError:
            return 0.0


def _touch(path, when):
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.utime(path, (when, when))
    except OSError:
        pass
