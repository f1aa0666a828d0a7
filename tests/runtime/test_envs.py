"""VENV2: built from the spec with venv or (the stand-in) conda, locked, reused, failing loudly."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest
import zipfile

from rt_helpers import (AGENT, FAKE_CONDA, PYTHON, TempDirCase, of_type, read_events, stream_text,
                        strip_ansi)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'src', 'runtime'))
import _cb_envs  # noqa: E402


def parse_lines(data):
    return [json.loads(line) for line in data.decode('utf-8').splitlines() if line.strip()]


def make_wheel(directory, name='cbtestpkg', version='0.1'):
    """A minimal pure-Python wheel, so pip can install offline (--no-index --find-links)."""
    path = os.path.join(directory, '%s-%s-py3-none-any.whl' % (name, version))
    dist = '%s-%s.dist-info' % (name, version)
    files = {
        '%s.py' % name: 'VALUE = "installed from a local wheel"\n',
        dist + '/METADATA': 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' % (name, version),
        dist + '/WHEEL': 'Wheel-Version: 1.0\nGenerator: cb-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    }
    record = ''.join('%s,,\n' % f for f in files) + dist + '/RECORD,,\n'
    with zipfile.ZipFile(path, 'w') as z:
        for f, text in files.items():
            z.writestr(f, text)
        z.writestr(dist + '/RECORD', record)
    return path


class EnvHash(unittest.TestCase):
    def test_hash_ignores_key_order_and_defaults(self):
        a = _cb_envs.env_hash({'python': '3.11', 'pip': ['x']})
        b = _cb_envs.env_hash({'pip': ['x'], 'python': '3.11', 'manager': 'auto',
                                'systemSitePackages': True, 'channels': []})
        self.assertEqual(a, b)
        self.assertNotEqual(a, _cb_envs.env_hash({'python': '3.12', 'pip': ['x']}))
        self.assertRegex(a, '^[0-9a-f]{16}$')


class VenvBuilds(TempDirCase):
    def go(self, name, code, spec, env=None):
        out = self.agent('go', self.jobdir(name), input=self.bundle(code, spec), env=env)
        return out, parse_lines(out.stdout)

    def test_venv_without_packages(self):
        spec = self.venv_spec(setup=['export CB_SETUP_MARK="a b\'c"'])
        out, events = self.go('v1', 'import os, sys\nprint(os.environ["CB_SETUP_MARK"])\nprint(sys.prefix)', spec)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertDone(events, 'completed')
        h = _cb_envs.env_hash(spec)
        prefix = os.path.join(self.work, 'envs', h)
        self.assertEqual(stream_text(events), 'a b\'c\n%s\n' % prefix,
                         'setup lines ran before the runner, which runs in VENV2')
        env_text = ''.join(e['text'] for e in of_type(events, 'env'))
        self.assertIn('-m venv --system-site-packages --without-pip', env_text)
        with open(os.path.join(self.work, 'envs', h + '.ready')) as f:
            self.assertEqual(json.load(f)['python'], os.path.join(prefix, 'bin', 'python'))

    def test_pip_package_from_local_wheel(self):
        wheels = os.path.join(self.tmp, 'wheels')
        os.makedirs(wheels)
        make_wheel(wheels)
        env = self.env(PIP_NO_INDEX='1', PIP_FIND_LINKS=wheels)
        spec = self.venv_spec(pip=['cbtestpkg'], systemSitePackages=False)
        out, events = self.go('w1', 'import cbtestpkg\nprint(cbtestpkg.VALUE)', spec, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertDone(events, 'completed')
        self.assertEqual(stream_text(events), 'installed from a local wheel\n')
        env_text = ''.join(e['text'] for e in of_type(events, 'env'))
        self.assertIn('pip install', env_text)
        self.assertIn('Successfully installed cbtestpkg-0.1', env_text, 'pip output streamed')

    def test_failing_pip_install_shows_pips_error(self):
        env = self.env(PIP_NO_INDEX='1')
        spec = self.venv_spec(pip=['does-not-exist-pkg'], systemSitePackages=False)
        out, events = self.go('f1', 'print("must not run")', spec, env=env)
        self.assertNotEqual(out.returncode, 2, out.stderr)
        err = of_type(events, 'error')[0]
        text = '\n'.join(err['traceback'])
        self.assertIn('pip install failed', err['evalue'])
        self.assertIn('No matching distribution found for does-not-exist-pkg', text)
        done = self.assertDone(events, 'failed')
        self.assertEqual(done['reason'], 'environment build failed')
        self.assertEqual(stream_text(events), '', 'the cell never ran')
        h = _cb_envs.env_hash(spec)
        self.assertFalse(os.path.exists(os.path.join(self.work, 'envs', h + '.ready')))
        self.assertFalse(os.path.exists(os.path.join(self.work, 'envs', h)), 'failed build removed')

    def test_python_too_old_is_refused(self):
        old = os.path.join(HERE, 'fixtures', 'bin', 'python3.6-old')
        out, events = self.go('o1', '1', self.venv_spec(python=old))
        err = of_type(events, 'error')[0]
        self.assertIn('Python 3.6.15', err['evalue'])
        self.assertIn('too old', err['evalue'])
        self.assertIn('3.8', err['evalue'])
        self.assertDone(events, 'failed')

    def test_missing_python_is_clear(self):
        out, events = self.go('m1', '1', self.venv_spec(python='/nonexistent/python3'))
        err = of_type(events, 'error')[0]
        self.assertIn('no Python interpreter found', err['evalue'])
        self.assertIn('/nonexistent/python3', '\n'.join(err['traceback']))

    def test_conda_requested_but_missing(self):
        out, events = self.go('m2', '1', {'manager': 'conda', 'python': '3.11'})
        err = of_type(events, 'error')[0]
        self.assertIn('conda was requested', err['evalue'])
        self.assertDone(events, 'failed')


class CondaCase(TempDirCase):
    """The conda stand-in: its root and the invocations it recorded."""

    def setUp(self):
        TempDirCase.setUp(self)
        self.conda_root = os.path.join(self.tmp, 'conda-root')
        self.conda = os.path.join(FAKE_CONDA, 'bin', 'conda')

    def conda_env(self, **extra):
        values = dict(CONDA_EXE=self.conda, FAKE_CONDA_ROOT=self.conda_root)
        values.update(extra)
        return self.env(**values)

    def invocations(self):
        path = os.path.join(self.conda_root, 'invocations.jsonl')
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]


class CondaBuilds(CondaCase):
    def test_conda_create_arguments_and_run(self):
        spec = {'python': '3.11', 'channels': ['conda-forge', 'nvidia'], 'conda': ['numpy', 'cuda-nvcc']}
        out = self.agent('go', self.jobdir('c1'), input=self.bundle(
            'import sys\nprint(sys.prefix)', spec), env=self.conda_env())
        events = parse_lines(out.stdout)
        self.assertDone(events, 'completed')
        name = 'cb-' + _cb_envs.env_hash(spec)
        creates = [a for a in self.invocations() if a[0] == 'create']
        self.assertEqual(creates, [['create', '-y', '-n', name, 'python=3.11', '-c', 'conda-forge',
                                    '-c', 'nvidia', 'numpy', 'cuda-nvcc']])
        self.assertEqual(stream_text(events), os.path.join(self.conda_root, 'envs', name) + '\n')
        env_text = ''.join(e['text'] for e in of_type(events, 'env'))
        self.assertIn('Solving environment: done', env_text, "conda's own output streamed")
        # Warm: the second cell calls conda not at all.
        before = len(self.invocations())
        out2 = self.agent('go', self.jobdir('c2'), input=self.bundle('print(2)', spec),
                          env=self.conda_env())
        self.assertEqual(stream_text(parse_lines(out2.stdout)), '2\n')
        self.assertEqual(len(self.invocations()), before)

    def test_conda_pip_packages_use_the_envs_pip(self):
        wheels = os.path.join(self.tmp, 'wheels')
        os.makedirs(wheels)
        make_wheel(wheels)
        spec = {'python': '3.11', 'pip': ['cbtestpkg']}
        out = self.agent('go', self.jobdir('p1'), input=self.bundle(
            'import cbtestpkg, sys\nprint(cbtestpkg.__file__.startswith(sys.prefix))', spec),
            env=self.conda_env(PIP_NO_INDEX='1', PIP_FIND_LINKS=wheels))
        events = parse_lines(out.stdout)
        self.assertDone(events, 'completed')
        self.assertEqual(stream_text(events), 'True\n')
        create = [a for a in self.invocations() if a[0] == 'create'][0]
        self.assertEqual(create[-1], 'pip', 'pip is added to the conda packages')

    def test_conda_failure_shows_condas_error(self):
        spec = {'python': '3.11', 'conda': ['does-not-exist']}
        out = self.agent('go', self.jobdir('f1'), input=self.bundle('print(1)', spec),
                         env=self.conda_env())
        events = parse_lines(out.stdout)
        err = of_type(events, 'error')[0]
        self.assertIn('conda create failed', err['evalue'])
        self.assertIn('PackagesNotFoundError', '\n'.join(err['traceback']))
        self.assertIn('  - does-not-exist', '\n'.join(err['traceback']))
        self.assertDone(events, 'failed')
        h = _cb_envs.env_hash(spec)
        self.assertFalse(os.path.exists(os.path.join(self.work, 'envs', h + '.ready')))
        self.assertFalse(os.path.exists(os.path.join(self.conda_root, 'envs', 'cb-' + h)))

    def test_conda_too_old_python_refused_before_create(self):
        out = self.agent('go', self.jobdir('o1'), input=self.bundle('1', {'python': '3.6'}),
                         env=self.conda_env())
        events = parse_lines(out.stdout)
        self.assertIn('too old', of_type(events, 'error')[0]['evalue'])
        self.assertEqual([a for a in self.invocations() if a[0] == 'create'], [])

    def test_conda_found_in_home_install(self):
        os.symlink(FAKE_CONDA, os.path.join(self.home, 'miniforge3'))
        env = self.env(FAKE_CONDA_ROOT=self.conda_root)  # no CONDA_EXE, not on PATH
        out = self.agent('go', self.jobdir('h1'), input=self.bundle('1', {'python': '3.11'}), env=env)
        self.assertDone(parse_lines(out.stdout), 'completed')
        self.assertEqual(len([a for a in self.invocations() if a[0] == 'create']), 1)

    def test_conda_found_through_conda_sh(self):
        root = os.path.join(self.home, 'anaconda3', 'etc', 'profile.d')
        os.makedirs(root)
        shutil.copy(os.path.join(FAKE_CONDA, 'etc', 'profile.d', 'conda.sh'), root)
        env = self.env(FAKE_CONDA_ROOT=self.conda_root, FAKE_CONDA_EXE=self.conda)
        out = self.agent('go', self.jobdir('s1'), input=self.bundle('1', {'python': '3.11'}), env=env)
        self.assertDone(parse_lines(out.stdout), 'completed')
        self.assertEqual(len([a for a in self.invocations() if a[0] == 'create']), 1)

    def test_conda_found_after_setup_lines(self):
        spec = {'python': '3.11', 'setup': ['PATH=%s:$PATH; export PATH' % os.path.join(FAKE_CONDA, 'bin')]}
        out = self.agent('go', self.jobdir('u1'), input=self.bundle('1', spec),
                         env=self.env(FAKE_CONDA_ROOT=self.conda_root))
        self.assertDone(parse_lines(out.stdout), 'completed')
        self.assertEqual(len([a for a in self.invocations() if a[0] == 'create']), 1)

    def test_cancel_during_build_removes_the_half_built_env(self):
        spec = {'python': '3.11', 'conda': ['numpy']}
        env = self.conda_env(FAKE_CONDA_DELAY='30')
        jobdir = self.jobdir('cb')
        self.agent('prepare', jobdir, input=self.bundle('print(1)', spec), env=env)
        launched = self.agent('launch', jobdir, env=env)
        self.assertEqual(launched.returncode, 0, launched.stderr)
        env_text = lambda: ''.join(e['text'] for e in of_type(read_events(jobdir), 'env'))
        from rt_helpers import wait_for
        self.assertTrue(wait_for(lambda: 'Collecting package metadata' in env_text(), 60))
        out = self.agent('cancel', jobdir, '--grace', '5', env=env)
        self.assertTrue(json.loads(out.stdout.decode())['ok'], out.stdout)
        events = read_events(jobdir)
        done = self.assertDone(events, 'cancelled')
        self.assertIn('building the environment', done['reason'])
        self.assertEqual(stream_text(events), '')
        h = _cb_envs.env_hash(spec)
        self.assertFalse(os.path.exists(os.path.join(self.work, 'envs', h + '.ready')))
        self.assertFalse(os.path.exists(os.path.join(self.conda_root, 'envs', 'cb-' + h)))
        with open(os.path.join(jobdir, 'status.json')) as f:
            self.assertGroupsGone(json.load(f)['pgid'])

    def test_a_job_beats_while_it_builds_its_env(self):
        # A node that dies during a minutes-long build must fall silent as one running would.
        spec = {'python': '3.11', 'conda': ['numpy']}
        env = self.conda_env(FAKE_CONDA_DELAY='30', CB_HEARTBEAT_S='0.2')
        jobdir = self.jobdir('beat')
        self.agent('prepare', jobdir, input=self.bundle('print(1)', spec), env=env)
        self.assertEqual(self.agent('launch', jobdir, env=env).returncode, 0)
        from rt_helpers import wait_for
        path = os.path.join(jobdir, 'status.json')

        def state():
            try:
                with open(path) as f:
                    return json.load(f).get('state')
            except (OSError, ValueError):
                return None
        self.assertTrue(wait_for(lambda: state() == 'preparing', 60))
        old = time.time() - 600
        os.utime(path, (old, old))
        self.assertTrue(wait_for(lambda: time.time() - os.stat(path).st_mtime < 5, 10),
                        'the heartbeat touched status.json during the build')
        self.assertEqual(state(), 'preparing')
        out = self.agent('cancel', jobdir, '--grace', '5', env=env)
        self.assertTrue(json.loads(out.stdout.decode())['ok'], out.stdout)

    def test_concurrent_jobs_build_the_env_once(self):
        spec = {'python': '3.11', 'conda': ['numpy']}
        env = self.conda_env(FAKE_CONDA_DELAY='1.5')
        results = {}

        def run(name):
            jobdir = self.jobdir(name)
            self.agent('prepare', jobdir, input=self.bundle('print("%s")' % name, spec), env=env)
            results[name] = self.agent('run', jobdir, env=env)

        threads = [threading.Thread(target=run, args=(n,)) for n in ('a', 'b')]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for name in ('a', 'b'):
            events = read_events(self.jobdir(name))
            self.assertEqual(results[name].returncode, 0, (results[name].stderr, events))
            self.assertDone(events, 'completed')
            self.assertEqual(stream_text(events), name + '\n')
        creates = [a for a in self.invocations() if a[0] == 'create']
        self.assertEqual(len(creates), 1, 'one build for two concurrent jobs')
        texts = [''.join(e['text'] for e in of_type(read_events(self.jobdir(n)), 'env')) for n in 'ab']
        self.assertEqual(sum('Waiting for another job' in t for t in texts), 1)
        self.assertEqual(sum('built by another job' in t for t in texts), 1)


class NoFlock(CondaCase):
    """File systems without flock (NFS without lockd, Lustre noflock): builds stay exclusive."""
    NOFLOCK = os.path.join(HERE, 'tools', 'noflock.py')

    def agent_noflock(self, args, env, code='ENOLCK', stdin=None):
        env = dict(env, CB_NOFLOCK_ERRNO=code)
        return subprocess.run([PYTHON, '-u', self.NOFLOCK, AGENT] + list(args), input=stdin,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=180)

    def test_concurrent_builds_without_flock_build_once(self):
        spec = {'python': '3.11', 'conda': ['numpy']}
        env = self.conda_env(FAKE_CONDA_DELAY='1.5')
        results = {}

        def run(name, code):
            jobdir = self.jobdir(name)
            self.agent('prepare', jobdir, input=self.bundle('print("%s")' % name, spec), env=env)
            results[name] = self.agent_noflock(['run', jobdir], env, code)

        threads = [threading.Thread(target=run, args=(n, c))
                   for n, c in (('a', 'ENOLCK'), ('b', 'EOPNOTSUPP'))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for name in ('a', 'b'):
            events = read_events(self.jobdir(name))
            self.assertEqual(results[name].returncode, 0, (results[name].stderr, events))
            self.assertDone(events, 'completed')
        creates = [a for a in self.invocations() if a[0] == 'create']
        self.assertEqual(len(creates), 1, 'one build for two concurrent jobs without flock')
        texts = [''.join(e['text'] for e in of_type(read_events(self.jobdir(n)), 'env')) for n in 'ab']
        self.assertEqual(sum('Waiting for another job' in t for t in texts), 1)
        self.assertEqual(sum('built by another job' in t for t in texts), 1)
        h = _cb_envs.env_hash(spec)
        self.assertFalse(os.path.exists(os.path.join(self.work, 'envs', h + '.lock.owner')),
                         'the owner file goes with its holder')

    def test_a_dead_holders_lock_is_taken_over(self):
        import _cb_envbuild
        from _cb_jobfiles import hostname
        spec = {'python': '3.11', 'conda': ['numpy']}
        h = _cb_envs.env_hash(spec)
        os.makedirs(os.path.join(self.work, 'envs'))
        dead = subprocess.Popen(['true'])
        dead.wait()
        owner = os.path.join(self.work, 'envs', h + '.lock.owner')
        with open(owner, 'w') as f:
            f.write('%s %d 0\n' % (hostname(), dead.pid))
        env = self.conda_env()
        jobdir = self.jobdir('s')
        self.agent('prepare', jobdir, input=self.bundle('print("s")', spec), env=env)
        out = self.agent_noflock(['run', jobdir], env)
        events = read_events(jobdir)
        self.assertEqual(out.returncode, 0, (out.stderr, events))
        self.assertDone(events, 'completed')
        self.assertEqual(len([a for a in self.invocations() if a[0] == 'create']), 1)
        self.assertIsNotNone(_cb_envbuild)

    def test_another_hosts_lock_is_waited_for_until_it_goes_stale(self):
        import _cb_envbuild
        path = os.path.join(self.tmp, 'x.lock')
        with open(path + '.owner', 'w') as f:
            f.write('other-host.example 1 0\n')
        lock = _cb_envbuild.EnvLock(path)
        import fcntl
        real = fcntl.flock

        def no_flock(fd, op):
            raise OSError(37, 'No locks available')
        fcntl.flock = no_flock
        try:
            self.assertFalse(lock.try_acquire(), 'a fresh lock of another host holds')
            old = time_now() - _cb_envbuild.STALE_AFTER_S - 5
            os.utime(path + '.owner', (old, old))
            self.assertTrue(lock.try_acquire(), 'untouched for STALE_AFTER_S: taken over')
            with open(path + '.owner') as f:
                self.assertIn(' %d ' % os.getpid(), f.read())
            self.assertFalse(_cb_envbuild.EnvLock(path).try_acquire(), 'held now')
        finally:
            lock.release()
            fcntl.flock = real
        self.assertFalse(os.path.exists(path + '.owner'))


def time_now():
    import time
    return time.time()


if __name__ == '__main__':
    unittest.main()
