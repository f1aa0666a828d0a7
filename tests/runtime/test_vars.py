"""_cb_vars: the --in/--out codec (round trips, the allow-list, code refused, version skew) and
the runner's varsIn/varsOut steps."""
import collections
import datetime
import json
import os
import pickle
import sys
import threading

from rt_helpers import TempDirCase, of_type

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'src', 'runtime'))
import _cb_vars  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


class Hostile(object):
    """Unpickling this runs a shell command (what a compromised cluster account could send)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ('touch %s' % self.marker,))


class CodecTest(TempDirCase):
    def folder(self, name='vars'):
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        return path

    def round_trip(self, values, trust=False):
        folder = self.folder()
        _cb_vars.dump(values, sorted(values), folder)
        return _cb_vars.load(folder, trust=trust)

    def test_every_supported_type_round_trips_through_the_allow_list(self):
        values = {
            'arr': np.arange(2000000, dtype=np.float64).reshape(1000, 2000),
            'ints': np.arange(7, dtype=np.int32),
            'objs': np.array([1, 'a', None], dtype=object),
            'scalar': np.float32(2.5),
            'df': pd.DataFrame({'x': [1, 2], 'y': ['a', 'b'],
                                't': pd.to_datetime(['2020-01-01', '2021-06-01']),
                                'c': pd.Categorical(['u', 'v'])}),
            'series': pd.Series([1.5, 2.5], index=pd.date_range('2020', periods=2), name='s'),
            'd': {'k': [1, 2], 'n': None}, 'l': [1, 'two', 3.0], 't': (1, (2, 3)), 's': 'text',
            'i': 12345678901234567890, 'f': 1.25, 'b': b'\x00\xff', 'none': None,
            'st': {1, 2}, 'od': collections.OrderedDict(a=1), 'when': datetime.datetime(2020, 1, 2),
        }
        back = self.round_trip(values)
        self.assertEqual(sorted(back), sorted(values))
        for name in ('arr', 'ints', 'objs'):
            np.testing.assert_array_equal(back[name], values[name])
            self.assertEqual(back[name].dtype, values[name].dtype)
        self.assertEqual(back['scalar'], values['scalar'])
        pd.testing.assert_frame_equal(back['df'], values['df'])
        pd.testing.assert_series_equal(back['series'], values['series'])
        for name in ('d', 'l', 't', 's', 'i', 'f', 'b', 'none', 'st', 'od', 'when'):
            self.assertEqual(back[name], values[name])
            self.assertIs(type(back[name]), type(values[name]))

    def test_formats_and_versions_in_the_manifest(self):
        folder = self.folder()
        manifest = _cb_vars.dump({'a': np.ones(3), 'df': pd.DataFrame({'x': [1]}), 'n': 1},
                                 ['a', 'df', 'n'], folder, protocol=4)
        with open(os.path.join(folder, 'manifest.json')) as f:
            self.assertEqual(json.load(f), manifest)
        self.assertEqual([v['format'] for v in manifest['vars']], ['npy', 'pandas', 'pickle'])
        self.assertEqual(manifest['vars'][0]['type'], 'numpy.ndarray')
        self.assertEqual(manifest['python'], '%d.%d.%d' % sys.version_info[:3])
        self.assertEqual(manifest['libraries'], {'numpy': np.__version__,
                                                 'pandas': pd.__version__})
        self.assertEqual(manifest['pickleProtocol'], 4)
        with open(os.path.join(folder, manifest['vars'][0]['file']), 'rb') as f:
            self.assertEqual(f.read(6), b'\x93NUMPY')  # .npy, not a pickle
        builtins_only = _cb_vars.dump({'n': [1]}, ['n'], self.folder('b'))
        self.assertEqual(builtins_only['libraries'], {})

    def test_hostile_pickle_is_refused_naming_the_global_and_runs_nothing(self):
        marker = os.path.join(self.tmp, 'pwned')
        folder = self.folder()
        _cb_vars.dump({'ok': 1, 'evil': Hostile(marker)}, ['ok', 'evil'], folder)
        with self.assertRaises(pickle.UnpicklingError) as caught:
            _cb_vars.load(folder)
        message = str(caught.exception)
        self.assertIn('evil', message)
        self.assertIn('posix.system', message)
        self.assertIn('trustPickle', message)
        self.assertFalse(os.path.exists(marker))
        namespace = {'ok': 'before'}
        with self.assertRaises(pickle.UnpicklingError):
            _cb_vars.import_into(namespace, folder)
        self.assertEqual(namespace, {'ok': 'before'})  # nothing half-set
        self.assertFalse(os.path.exists(folder))

    def test_trusted_folder_loads_any_pickle(self):
        marker = os.path.join(self.tmp, 'ran')
        folder = self.folder()
        _cb_vars.dump({'evil': Hostile(marker)}, ['evil'], folder)
        _cb_vars.load(folder, trust=True)
        self.assertTrue(os.path.exists(marker))

    def test_code_is_refused_and_nothing_is_written(self):
        def helper():
            return 1

        cases = {'fn': helper, 'lam': lambda: 1, 'cls': Hostile, 'mod': os, 'nested': [lambda: 2]}
        for name, value in cases.items():
            folder = self.folder(name)
            with self.assertRaises(TypeError) as caught:
                _cb_vars.dump({'ok': 1, name: value}, ['ok', name], folder)
            self.assertIn('send data, not code', str(caught.exception))
            self.assertIn(name, str(caught.exception))
            self.assertEqual(os.listdir(folder), [])

    def test_unpicklable_value_and_unknown_name_are_clear_errors_with_nothing_written(self):
        folder = self.folder()
        with self.assertRaises(TypeError) as caught:
            _cb_vars.dump({'a': np.ones(3), 'lock': threading.Lock()}, ['a', 'lock'], folder)
        self.assertIn('cannot send lock', str(caught.exception))
        self.assertEqual(os.listdir(folder), [])
        with self.assertRaises(NameError) as caught:
            _cb_vars.dump({'a': 1}, ['a', 'nope'], folder)
        self.assertIn("'nope'", str(caught.exception))
        self.assertEqual(os.listdir(folder), [])

    def test_version_skew_names_both_versions_and_what_to_do(self):
        manifest = {'python': '3.12.1', 'pickleProtocol': 5, 'libraries': {'numpy': '2.0.1'},
                    'vars': [{'format': 'npy'}]}
        here = {'python': '3.11.2', 'pickleProtocol': 5, 'numpy': '1.24.2'}
        problem = _cb_vars.skew(manifest, here)
        self.assertIn('numpy 2.0.1', problem)
        self.assertIn('numpy 1.24.2', problem)
        self.assertIn('--env', problem)
        self.assertIsNone(_cb_vars.skew(manifest, dict(here, numpy='2.1.0')))
        old = {'python': '3.7.3', 'pickleProtocol': 4, 'numpy': '2.0.0'}
        pickled = dict(manifest, vars=[{'format': 'pickle'}])
        self.assertIn('Python 3.7.3', _cb_vars.skew(pickled, old))
        self.assertIn('3.12.1', _cb_vars.skew(pickled, old))
        missing = _cb_vars.skew(manifest, {'python': '3.11.2', 'pickleProtocol': 5})
        self.assertIn('not installed', missing)
        folder = self.folder()
        _cb_vars.dump({'a': np.ones(2)}, ['a'], folder)
        with self.assertRaises(RuntimeError) as caught:
            _cb_vars.load(folder, here=dict(_cb_vars.versions(), numpy='0.9'))
        self.assertIn('numpy 0.9', str(caught.exception))


class ZBlocksTest(TempDirCase):
    """Files the bridge deflated on the way up (varsDeflate.ts): inflated while decoded."""

    @staticmethod
    def zblocks(data, block=1 << 20):
        import struct
        import zlib
        out = []
        for at in range(0, len(data), block):
            raw = data[at:at + block]
            packer = zlib.compressobj(1, zlib.DEFLATED, -15)
            stored = packer.compress(raw) + packer.flush()
            if len(stored) >= len(raw):
                stored = raw
            out.append(struct.pack('>II', len(raw), len(stored)) + stored)
        return b''.join(out)

    def sent_deflated(self, values):
        folder = os.path.join(self.tmp, 'vars')
        os.makedirs(folder)
        _cb_vars.dump(values, sorted(values), folder)
        path = os.path.join(folder, 'manifest.json')
        with open(path) as f:
            manifest = json.load(f)
        for entry in manifest['vars']:
            file = os.path.join(folder, entry['file'])
            with open(file, 'rb') as f:
                data = f.read()
            with open(file, 'wb') as f:
                f.write(self.zblocks(data))
            entry['encoding'] = 'zblocks'
        with open(path, 'w') as f:
            json.dump(manifest, f)
        return folder, manifest

    def test_arrays_and_pickles_round_trip_through_zblocks(self):
        a = np.ones((3000, 200))
        a[7, 7] = 2.0
        mixed = np.concatenate([np.zeros(300000), np.random.RandomState(0).rand(300000)])
        values = {'a': a, 'mixed': mixed, 'frame': pd.DataFrame({'x': range(50000)}),
                  'd': {'k': [1, 2, 3] * 1000}}
        folder, _ = self.sent_deflated(values)
        got = _cb_vars.load(folder)
        np.testing.assert_array_equal(got['a'], a)
        np.testing.assert_array_equal(got['mixed'], mixed)
        pd.testing.assert_frame_equal(got['frame'], values['frame'])
        self.assertEqual(got['d'], values['d'])

    def test_dump_deflates_what_compresses_for_out_and_loads_it_back(self):
        folder = os.path.join(self.tmp, 'out')
        os.makedirs(folder)
        ones = np.ones((600, 1000))
        fortran = np.asfortranarray(np.arange(600000.0).reshape(600, 1000))
        noise = np.random.RandomState(1).rand(300000)
        labels = np.array(['cat', 'dog'] * 100000)
        values = {'ones': ones, 'fortran': fortran, 'noise': noise, 'labels': labels,
                  'small': np.zeros(10)}
        manifest = _cb_vars.dump(values, sorted(values), folder, deflate=True)
        encoding = {v['name']: v.get('encoding') for v in manifest['vars']}
        self.assertEqual(encoding, {'fortran': 'zblocks', 'labels': 'zblocks', 'noise': None,
                                    'ones': 'zblocks', 'small': None})
        sizes = {v['name']: os.path.getsize(os.path.join(folder, v['file']))
                 for v in manifest['vars']}
        self.assertLess(sizes['ones'], ones.nbytes / 100)
        self.assertGreater(sizes['noise'], noise.nbytes)
        self.assertEqual(sorted(f for f in os.listdir(folder) if 'zblocks' in f), [])
        got = _cb_vars.load(folder)
        for name, value in values.items():
            np.testing.assert_array_equal(got[name], value)
        self.assertTrue(got['fortran'].flags['F_CONTIGUOUS'])
        # Without deflate (the local cluster) every file is as numpy wrote it.
        plain = os.path.join(self.tmp, 'plain')
        os.makedirs(plain)
        manifest = _cb_vars.dump(values, sorted(values), plain)
        self.assertFalse(any('encoding' in v for v in manifest['vars']))

    def test_a_cut_file_and_an_unknown_encoding_are_clear_errors(self):
        folder, manifest = self.sent_deflated({'a': np.zeros(500000)})
        file = os.path.join(folder, manifest['vars'][0]['file'])
        with open(file, 'r+b') as f:
            f.truncate(os.path.getsize(file) - 5)
        with self.assertRaisesRegex(RuntimeError, 'a did not arrive whole: the file ends inside'):
            _cb_vars.load(folder)
        manifest['vars'][0]['encoding'] = 'gzip'
        with open(os.path.join(folder, 'manifest.json'), 'w') as f:
            json.dump(manifest, f)
        with self.assertRaisesRegex(RuntimeError, 'malformed value'):
            _cb_vars.load(folder)


class RunnerStepsTest(TempDirCase):
    def test_vars_in_before_the_cell_and_vars_out_after_it(self):
        incoming = os.path.join(self.tmp, 'in')
        outgoing = os.path.join(self.tmp, 'out')
        os.makedirs(incoming)
        _cb_vars.dump({'a': np.arange(10), 'k': 3}, ['a', 'k'], incoming)
        code, events = self.run_runner(
            'b = a * k\nc = {"n": int(b.sum())}', varsIn=incoming,
            varsOut={'names': ['b', 'c'], 'dir': outgoing, 'protocol': 4})
        self.assertEqual(code, 0, events)
        self.assertFalse(os.path.exists(incoming))  # removed once loaded
        back = _cb_vars.load(outgoing)
        np.testing.assert_array_equal(back['b'], np.arange(10) * 3)
        self.assertEqual(back['c'], {'n': 135})

    def test_missing_out_name_is_an_error_in_the_cell_and_nothing_is_written(self):
        outgoing = os.path.join(self.tmp, 'out')
        code, events = self.run_runner('b = 1', varsOut={'names': ['b', 'nope'],
                                                         'dir': outgoing})
        self.assertEqual(code, 1)
        errors = of_type(events, 'error')
        self.assertEqual(errors[0]['ename'], 'NameError')
        self.assertIn("'nope'", errors[0]['evalue'])
        self.assertIn('nothing was set in the notebook', errors[0]['evalue'])
        self.assertFalse(os.path.exists(os.path.join(outgoing, 'manifest.json')))
        self.assertEqual(os.listdir(outgoing), [])

    def test_a_failing_cell_sends_nothing(self):
        outgoing = os.path.join(self.tmp, 'out')
        code, _ = self.run_runner('b = 1\nraise ValueError("x")',
                                  varsOut={'names': ['b'], 'dir': outgoing})
        self.assertEqual(code, 1)
        self.assertFalse(os.path.exists(outgoing))

    def test_array_elements_and_ranks_share_the_folder(self):
        incoming = os.path.join(self.tmp, 'in')
        os.makedirs(incoming)
        _cb_vars.dump({'k': 3}, ['k'], incoming)
        code, events = self.run_runner('print(k)', varsIn=incoming,
                                       request={'array': {'name': 'i', 'values': [1, 2]}})
        self.assertEqual(code, 0, events)
        self.assertTrue(os.path.exists(os.path.join(incoming, 'manifest.json')))
        code, events = self.run_runner('print(k)', varsIn=incoming, request={'nodes': 2})
        self.assertEqual(code, 0, events)
        self.assertTrue(os.path.exists(incoming))  # the bridge removes it after the cell
