"""Shared helpers for the runtime tests: job directories, running the runner and the agent."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNTIME = os.path.join(REPO, 'src', 'runtime')
AGENT = os.path.join(RUNTIME, 'agent.py')
RUNNER = os.path.join(RUNTIME, 'runner.py')
FAKE_CONDA = os.path.join(REPO, 'tests', 'fixtures', 'fake-conda')
# The runner needs matplotlib/numpy: Debian's python3 has them (the pyenv python3 has not).
PYTHON = os.environ.get('CB_TEST_PYTHON', '/usr/bin/python3')
ANSI = re.compile(r'\x1b\[[0-9;]*m')


def strip_ansi(text):
    return ANSI.sub('', text)


def read_events(jobdir):
    path = os.path.join(jobdir, 'events.jsonl')
    if not os.path.exists(path):
        return []
    with open(path, 'rb') as f:
        return [json.loads(line) for line in f.read().splitlines() if line.strip()]


def stream_text(events, name='stdout'):
    return ''.join(e['text'] for e in events if e['type'] == 'stream' and e['name'] == name)


def of_type(events, kind):
    return [e for e in events if e['type'] == kind]


def base_env(**extra):
    env = dict(os.environ)
    for key in ('CONDA_EXE', 'CUDA_VISIBLE_DEVICES', 'PYTHONPATH', 'PYTHONHOME'):
        env.pop(key, None)
    # No real conda or nvidia-smi may leak in from the machine running the tests.
    env['PATH'] = '/usr/local/bin:/usr/bin:/bin'
    env.update(extra)
    return env


class TempDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='cb-rt-')
        self.work = os.path.join(self.tmp, 'work')
        os.makedirs(os.path.join(self.work, 'jobs'))
        self.home = os.path.join(self.tmp, 'home')
        os.makedirs(self.home)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertGroupsGone(self, *pgids, timeout=10.0):
        """The job's process groups end soon after `done`: the agent writes `done` before its own
        process exits, so a check right after `done` would race with that exit."""
        for pgid in pgids:
            self.assertTrue(wait_for(lambda: not group_exists(pgid), timeout),
                            'process group %d is gone' % pgid)

    def jobdir(self, name='job'):
        return os.path.join(self.work, 'jobs', name)

    def make_job(self, code, name='job', **bundle):
        jobdir = self.jobdir(name)
        os.makedirs(jobdir, exist_ok=True)
        data = {'jobId': name, 'code': code, 'lineOffset': 1, 'cwd': self.tmp}
        data.update(bundle)
        with open(os.path.join(jobdir, 'bundle.json'), 'w') as f:
            json.dump(data, f)
        return jobdir

    def run_runner(self, code, timeout=120, env=None, **bundle):
        jobdir = self.make_job(code, **bundle)
        started = time.time()
        proc = subprocess.run([PYTHON, '-u', RUNNER, jobdir], env=base_env(**(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        self.last_elapsed = time.time() - started
        self.last_proc = proc
        return proc.returncode, read_events(jobdir)

    def env(self, **extra):
        values = {'HOME': self.home, 'CLUSTER_BRIDGE_WORKDIR': self.work}
        values.update(extra)
        return base_env(**values)

    def agent(self, *args, **kw):
        stdin = kw.pop('input', None)
        timeout = kw.pop('timeout', 180)
        python = kw.pop('python', PYTHON)
        env = kw.pop('env', None) or self.env()
        return subprocess.run([python, '-u', AGENT] + list(args), input=stdin, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

    def bundle(self, code, env_spec=None, **extra):
        data = {'jobId': 'x', 'code': code, 'lineOffset': 1, 'cwd': self.tmp,
                'env': env_spec if env_spec is not None else self.venv_spec()}
        data.update(extra)
        return json.dumps(data).encode('utf-8')

    def venv_spec(self, **extra):
        spec = {'manager': 'venv', 'python': PYTHON}
        spec.update(extra)
        return spec

    def assertDone(self, events, state):
        done = of_type(events, 'done')
        self.assertEqual(len(done), 1, 'exactly one done event: %r' % events[-3:])
        self.assertIs(events[-1], done[0], 'done is the last event')
        self.assertEqual(done[0]['state'], state, done[0])
        return done[0]

    def assertSeqOk(self, events):
        seqs = [e['seq'] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)), 'seq strictly increasing')
        for e in events:
            self.assertIsInstance(e['t'], float)


def wait_for(predicate, timeout=30.0, interval=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def group_exists(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # zombies only (not yet reaped by init) do not count
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry, 'rb') as f:
                    fields = f.read().split(b') ', 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != b'Z':
                return True
    return False
