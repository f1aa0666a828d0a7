"""`sync-apply SYNCDIR`: one delta of a project folder the bridge mirrors (`--sync DIR`).

stdin: one JSON header line, then the bytes of every file piece the header lists, in order:
  {"v": 1, "base": token or null, "name": the mirror's folder name in SYNCDIR,
   "delete": [path, ...],
   "put": [{"p": path, "k": "f" (file) | "l" (symlink) | "d" (folder),
            "h": sha256 hex (files), "t": target (links), "m": mode (files),
            "n": size, "o": offset of this piece, "len": bytes of this piece}, ...]}
A file larger than one request travels as pieces (offset order) into SYNCDIR/.parts; the last
piece renames it into place, so the bridge never holds a whole big file in memory.

Every path is checked before anything is written: relative, '/'-separated, no empty, '.' or '..'
part, no control characters; links must point inside the mirror; nothing is written through a
symlink or a file in the mirror. Files land whole (a temp file in SYNCDIR/.parts, its hash
checked, then rename). SYNCDIR/.manifest.json records what the bridge put there, with a token
the bridge keeps: a request whose base is not that token applies nothing and answers with the
manifest (the bridge then compares in full). Listed files that changed since they were written
(a cell edited them) are dropped from it and named in the answer ("drifted"): the bridge sends
them again. Files a cell made in the mirror are never touched.

Prints one JSON line: {"ok": true, "token", "dir", "written", "deleted", "bytes", "drifted"}
or {"ok": false, "mismatch": true, "token", "entries": {path: [kind, hash or target, mode]}}.
Python 3.6+, standard library only.
"""
import errno
import hashlib
import os
import stat
import sys

import _cb_json as json
from _cb_events import write_all
from _cb_jobfiles import write_json_atomic

MANIFEST = '.manifest.json'
PARTS = '.parts'
LOCK = '.lock'
CHUNK = 1 << 20
_HEX = set('0123456789abcdef')


class SyncError(Exception):
    """A request the mirror refuses (a path escape, a bad header): nothing more is written."""


def apply(syncdir, stdin):
    """Reads one request from `stdin` (a binary file) and applies it; returns the answer."""
    header = _read_header(stdin)
    name = header.get('name')
    if not isinstance(name, str) or not _plain_name(name):
        raise SyncError('bad mirror name %r' % (name,))
    puts, deletes = _checked(header)
    os.makedirs(syncdir, 0o700, exist_ok=True)
    lock = _lock(syncdir)
    try:
        manifest = _load(syncdir)
        if header.get('base') != manifest['token']:
            _drain(stdin, puts)
            entries = dict((p, e[:3]) for p, e in manifest['entries'].items())
            return {'ok': False, 'mismatch': True, 'token': manifest['token'], 'entries': entries}
        root = os.path.join(syncdir, name)
        if not os.path.isdir(root):
            os.mkdir(root, 0o755)
        entries = manifest['entries']
        drifted = _drifted(root, entries, set(e['p'] for e in puts))
        _precheck_parents(root, puts, set(deletes))
        counts = {'written': 0, 'deleted': 0, 'bytes': 0}
        try:
            for path in sorted(deletes, reverse=True):  # what a folder holds before the folder
                if _delete(root, path, entries.get(path)):
                    counts['deleted'] += 1
                entries.pop(path, None)
            parts = os.path.join(syncdir, PARTS)
            if any(e['k'] == 'f' for e in puts):
                os.makedirs(parts, 0o700, exist_ok=True)
            known = set()
            for entry in puts:  # in the order their bytes come
                if _put(root, parts, entry, stdin, entries, known):
                    counts['written'] += 1
                counts['bytes'] += entry.get('len', 0)
        finally:
            # Nothing to record: the token stays (an unchanged tree costs no write here).
            if puts or deletes or drifted or manifest['token'] is None or \
                    manifest.get('name') != name:
                manifest['token'] = _token()
                manifest['name'] = name
                _save(syncdir, manifest)
        answer = {'ok': True, 'token': manifest['token'], 'dir': root, 'drifted': sorted(drifted)}
        answer.update(counts)
        return answer
    finally:
        os.close(lock)


def command(syncdir, print_json):
    """The agent's `sync-apply`: exit 0 with the answer, 2 with one line on a refused request."""
    try:
        print_json(apply(syncdir, sys.stdin.buffer))
    except SyncError as e:
        sys.stderr.write('cluster-bridge agent: sync refused: %s\n' % e)
        return 2
    return 0


# ---------------------------------------------------------------------------------------------
# The request


def _read_header(stdin):
    line = stdin.readline(64 << 20)
    if not line.endswith(b'\n'):
        raise SyncError('no header line on stdin')
    try:
        header = json.loads(line.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise SyncError('header is not JSON: %s' % e)
    if not isinstance(header, dict) or header.get('v') != 1:
        raise SyncError('unknown header version')
    return header


def _checked(header):
    """The puts and deletes, every field and path checked before anything is written."""
    puts = header.get('put') or []
    deletes = header.get('delete') or []
    if not isinstance(puts, list) or not isinstance(deletes, list):
        raise SyncError('"put" and "delete" must be lists')
    for path in deletes:
        check_path(path)
    for e in puts:
        if not isinstance(e, dict):
            raise SyncError('a put entry is not an object')
        path = check_path(e.get('p'))
        kind = e.get('k')
        if kind == 'f':
            n, o, ln = e.get('n'), e.get('o', 0), e.get('len')
            if not all(isinstance(x, int) and x >= 0 for x in (n, o, ln)) or o + ln > n:
                raise SyncError('bad size of %r' % path)
            h = e.get('h')
            if not isinstance(h, str) or len(h) != 64 or not set(h) <= _HEX:
                raise SyncError('bad hash of %r' % path)
            if not isinstance(e.get('m', 0o644), int):
                raise SyncError('bad mode of %r' % path)
        elif kind == 'l':
            check_link(path, e.get('t'))
        elif kind != 'd':
            raise SyncError('unknown kind %r of %r' % (kind, path))
    return puts, deletes


def check_path(path):
    """A relative path inside the mirror; SyncError for anything that could leave it."""
    if not isinstance(path, str) or not path or len(path) > 4096:
        raise SyncError('bad path %r' % (path,))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise SyncError('control character in path %r' % path)
    if path.startswith('/'):
        raise SyncError('absolute path %r' % path)
    for part in path.split('/'):
        if part in ('', '.', '..'):
            raise SyncError('path %r leaves the mirror or is not plain' % path)
    return path


def check_link(path, target):
    """A link's target, read from the link's folder, must stay inside the mirror."""
    if not isinstance(target, str) or not target or '\0' in target or target.startswith('/'):
        raise SyncError('link %r: target %r is not a relative path' % (path, target))
    depth = path.count('/')
    for part in target.split('/'):
        if part == '..':
            depth -= 1
            if depth < 0:
                raise SyncError('link %r points out of the mirror (%r)' % (path, target))
        elif part not in ('', '.'):
            depth += 1


def _plain_name(name):
    return 0 < len(name) <= 100 and name[0] != '.' and all(
        ord(ch) < 128 and (ch.isalnum() or ch in '._-') for ch in name)


def _drain(stdin, puts):
    left = sum(e.get('len', 0) for e in puts if e.get('k') == 'f')
    while left > 0:
        chunk = stdin.read(min(left, CHUNK))
        if not chunk:
            break
        left -= len(chunk)


# ---------------------------------------------------------------------------------------------
# The mirror


def _precheck_parents(root, puts, deleting):
    """Refuses, before writing anything, a put whose folder in the mirror is a link or a file."""
    seen = {}
    for e in puts:
        parts = e['p'].split('/')
        for i in range(1, len(parts)):
            sub = '/'.join(parts[:i])
            if sub in seen:
                continue
            try:
                st = os.lstat(os.path.join(root, sub))
            except OSError:
                seen[sub] = True
                continue
            ok = stat.S_ISDIR(st.st_mode) or sub in deleting
            seen[sub] = ok
            if not ok:
                kind = 'a symlink' if stat.S_ISLNK(st.st_mode) else 'not a folder'
                raise SyncError('%s: %s in the mirror is %s (remove it there)'
                                % (e['p'], sub, kind))


def _parent(root, path, known):
    """The real folder that holds `path`, made where missing; never through a link. `known`:
    folders already checked in this request (one mkdir per folder, not one per file)."""
    parts = path.split('/')
    current = root
    for part in parts[:-1]:
        current = os.path.join(current, part)
        if current in known:
            continue
        known.add(current)
        try:
            os.mkdir(current, 0o755)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                raise SyncError('%s: %s in the mirror is not a folder' % (path, current))
    return current


def _put(root, parts, e, stdin, entries, known):
    path, kind = e['p'], e['k']
    dest = os.path.join(_parent(root, path, known), path.rsplit('/', 1)[-1])
    if kind == 'd':
        try:
            os.mkdir(dest, 0o755)
        except OSError as err:
            if err.errno != errno.EEXIST or not stat.S_ISDIR(os.lstat(dest).st_mode):
                raise
        entries[path] = ['d', '', 0, 0, 0]
        return True
    if kind == 'l':
        tmp = os.path.join(os.path.dirname(dest), '.%s.cb-%d.tmp' % (os.path.basename(dest),
                                                                      os.getpid()))
        os.symlink(e['t'], tmp)
        _replace(tmp, dest, path)
        entries[path] = ['l', e['t'], 0, 0, 0]
        return True
    return _put_file(dest, parts, e, stdin, entries)


def _put_file(dest, parts, e, stdin, entries):
    n, o, ln = e['n'], e.get('o', 0), e['len']
    whole = o == 0 and ln == n
    tmp = os.path.join(parts, e['h'] + ('.%d.tmp' % os.getpid() if whole else '.part'))
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, 'O_NOFOLLOW', 0)
    if o == 0:
        flags |= os.O_TRUNC
    fd = os.open(tmp, flags, 0o600)
    digest = hashlib.sha256() if whole else None
    try:
        if o and os.fstat(fd).st_size != o:
            raise SyncError('%s: piece at %d does not follow the %d bytes received'
                            % (e['p'], o, os.fstat(fd).st_size))
        os.lseek(fd, o, 0)
        left = ln
        while left > 0:
            chunk = stdin.read(min(left, CHUNK))
            if not chunk:
                raise SyncError('%s: stdin ended %d bytes early' % (e['p'], left))
            if digest is not None:
                digest.update(chunk)
            write_all(fd, chunk)
            left -= len(chunk)
        os.fchmod(fd, (e.get('m', 0o644) & 0o777) | 0o600)
    finally:
        os.close(fd)
    if o + ln < n:
        return False  # more pieces follow
    if digest is None:
        digest = _hash_file(tmp)
    if digest.hexdigest() != e['h']:
        os.unlink(tmp)
        raise SyncError('%s: content does not match its hash' % e['p'])
    _replace(tmp, dest, e['p'])
    if dest.endswith('.py'):
        _drop_bytecode(dest)
    st = os.lstat(dest)
    entries[e['p']] = ['f', e['h'], e.get('m', 0o644), st.st_size, st.st_mtime_ns]
    return True


def _replace(tmp, dest, path):
    try:
        os.rename(tmp, dest)
    except OSError as err:
        os.unlink(tmp)
        if err.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST):
            raise SyncError('%s: a folder is in the way in the mirror (it holds files the '
                            'bridge did not put there)' % path)
        raise


def _delete(root, path, entry):
    """Removes what the manifest says the bridge put at `path` (nothing else)."""
    if entry is None:
        return False
    full = os.path.join(root, path)
    parent = os.path.dirname(full)
    try:
        if os.path.realpath(parent) != os.path.join(os.path.realpath(root),
                                                     os.path.dirname(path)).rstrip('/'):
            return False  # a link on the way: never remove through it
        st = os.lstat(full)
    except OSError:
        return False
    try:
        if entry[0] == 'd':
            if stat.S_ISDIR(st.st_mode):
                _remove_bytecode(full)
                os.rmdir(full)
        elif not stat.S_ISDIR(st.st_mode):
            os.unlink(full)
            if full.endswith('.py'):
                _drop_bytecode(full)
        else:
            return False
    except OSError as e:
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            return False  # a cell's own files keep the folder
        raise
    return True


def _drop_bytecode(source):
    """A replaced module's cached bytecode: Python trusts it while the source's mtime (whole
    seconds) and size match, so a same-size edit synced within a second would go unseen."""
    cache = os.path.join(os.path.dirname(source), '__pycache__')
    prefix = os.path.basename(source)[:-3] + '.'
    try:
        names = os.listdir(cache)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith('.pyc'):
            try:
                os.unlink(os.path.join(cache, name))
            except OSError:
                pass


def _remove_bytecode(folder):
    """The __pycache__ that importing the synced sources made: it must not keep a folder alive."""
    cache = os.path.join(folder, '__pycache__')
    try:
        if not stat.S_ISDIR(os.lstat(cache).st_mode):
            return
    except OSError:
        return
    import shutil
    shutil.rmtree(cache, ignore_errors=True)  # unlinks links inside, never follows them


def _drifted(root, entries, coming):
    """Listed files and links that are no longer what was written: dropped, to be sent again."""
    out = []
    for path, e in list(entries.items()):
        if path in coming:
            continue
        try:
            st = os.lstat(os.path.join(root, path))
        except OSError:
            st = None
        kind = e[0]
        if kind == 'f':
            same = st is not None and stat.S_ISREG(st.st_mode) and \
                st.st_size == e[3] and st.st_mtime_ns == e[4]
        elif kind == 'l':
            same = st is not None and stat.S_ISLNK(st.st_mode) and \
                os.readlink(os.path.join(root, path)) == e[1]
        else:
            same = st is not None and stat.S_ISDIR(st.st_mode)
        if not same:
            del entries[path]
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------------
# Files of SYNCDIR


def _load(syncdir):
    try:
        with open(os.path.join(syncdir, MANIFEST), 'rb') as f:
            manifest = json.loads(f.read().decode('utf-8'))
        if isinstance(manifest, dict) and isinstance(manifest.get('entries'), dict):
            return manifest
    except (OSError, ValueError):
        pass
    return {'v': 1, 'token': None, 'entries': {}}


def _save(syncdir, manifest):
    write_json_atomic(os.path.join(syncdir, MANIFEST), manifest)


def _lock(syncdir):
    """One apply at a time per mirror (flock; where the filesystem has none, the bridge's order)."""
    fd = os.open(os.path.join(syncdir, LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        import fcntl
        fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass
    return fd


def _token():
    return ''.join('%02x' % b for b in bytearray(os.urandom(8)))


def _hash_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return digest
            digest.update(chunk)
