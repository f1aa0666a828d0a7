"""The agent's `sync-apply` (_cb_sync.py): deltas, deletions, pieces, drift, and refused escapes."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from rt_helpers import AGENT, PYTHON


def sha(data):
    return hashlib.sha256(data).hexdigest()


def put_file(path, data, mode=0o644, offset=0, length=None, size=None):
    length = len(data) if length is None else length
    return {'p': path, 'k': 'f', 'h': sha(data), 'm': mode,
            'n': len(data) if size is None else size, 'o': offset, 'len': length}


class SyncApply(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='cb-sync-')
        self.syncdir = os.path.join(self.tmp, 'work', 'sync', 'k1')
        self.root = os.path.join(self.syncdir, 'proj')
        self.token = None

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def apply(self, puts=(), deletes=(), body=b'', base='mine', expect=0):
        header = {'v': 1, 'base': self.token if base == 'mine' else base, 'name': 'proj',
                  'put': list(puts), 'delete': list(deletes)}
        data = json.dumps(header).encode() + b'\n' + body
        out = subprocess.run([PYTHON, '-I', AGENT, 'sync-apply', self.syncdir], input=data,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(out.returncode, expect, out.stderr.decode())
        if expect != 0:
            return out.stderr.decode()
        answer = json.loads(out.stdout.decode())
        if answer.get('ok'):
            self.token = answer['token']
        return answer

    def read(self, path):
        with open(os.path.join(self.root, path), 'rb') as f:
            return f.read()

    def test_first_sync_then_changes_and_deletions(self):
        a, b = b'import os\n', b'x = 1\n'
        answer = self.apply([{'p': 'pkg', 'k': 'd'}, put_file('pkg/a.py', a),
                             put_file('run.sh', b, mode=0o755),
                             {'p': 'link.py', 'k': 'l', 't': 'pkg/a.py'}], body=a + b)
        self.assertEqual((answer['written'], answer['bytes']), (4, len(a) + len(b)))
        self.assertEqual(answer['dir'], self.root)
        self.assertEqual(self.read('pkg/a.py'), a)
        self.assertEqual(os.stat(os.path.join(self.root, 'run.sh')).st_mode & 0o777, 0o755)
        self.assertEqual(os.readlink(os.path.join(self.root, 'link.py')), 'pkg/a.py')
        # A cell's own output in the mirror is never touched by a later sync.
        with open(os.path.join(self.root, 'pkg', 'out.csv'), 'w') as f:
            f.write('1,2\n')
        answer = self.apply([put_file('run.sh', b'y = 2\n')], deletes=['pkg/a.py', 'link.py'],
                            body=b'y = 2\n')
        self.assertEqual((answer['written'], answer['deleted']), (1, 2))
        self.assertEqual(sorted(os.listdir(self.root)), ['pkg', 'run.sh'])
        self.assertEqual(os.listdir(os.path.join(self.root, 'pkg')), ['out.csv'])
        # The folder goes once it holds nothing a cell made.
        os.unlink(os.path.join(self.root, 'pkg', 'out.csv'))
        # Bytecode of the synced sources does not keep it alive either.
        os.mkdir(os.path.join(self.root, 'pkg', '__pycache__'))
        open(os.path.join(self.root, 'pkg', '__pycache__', 'a.cpython-311.pyc'), 'w').close()
        self.assertEqual(self.apply(deletes=['pkg'])['deleted'], 1)
        self.assertEqual(os.listdir(self.root), ['run.sh'])

    def test_a_replaced_module_loses_its_bytecode(self):
        self.apply([put_file('m.py', b'V = 1\n')], body=b'V = 1\n')
        cache = os.path.join(self.root, '__pycache__')
        os.mkdir(cache)
        for name in ('m.cpython-311.pyc', 'm.cpython-39.opt-1.pyc', 'mm.cpython-311.pyc'):
            open(os.path.join(cache, name), 'w').close()
        self.apply([put_file('m.py', b'V = 2\n')], body=b'V = 2\n')
        self.assertEqual(os.listdir(cache), ['mm.cpython-311.pyc'])

    def test_nothing_to_do_keeps_the_token_and_writes_nothing(self):
        self.apply([put_file('a.py', b'a')], body=b'a')
        token = self.token
        manifest = os.path.join(self.syncdir, '.manifest.json')
        before = os.stat(manifest).st_mtime_ns
        self.assertEqual(self.apply()['token'], token)
        self.assertEqual(os.stat(manifest).st_mtime_ns, before)

    def test_stale_base_applies_nothing_and_answers_the_manifest(self):
        self.apply([put_file('a.py', b'a')], body=b'a')
        answer = self.apply([put_file('b.py', b'b')], body=b'b', base='not-the-token')
        self.assertFalse(answer['ok'])
        self.assertTrue(answer['mismatch'])
        self.assertEqual(answer['entries'], {'a.py': ['f', sha(b'a'), 0o644]})
        self.assertFalse(os.path.exists(os.path.join(self.root, 'b.py')))

    def test_a_file_a_cell_changed_is_named_as_drifted(self):
        self.apply([put_file('a.py', b'a'), put_file('b.py', b'b')], body=b'ab')
        with open(os.path.join(self.root, 'a.py'), 'w') as f:
            f.write('changed remotely')
        answer = self.apply()
        self.assertEqual(answer['drifted'], ['a.py'])
        again = self.apply([put_file('a.py', b'a')], body=b'a')
        self.assertEqual(again['drifted'], [])
        self.assertEqual(self.read('a.py'), b'a')

    def test_a_big_file_in_pieces(self):
        data = os.urandom(3000)
        first = put_file('big.bin', data, length=1000)
        self.assertEqual(self.apply([first], body=data[:1000])['written'], 0)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'big.bin')))
        rest = put_file('big.bin', data, offset=1000, length=2000)
        self.assertEqual(self.apply([rest], body=data[1000:])['written'], 1)
        self.assertEqual(self.read('big.bin'), data)

    def test_content_that_does_not_match_its_hash_is_refused(self):
        entry = put_file('a.py', b'right')
        err = self.apply([entry], body=b'wrong', expect=2)
        self.assertIn('does not match its hash', err)
        self.assertFalse(os.path.exists(os.path.join(self.root, 'a.py')))

    def test_escapes_are_refused_before_anything_is_written(self):
        outside = os.path.join(self.tmp, 'work', 'sync', 'evil')
        for puts, words in [
            ([put_file('ok.py', b'x'), put_file('../evil', b'x')], 'leaves the mirror'),
            ([put_file('a/../../evil', b'x')], 'leaves the mirror'),
            ([put_file('/tmp/evil', b'x')], 'absolute path'),
            ([{'p': 'up', 'k': 'l', 't': '../evil'}], 'points out of the mirror'),
            ([{'p': 'a/up', 'k': 'l', 't': 'b/../../../evil'}], 'points out of the mirror'),
            ([{'p': 'abs', 'k': 'l', 't': '/etc'}], 'not a relative path'),
            ([put_file('a\nb', b'x')], 'control character'),
        ]:
            err = self.apply(puts, body=b'xx', expect=2)
            self.assertIn(words, err)
            self.assertFalse(os.path.exists(outside))
            self.assertFalse(os.path.exists(os.path.join(self.root, 'ok.py')))
        self.assertIn('leaves the mirror', self.apply(deletes=['../k1'], expect=2))

    def test_never_writes_through_a_link_a_cell_made(self):
        self.apply([put_file('a.py', b'a')], body=b'a')
        target = os.path.join(self.tmp, 'elsewhere')
        os.mkdir(target)
        os.symlink(target, os.path.join(self.root, 'data'))
        err = self.apply([put_file('data/x.py', b'x')], body=b'x', expect=2)
        self.assertIn('data in the mirror is a symlink', err)
        self.assertEqual(os.listdir(target), [])


if __name__ == '__main__':
    unittest.main()
