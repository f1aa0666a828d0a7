"""Resource limits on a direct host (_cb_limits, applied by the agent's `go`/`launch`): --time,
--mem, --cpus, --gpus on real processes. GPUs come from the test stand-in nvidia-smi in
tests/fixtures/fake-nvidia-smi (no NVIDIA GPU here); everything else is the real thing."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from test_session import SessionCase, pid_exists
from rt_helpers import (AGENT, PYTHON, REPO, RUNTIME, TempDirCase, of_type, read_events,
                        stream_text, wait_for)

sys.path.insert(0, RUNTIME)
import _cb_claims  # noqa: E402
import _cb_limits  # noqa: E402

FAKE_SMI_BIN = os.path.join(REPO, 'tests', 'fixtures', 'fake-nvidia-smi', 'bin')


def parse_lines(data):
    return [json.loads(line) for line in data.decode('utf-8').splitlines() if line.strip()]


class LimitCase(TempDirCase):
    def setUp(self):
        TempDirCase.setUp(self)
        self.running = {}

    def tearDown(self):
        for name in list(self.running):
            self.crash(name)
        TempDirCase.tearDown(self)

    def go(self, name, code, request, python=None, env=None):
        out = self.agent('go', self.jobdir(name), input=self.bundle(code, request=request),
                         env=env or self.env(), **({'python': python} if python else {}))
        return out, parse_lines(out.stdout)

    def start(self, name, code, request, env=None):
        """A `go` left running until its cell printed 'ready'."""
        jobdir = self.jobdir(name)
        proc = subprocess.Popen([PYTHON, '-u', AGENT, 'go', jobdir],
                                env=env or self.env(), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(self.bundle(code, request=request))
        proc.stdin.close()
        proc.stdin = None
        self.running[name] = proc
        self.assertTrue(wait_for(lambda: 'ready' in stream_text(read_events(jobdir)), 60),
                        'the cell started: %r' % read_events(jobdir))
        return proc

    def crash(self, name):
        """SIGKILL for a started job's agent and runner: they end without a word."""
        proc = self.running.pop(name)
        with open(os.path.join(self.jobdir(name), 'status.json')) as f:
            st = json.load(f)
        for pgid in (st.get('pgid'), st.get('runnerPgid')):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (OSError, TypeError):
                pass
        proc.communicate()
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def venv2_python(self):
        out, _ = self.go('warmup', '1', {})
        self.assertEqual(out.returncode, 0, out.stderr)
        ready = [f for f in os.listdir(os.path.join(self.work, 'envs')) if f.endswith('.ready')]
        with open(os.path.join(self.work, 'envs', ready[0])) as f:
            return json.load(f)['python']


class TimeLimit(LimitCase):
    def test_the_cell_ends_at_its_time_limit(self):
        out, events = self.go('t1', 'import time\nprint("started", flush=True)\ntime.sleep(600)',
                              {'time': '00:01'})
        self.assertEqual(out.returncode, 0, out.stderr)
        done = self.assertDone(events, 'timeout')
        self.assertIn('time limit 00:01', done['reason'])
        self.assertEqual(of_type(events, 'error')[0]['ename'], 'KeyboardInterrupt')
        self.assertIn('time limit', ' '.join(n['text'] for n in of_type(events, 'notice')))

    def test_a_cell_that_ignores_sigint_is_terminated(self):
        code = ('import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n'
                'print("started", flush=True)\nwhile True:\n    time.sleep(1)')
        out, events = self.go('t2', code, {'time': '00:01'})
        done = self.assertDone(events, 'timeout')
        self.assertIn('time limit', done['reason'])
        with open(os.path.join(self.jobdir('t2'), 'status.json')) as f:
            st = json.load(f)
        self.assertGroupsGone(st['runnerPgid'])

    def test_batch_run_leaves_the_limit_to_the_scheduler(self):
        jobdir = self.jobdir('t3')
        self.agent('prepare', jobdir, input=self.bundle('import time\ntime.sleep(2)\nprint("ok")',
                                                        request={'time': '00:01'}))
        out = self.agent('run', jobdir)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertDone(read_events(jobdir), 'completed')


class MemoryLimit(LimitCase):
    CODE_OVER = 'x = bytearray(600 << 20)\nprint("allocated")'
    CODE_UNDER = 'x = bytearray(20 << 20)\nprint("allocated")'

    def check_overrun(self, events):
        errors = of_type(events, 'error')
        self.assertEqual([e['ename'] for e in errors], ['MemoryError'], errors)
        done = self.assertDone(events, 'out_of_memory')
        self.assertEqual(done['reason'], 'memory limit 300M reached')
        self.assertNotIn('allocated', stream_text(events))
        notices = ' '.join(n['text'] for n in of_type(events, 'notice'))
        self.assertIn('RLIMIT_DATA', notices, 'says how the limit is enforced here (no cgroup)')

    def test_overrun_is_a_memory_error_on_the_exec_path(self):
        out, events = self.go('m1', self.CODE_OVER, {'mem': '300M'})
        self.check_overrun(events)
        _, under = self.go('m2', self.CODE_UNDER, {'mem': '300M'})
        self.assertDone(under, 'completed')
        self.assertEqual(stream_text(under), 'allocated\n')

    def test_overrun_is_a_memory_error_on_the_warm_fork_path(self):
        python = self.venv2_python()
        out, events = self.go('m3', self.CODE_OVER, {'mem': '300M'}, python=python)
        with open(os.path.join(self.jobdir('m3'), 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['runnerMode'], 'fork')
        self.check_overrun(events)
        self.assertEqual(st['limits']['mem'], {'bytes': 300 << 20, 'method': 'rlimit'})


class CpuLimit(LimitCase):
    CODE = ('import json, os\nprint(json.dumps([sorted(os.sched_getaffinity(0)), '
            'os.environ.get("OMP_NUM_THREADS"), os.environ.get("OPENBLAS_NUM_THREADS")]))')

    def facts(self, events):
        self.assertDone(events, 'completed')
        return json.loads(stream_text(events).splitlines()[0])

    def test_pins_cores_and_sets_thread_counts(self):
        _, events = self.go('c1', self.CODE, {'cpus': 1})
        cores, omp, blas = self.facts(events)
        self.assertEqual(len(cores), 1)
        self.assertEqual((omp, blas), ('1', '1'))

    def test_keeps_thread_counts_the_user_set(self):
        _, events = self.go('c2', self.CODE, {'cpus': 1}, env=self.env(OMP_NUM_THREADS='7'))
        self.assertEqual(self.facts(events)[1:], ['7', '1'])

    def test_concurrent_cells_get_different_cores(self):
        self.assertGreaterEqual(len(os.sched_getaffinity(0)), 2,
                                'needs two cores to show two cells on different ones')
        code = ('import os\nprint(sorted(os.sched_getaffinity(0)))\n'
                'print("ready", flush=True)\nimport time\ntime.sleep(600)')
        self.start('c3', code, {'cpus': 1})
        _, events = self.go('c4', self.CODE, {'cpus': 1})
        one = json.loads(stream_text(read_events(self.jobdir('c3'))).splitlines()[0])
        two = self.facts(events)[0]
        self.assertEqual(len(one), 1)
        self.assertNotEqual(one, two, 'the second cell avoids the core the first holds')

    def test_more_cores_than_the_host_has_is_refused(self):
        n = len(os.sched_getaffinity(0))
        _, events = self.go('c5', 'print("ran")', {'cpus': n + 1})
        done = self.assertDone(events, 'rejected')
        self.assertIn('--cpus %d: this host lets the cell use %d core' % (n + 1, n),
                      done['reason'])
        self.assertEqual(of_type(events, 'error')[0]['ename'], 'ResourceUnavailable')
        self.assertEqual(stream_text(events), '', 'nothing ran')


class GpuLimit(LimitCase):
    CODE = 'import os\nprint(repr(os.environ.get("CUDA_VISIBLE_DEVICES")))'

    def setUp(self):
        LimitCase.setUp(self)
        self.state = os.path.join(self.tmp, 'gpus.json')
        self.write_state([{'gpu': 'GPU-fake-0', 'pid': 4242}])

    def write_state(self, processes, count=3):
        with open(self.state, 'w') as f:
            json.dump({'gpus': [{'index': i, 'uuid': 'GPU-fake-%d' % i} for i in range(count)],
                       'processes': processes}, f)

    def gpu_env(self, **extra):
        env = self.env(CB_FAKE_NVIDIA_SMI_STATE=self.state, **extra)
        env['PATH'] = FAKE_SMI_BIN + os.pathsep + env['PATH']
        return env

    def test_picks_free_gpus(self):
        _, events = self.go('g1', self.CODE, {'gpus': 2}, env=self.gpu_env())
        self.assertDone(events, 'completed')
        self.assertEqual(stream_text(events), "'1,2'\n", 'GPU 0 runs a process: not given')
        self.assertEqual(os.listdir(os.path.join(self.work, 'gpus', os.uname()[1])), ['.lock'],
                         'claims are given back at the end')

    def test_too_few_free_gpus_is_refused_with_the_counts(self):
        _, events = self.go('g2', self.CODE, {'gpus': 3}, env=self.gpu_env())
        done = self.assertDone(events, 'rejected')
        self.assertIn('has 3 GPUs, 1 busy, 2 free', done['reason'])
        self.assertIn('GPU 0 runs process 4242', done['reason'])
        self.assertEqual(stream_text(events), '')

    def test_no_nvidia_smi_is_refused(self):
        _, events = self.go('g3', self.CODE, {'gpus': 1})
        done = self.assertDone(events, 'rejected')
        self.assertIn('has no nvidia-smi', done['reason'])

    def test_two_running_cells_never_share_a_gpu(self):
        self.write_state([], count=1)
        code = self.CODE + '\nprint("ready", flush=True)\nimport time\ntime.sleep(600)'
        self.start('g4', code, {'gpus': 1}, env=self.gpu_env())
        self.assertEqual(stream_text(read_events(self.jobdir('g4'))).splitlines()[0], "'0'")
        _, events = self.go('g5', self.CODE, {'gpus': 1}, env=self.gpu_env())
        done = self.assertDone(events, 'rejected')
        self.assertIn('GPU 0 is taken by another cell', done['reason'])
        self.crash('g4')  # no release: the claim names a dead process now
        _, events = self.go('g6', self.CODE, {'gpus': 1}, env=self.gpu_env())
        self.assertDone(events, 'completed')
        self.assertEqual(stream_text(events), "'0'\n", 'a dead owner\'s claim is taken over')

    def test_zero_gpus_hides_them(self):
        _, events = self.go('g7', self.CODE, {'gpus': 0}, env=self.gpu_env())
        self.assertEqual(stream_text(events), "''\n")


class SessionLimits(SessionCase):
    """A session on a direct host (session-start) gets the same limits as a one-off cell."""

    def setUp(self):
        SessionCase.setUp(self)
        self.state = os.path.join(self.tmp, 'gpus.json')
        with open(self.state, 'w') as f:
            json.dump({'gpus': [{'index': 0, 'uuid': 'GPU-fake-0'}], 'processes': []}, f)

    def env(self, **extra):
        env = SessionCase.env(self, CB_FAKE_NVIDIA_SMI_STATE=self.state, **extra)
        env['PATH'] = FAKE_SMI_BIN + os.pathsep + env['PATH']
        return env

    def test_cores_memory_and_gpus_hold_for_the_whole_session(self):
        _, info = self.start(request={'cpus': 1, 'mem': '300M', 'gpus': 1})
        client = self.client(info)
        shown = self.cell(client, 'import os\nprint(len(os.sched_getaffinity(0)), '
                                  'os.environ["OMP_NUM_THREADS"], os.environ["CUDA_VISIBLE_DEVICES"])')
        self.assertEqual(stream_text(shown), '1 1 0\n')
        over = self.cell(client, 'x = bytearray(600 << 20)')
        self.assertEqual([e['ename'] for e in of_type(over, 'error')], ['MemoryError'])
        self.assertEqual(self.result(self.cell(client, '6 * 7')), ['42'], 'the session lives on')
        notices = ' '.join(e['text'] for e in of_type(self.session_log(), 'notice'))
        self.assertIn('RLIMIT_DATA', notices)
        # The session holds the GPU: a one-off cell asking for one is refused until it stops.
        job = self.agent('go', self.jobdir('j1'), input=self.bundle('1', request={'gpus': 1}))
        done = [e for e in parse_lines(job.stdout) if e['type'] == 'done'][0]
        self.assertEqual(done['state'], 'rejected')
        self.assertIn('GPU 0 is taken by another cell (pid %d)' % info['status']['pid'],
                      done['reason'])
        self.agent('session-stop', self.sdir(), '--grace', '1')
        job = self.agent('go', self.jobdir('j2'), input=self.bundle('1', request={'gpus': 1}))
        self.assertEqual([e for e in parse_lines(job.stdout) if e['type'] == 'done'][0]['state'],
                         'completed')

    def test_the_session_ends_at_its_time_limit(self):
        _, info = self.start(request={'time': '00:05'}, timeLimit=5)
        client = self.client(info)
        events = self.cell(client, 'import time\ntime.sleep(600)')
        done = self.assertDone(events, 'timeout')
        self.assertIn('time limit', done['reason'])
        self.assertTrue(wait_for(lambda: not pid_exists(info['status']['pid']), 30),
                        'the session process ended')

    def test_a_host_without_gpus_refuses_the_session(self):
        started, _ = self.start(request={'gpus': 2})
        ended = [e for e in started if e['type'] == 'ended']
        self.assertEqual(len(ended), 1, started)
        self.assertIn('--gpus 2: ', ended[0]['reason'])
        self.assertIn('has 1 GPU, 0 busy, 1 free', ended[0]['reason'])


class Claims(unittest.TestCase):
    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix='cb-claims-')
        self.addCleanup(__import__('shutil').rmtree, self.dir, True)

    def test_a_reused_pid_is_not_the_owner(self):
        path = _cb_claims.claim(os.path.join(self.dir, '0'), os.getpid())
        self.assertTrue(_cb_claims.claim_alive(path))
        pid, start = _cb_claims.read_claim(path)
        with open(path, 'w') as f:
            f.write('%d %d\n' % (pid, start + 1))  # same pid, another process's start time
        self.assertFalse(_cb_claims.claim_alive(path))

    def test_without_flock_the_lock_is_a_folder_and_a_dead_holder_is_taken_over(self):
        import fcntl
        from unittest import mock

        def no_flock(fd, op):
            raise OSError(37, 'No locks available')  # ENOLCK: NFS without lockd

        stale = os.path.join(self.dir, '.lock.d')
        os.mkdir(stale)
        dead = subprocess.Popen(['true'])
        dead.wait()
        _cb_claims.claim(os.path.join(stale, 'owner'), os.getpid())
        with open(os.path.join(stale, 'owner'), 'w') as f:
            f.write('%d 1\n' % dead.pid)
        with mock.patch.object(fcntl, 'flock', no_flock):
            with _cb_claims.FolderLock(self.dir):
                owner = _cb_claims.read_claim(os.path.join(stale, 'owner'))[0]
                self.assertEqual(owner, os.getpid(), 'the dead holder\'s lock was taken over')
        self.assertFalse(os.path.exists(stale), 'released')

    def test_memory_cgroup_wraps_the_command_in_a_systemd_scope(self):
        limits = _cb_limits.Limits(os.getpid())
        limits.mem_bytes, limits.mem_method = 1 << 30, 'cgroup'
        self.assertTrue(limits.needs_exec)
        argv = limits.wrap(['python', 'runner.py'])
        self.assertEqual(os.path.basename(argv[0]), 'systemd-run')
        self.assertEqual(argv[1:],
                         ['--user', '--scope', '--quiet', '--collect',
                          '-p', 'MemoryMax=1073741824', '-p', 'MemorySwapMax=0', '--',
                          'python', 'runner.py'])
        limits.mem_method = 'rlimit'
        self.assertEqual(limits.wrap(['python']), ['python'])


class Values(unittest.TestCase):
    def test_times(self):
        p = _cb_limits.parse_time
        self.assertEqual([p('5'), p('1:30'), p('01:00:00'), p('1-2'), p('1-2:03'),
                          p('1-0:0:5')], [300, 90, 3600, 93600, 93780, 86405])
        for bad in ('', 'x', '1:2:3:4', '0', '-1'):
            with self.assertRaises(_cb_limits.LimitError):
                p(bad)

    def test_sizes(self):
        p = _cb_limits.parse_mem
        self.assertEqual([p('16G'), p('500M'), p('2048K'), p('1T'), p('100')],
                         [16 << 30, 500 << 20, 2 << 20, 1 << 40, 100 << 20])
        with self.assertRaises(_cb_limits.LimitError):
            p('12X')

    def test_import_cost_is_only_paid_when_asked(self):
        # The warm path imports _cb_limits only for a cell with a limit; its own imports are os.
        out = subprocess.run(['/usr/bin/python3', '-I', '-c',
                              'import sys; sys.path.insert(0, %r); before = set(sys.modules); '
                              'import _cb_limits; print(sorted(set(sys.modules) - before))'
                              % RUNTIME], stdout=subprocess.PIPE, check=True)
        self.assertEqual(json.loads(out.stdout.decode().replace("'", '"')),
                         ['_cb_claims', '_cb_limits'])


if __name__ == '__main__':
    unittest.main()
