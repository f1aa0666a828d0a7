"""Variables in and out (`--in`/`--out`, `%cluster push/pull`): one codec for both sides.

Runs in the notebook's own kernel (its source embedded in the code the bridge hands the frontend,
executed in a private namespace) and in the remote runner/session. A folder holds one file per
value and manifest.json (src/shared/data.ts IVarsManifest), written last: a folder without a
manifest is an export that did not finish.

Formats: numpy arrays as .npy (no pickle; object arrays go by pickle), pandas objects and
everything else picklable by pickle. Code (functions, classes, modules) is refused: a pickle holds
it by reference, and the other side's Python may differ. Decoding goes through an allow-list
(numpy, pandas, builtin data types) unless the caller trusts the folder.

A value's file may travel as zblocks (manifest entry `encoding`) when its samples deflate to
under half: the bridge writes them on the way up (src/bridge/data/varsDeflate.ts), `dump(...,
deflate=True)` on the way back (--out from a cluster); either side inflates while it decodes.

Standard library only, Python 3.6 syntax; numpy and pandas are imported only when present.
"""
import io
import json
import os
import pickle
import re
import struct
import sys
import types
import zlib

MANIFEST = 'manifest.json'
FORMATS = ('npy', 'pandas', 'pickle', 'json')
ENCODINGS = (None, 'zblocks')
NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
CODE_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType,
              type, types.CodeType)

# Builtin and standard-library data types a result may be made of.
SAFE_GLOBALS = {
    'builtins': {'list', 'dict', 'tuple', 'set', 'frozenset', 'bytearray', 'bytes', 'str', 'int',
                 'float', 'complex', 'bool', 'slice', 'range'},
    'collections': {'OrderedDict', 'deque', 'Counter'},
    'datetime': {'date', 'datetime', 'time', 'timedelta', 'timezone'},
    'decimal': {'Decimal'},
    'fractions': {'Fraction'},
    'uuid': {'UUID'},
}
NUMPY_MODULES = ('numpy', 'numpy.core.multiarray', 'numpy._core.multiarray', 'numpy.core.numeric',
                 'numpy._core.numeric', 'numpy.dtypes')
NUMPY_FUNCTIONS = {'_reconstruct', 'scalar', '_frombuffer'}
PANDAS_MODULE = re.compile(r'^pandas\.(core|_libs)(\.[A-Za-z0-9_]+)*$')
PANDAS_FUNCTION = re.compile(r'^(_new_[A-Za-z]+|_?[A-Za-z_]*unpickle[A-Za-z_]*)$')


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle names something outside the allow-list."""


def versions():
    """What decides whether a folder can be decoded here."""
    found = {'python': '%d.%d.%d' % sys.version_info[:3], 'pickleProtocol': pickle.HIGHEST_PROTOCOL}
    for lib in ('numpy', 'pandas'):
        try:
            found[lib] = __import__(lib).__version__
        except Exception:
            pass
    return found


def skew(manifest, here):
    """Why `manifest` (made elsewhere) cannot be decoded by `here` (versions()); None when it can."""
    protocol = int(manifest.get('pickleProtocol') or 0)
    needs_pickle = any(v.get('format') != 'npy' for v in manifest.get('vars', []))
    if needs_pickle and protocol > int(here.get('pickleProtocol') or 0):
        return ('pickle protocol %d (Python %s) cannot be read by Python %s (protocol %s at most); '
                'use an env with Python 3.8 or newer' % (protocol, manifest.get('python'),
                                                         here.get('python'),
                                                         here.get('pickleProtocol')))
    for lib, theirs in sorted((manifest.get('libraries') or {}).items()):
        mine = here.get(lib)
        if mine is None:
            return ('the values need %s %s, which is not installed on the other side (Python %s); '
                    'add it to the env (--packages %s or --env with it)' % (
                        lib, theirs, here.get('python'), lib))
        if _major(mine) != _major(theirs):
            return ('%s %s sent, %s %s on the other side: a %s %s pickle does not load on %s %s; '
                    'use --env with a matching %s (%s.x) or convert the value (e.g. to a list)' % (
                        lib, theirs, lib, mine, lib, _major(theirs), lib, _major(mine), lib,
                        _major(mine)))
    return None


def dump(namespace, names, folder, protocol=None, outcome='nothing was sent', deflate=False):
    """Encodes namespace[name] for each name into `folder` (existing, private). On any failure,
    nothing stays in the folder and the error says which name and why, and `outcome`. deflate:
    files that compress well become zblocks (they are about to cross a network)."""
    names = list(names)
    missing = [n for n in names if not isinstance(n, str) or n not in namespace]
    if missing:
        raise NameError('name %s is not defined (%s)' % (', '.join(
            repr(n) for n in missing), outcome))
    for name in names:
        if isinstance(namespace[name], CODE_TYPES):
            raise TypeError('%s is %s: send data, not code (define it on the other side; '
                            '%s)' % (name, _type_name(namespace[name]), outcome))
    if protocol is None:
        protocol = min(pickle.HIGHEST_PROTOCOL, 5)
    entries, libraries, written = [], {}, []
    try:
        for i, name in enumerate(names):
            value = namespace[name]
            try:
                entry, libs = _encode(value, folder, '%03d-%s' % (i, name), protocol, written)
            except (pickle.PicklingError, TypeError, AttributeError) as e:
                raise TypeError('cannot send %s (%s): %s; %s' % (
                    name, _type_name(value), e, outcome)) from None
            entry.update(name=name, type=_type_name(value))
            if deflate and deflate_in_place(os.path.join(folder, entry['file']), written):
                entry['encoding'] = 'zblocks'
            entries.append(entry)
            libraries.update(libs)
        manifest = {'python': '%d.%d.%d' % sys.version_info[:3], 'libraries': libraries,
                    'pickleProtocol': protocol, 'vars': entries}
        _write(os.path.join(folder, MANIFEST), json.dumps(manifest).encode('utf-8'), written)
    except BaseException:
        for path in written:
            try:
                os.unlink(path)
            except OSError:
                pass
        raise
    return manifest


def load(folder, trust=False, here=None):
    """{name: value} of a folder, all decoded before anything is returned. trust: any pickle
    (the sender is the user's own notebook, or the cluster is trusted)."""
    try:
        with open(os.path.join(folder, MANIFEST), 'rb') as f:
            manifest = json.loads(f.read().decode('utf-8'))
    except (OSError, ValueError) as e:
        raise RuntimeError('the values were not received (no readable %s in %s: %s)' % (
            MANIFEST, folder, e))
    problem = skew(manifest, here or versions())
    if problem:
        raise RuntimeError(problem)
    values = {}
    for entry in manifest.get('vars', []):
        name, fmt, file = entry.get('name'), entry.get('format'), entry.get('file')
        encoding = entry.get('encoding')
        if not (isinstance(name, str) and NAME.match(name)) or fmt not in FORMATS or \
                not isinstance(file, str) or os.path.basename(file) != file or \
                encoding not in ENCODINGS:
            raise RuntimeError('%s lists a malformed value: %r' % (MANIFEST, entry))
        path = os.path.join(folder, file)
        try:
            values[name] = _decode(fmt, path, trust, encoding)
        except ZBlocksError as e:
            raise RuntimeError('%s did not arrive whole: %s' % (name, e))
        except RefusedGlobal as e:
            raise pickle.UnpicklingError(
                '%s was refused: %s. Results are decoded with an allow-list (numpy, pandas, '
                'builtin data); set "trustPickle": true in the cluster\'s config to accept any '
                'pickle from it' % (name, e))
    return values


def export(namespace, names, folder, protocol=None):
    """The notebook kernel's --in step (see the bridge's vars code)."""
    dump(namespace, names, folder, protocol)


def import_into(namespace, folder, trust=False):
    """The notebook kernel's --out step: every name at once, or none; the folder is removed."""
    try:
        values = load(folder, trust)
        namespace.update(values)
        return sorted(values)
    finally:
        _remove_tree(folder)


# ---------------------------------------------------------------------------------------------


def _encode(value, folder, stem, protocol, written):
    numpy = sys.modules.get('numpy')
    libs = {}
    if numpy is not None and type(value) is numpy.ndarray and not value.dtype.hasobject:
        path = os.path.join(folder, stem + '.npy')
        written.append(path)
        with open(path, 'wb') as f:
            numpy.save(f, value, allow_pickle=False)
        return {'format': 'npy', 'file': os.path.basename(path), 'bytes': os.path.getsize(path)}, \
            {'numpy': numpy.__version__}
    path = os.path.join(folder, stem + '.pkl')
    written.append(path)
    used = set()
    with open(path, 'wb') as f:
        _RecordingPickler(f, protocol, used).dump(value)
    root = type(value).__module__.split('.')[0]
    used.add(root)
    for lib in ('numpy', 'pandas'):
        if lib in used and lib in sys.modules:
            libs[lib] = sys.modules[lib].__version__
    fmt = 'pandas' if root == 'pandas' else 'pickle'
    return {'format': fmt, 'file': os.path.basename(path), 'bytes': os.path.getsize(path)}, libs


class _RecordingPickler(pickle.Pickler):
    """Notes the top-level packages of the objects it reduces (which libraries the other side
    needs). reducer_override exists from Python 3.8; before, the value's own type decides."""

    def __init__(self, f, protocol, used):
        pickle.Pickler.__init__(self, f, protocol)
        self._used = used

    def reducer_override(self, obj):
        self._used.add(type(obj).__module__.split('.')[0])
        # Library functions travel by name (numpy's reconstructors); the user's own code cannot.
        if isinstance(obj, (types.FunctionType, type)) and (
                getattr(obj, '__module__', None) == '__main__' or obj.__name__ == '<lambda>'):
            raise TypeError('%s inside the value: send data, not code' % _type_name(obj))
        return NotImplemented


def _decode(fmt, path, trust, encoding=None):
    if encoding == 'zblocks':
        with open(path, 'rb') as f:
            return _decode_stream(fmt, ZBlocksReader(f), trust)
    if fmt == 'npy':
        import numpy
        return numpy.load(path, allow_pickle=False)
    with open(path, 'rb') as f:
        return _decode_stream(fmt, f, trust)


def _decode_stream(fmt, f, trust):
    if fmt == 'npy':
        return _read_npy(f)
    if fmt == 'json':
        return json.loads(f.read().decode('utf-8'))
    if not isinstance(f, io.BufferedIOBase):
        f = io.BufferedReader(f, 1 << 20)
    if trust:
        return pickle.load(f)
    return _AllowListUnpickler(f).load()


def _read_npy(f):
    """An .npy from a stream, read straight into the array's memory (numpy's read_array
    reads a stream 256 KiB at a time through temporary bytes: three times slower here)."""
    import numpy
    from numpy.lib import format as npy_format
    version = npy_format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(f)
    else:  # 3.0: utf-8 field names; numpy has no public reader of its header
        impl = sys.modules.get('numpy.lib._format_impl', npy_format)
        shape, fortran, dtype = impl._read_array_header(f, version)
    if dtype.hasobject:
        raise ValueError('an object array cannot be read without pickle')
    array = numpy.empty(shape, dtype=dtype, order='F' if fortran else 'C')
    if array.nbytes:
        view = memoryview(array.T if fortran else array).cast('B')
        at = 0
        while at < len(view):
            n = f.readinto(view[at:])
            if not n:
                raise ZBlocksError('the array ends after %d of %d bytes' % (at, len(view)))
            at += n
    return array


class ZBlocksError(ValueError):
    pass


# The bridge's varsDeflate.ts makes the same choice with the same numbers.
DEFLATE_MIN_BYTES = 1 << 20
DEFLATE_BLOCK_BYTES = 4 << 20
DEFLATE_WORTH = 0.5
PROBE_SAMPLES = 8
PROBE_SAMPLE_BYTES = 128 << 10


def _deflated(data):
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def _zblock(raw):
    stored = _deflated(raw)
    if len(stored) >= len(raw):
        stored = raw
    return struct.pack('>II', len(raw), len(stored)) + stored


def compresses_well(path):
    """Whether evenly spread samples of `path` deflate (level 1) to under DEFLATE_WORTH."""
    size = os.path.getsize(path)
    if size < DEFLATE_MIN_BYTES:
        return False
    stride = (size - PROBE_SAMPLE_BYTES) // PROBE_SAMPLES
    raw = packed = 0
    with open(path, 'rb') as f:
        for i in range(PROBE_SAMPLES):
            f.seek(i * stride)
            sample = f.read(PROBE_SAMPLE_BYTES)
            raw += len(sample)
            packed += len(_deflated(sample))
    return packed < raw * DEFLATE_WORTH


def deflate_in_place(path, written):
    """Rewrites `path` as zblocks when it compresses well; True when it did. zlib lets go of
    the GIL, so blocks deflate on a few threads; at most 2 blocks a thread are held at once."""
    if not compresses_well(path):
        return False
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    tmp = path + '.zblocks'
    written.append(tmp)
    workers = max(1, min(4, os.cpu_count() or 1))
    with open(path, 'rb') as src, open(tmp, 'wb') as dst, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        while True:
            raw = src.read(DEFLATE_BLOCK_BYTES)
            if raw:
                pending.append(pool.submit(_zblock, raw))
            if pending and (not raw or len(pending) >= 2 * workers):
                dst.write(pending.popleft().result())
            if not raw and not pending:
                break
    os.replace(tmp, path)
    written.remove(tmp)
    return True


class ZBlocksReader(io.RawIOBase):
    """The plain bytes of a zblocks file: blocks of [raw length, stored length] (two big-endian
    uint32) and the stored bytes, raw deflate, or the raw bytes where the lengths are equal.
    Not a BufferedReader on purpose: numpy's read_array then reads it in chunks."""

    def __init__(self, f):
        io.RawIOBase.__init__(self)
        self._f = f
        self._block = memoryview(b'')
        self._at = 0

    def readable(self):
        return True

    def readinto(self, b):
        while self._at >= len(self._block):
            if not self._next_block():
                return 0
        n = min(len(b), len(self._block) - self._at)
        b[:n] = self._block[self._at:self._at + n]
        self._at += n
        return n

    def _next_block(self):
        head = self._f.read(8)
        if not head:
            return False
        if len(head) != 8:
            raise ZBlocksError('the file ends inside a block header')
        raw_len, stored_len = struct.unpack('>II', head)
        stored = self._f.read(stored_len)
        if len(stored) != stored_len:
            raise ZBlocksError('the file ends inside a block (%d of %d bytes)' % (
                len(stored), stored_len))
        if stored_len != raw_len:
            try:
                stored = zlib.decompress(stored, -15)
            except zlib.error as e:
                raise ZBlocksError('a block does not inflate: %s' % e)
            if len(stored) != raw_len:
                raise ZBlocksError('a block inflates to %d bytes, not %d' % (len(stored), raw_len))
        self._block = memoryview(stored)
        self._at = 0
        return True


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if _allowed(module, name):
            return pickle.Unpickler.find_class(self, module, name)
        raise RefusedGlobal('the pickle asks for %s.%s, which is not a known data type' % (
            module, name))


def _allowed(module, name):
    if name in SAFE_GLOBALS.get(module, ()):
        return True
    if module in NUMPY_MODULES:
        if name in NUMPY_FUNCTIONS:
            return True
        try:
            numpy = __import__('numpy')
            obj = getattr(sys.modules[module] if module in sys.modules else __import__(
                module, fromlist=['_']), name)
        except Exception:
            return False
        return isinstance(obj, type) and (issubclass(obj, (numpy.ndarray, numpy.generic,
                                                           numpy.dtype)))
    if PANDAS_MODULE.match(module) and not module.startswith('pandas.core.computation'):
        if PANDAS_FUNCTION.match(name):
            return True
        try:
            obj = getattr(__import__(module, fromlist=['_']), name)
        except Exception:
            return False
        return isinstance(obj, type)
    return False


def _write(path, data, written):
    written.append(path)
    with open(path, 'wb') as f:
        f.write(data)


def _remove_tree(folder):
    import shutil
    shutil.rmtree(folder, ignore_errors=True)


def _type_name(value):
    if isinstance(value, type):
        return 'a class (%s)' % value.__name__
    if isinstance(value, types.ModuleType):
        return 'a module (%s)' % value.__name__
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return 'a function (%s)' % getattr(value, '__name__', '?')
    t = type(value)
    module = t.__module__
    return t.__name__ if module == 'builtins' else '%s.%s' % (module, t.__name__)


def _major(version):
    return str(version).split('.')[0]


MANY_PROCESSES = ('array', 'nodes', 'gpusPerNode', 'tasksPerNode', 'launch')


def receive(bundle, namespace):
    """The runner's step before a cell: the bundle's `varsIn` folder into the namespace (all or
    none). The values come from the user's own notebook: trusted. A single process removes the
    folder at once; array elements and ranks share it (the bridge removes it after the cell)."""
    folder = bundle.get('varsIn')
    if not folder:
        return
    request = bundle.get('request') or {}
    try:
        namespace.update(load(folder, trust=True))
    finally:
        if not any(request.get(k) for k in MANY_PROCESSES):
            _remove_tree(folder)


def send(bundle, namespace):
    """The runner's step after a cell that ended without error: `varsOut` {names, dir, protocol}."""
    out = bundle.get('varsOut')
    if not out:
        return
    folder = out['dir']
    os.makedirs(folder, mode=0o700, exist_ok=True)
    # --out: the notebook's kernel is left as it was.
    dump(namespace, out.get('names') or [], folder, out.get('protocol') or 4,
         outcome='nothing was set in the notebook', deflate=bool(out.get('deflate')))
