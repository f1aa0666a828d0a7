"""The agent (VENV1 side): prepare, run, launch, follow, go, cancel, status, doctor."""
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

from rt_helpers import (AGENT, PYTHON, TempDirCase, group_exists, of_type, read_events,
                        stream_text, strip_ansi, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'src', 'runtime'))


def parse_lines(data):
    return [json.loads(line) for line in data.decode('utf-8').splitlines() if line.strip()]


class AgentCommands(TempDirCase):
    def test_prepare_writes_bundle_private(self):
        jobdir = self.jobdir('p1')
        out = self.agent('prepare', jobdir, input=self.bundle('print(1)'))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout.decode()), {'ok': True})
        self.assertEqual(stat.S_IMODE(os.stat(jobdir).st_mode), 0o700)
        with open(os.path.join(jobdir, 'bundle.json')) as f:
            self.assertEqual(json.load(f)['code'], 'print(1)')
        bad = self.agent('prepare', self.jobdir('p2'), input=b'not json')
        self.assertEqual(bad.returncode, 2)
        self.assertIn('not valid JSON', bad.stderr.decode())

    def test_run_in_foreground(self):
        jobdir = self.jobdir('r1')
        self.agent('prepare', jobdir, input=self.bundle('print("hi")\n6 * 7'))
        out = self.agent('run', jobdir)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, b'', 'run prints nothing; events go to the log')
        events = read_events(jobdir)
        self.assertSeqOk(events)
        status = of_type(events, 'status')
        self.assertEqual([s['phase'] for s in status], ['preparing', 'running'])
        self.assertEqual(status[1]['node'], socket.gethostname())
        self.assertTrue(of_type(events, 'env'), 'the first run builds the env and says so')
        self.assertEqual(stream_text(events), 'hi\n')
        self.assertEqual(of_type(events, 'result')[0]['data']['text/plain'], '42')
        done = self.assertDone(events, 'completed')
        self.assertEqual(done['exitCode'], 0)
        self.assertGreater(done['duration'], 0)
        with open(os.path.join(jobdir, 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['state'], 'completed')
        self.assertEqual(st['exitCode'], 0)
        self.assertEqual(st['node'], socket.gethostname())

    def test_run_exit_code_is_the_runners(self):
        jobdir = self.jobdir('r2')
        self.agent('prepare', jobdir, input=self.bundle('raise SystemExit(7)'))
        out = self.agent('run', jobdir)
        self.assertEqual(out.returncode, 7)
        done = self.assertDone(read_events(jobdir), 'failed')
        self.assertEqual(done['exitCode'], 7)

    def test_launch_then_follow(self):
        jobdir = self.jobdir('l1')
        self.agent('prepare', jobdir, input=self.bundle(
            'import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.1)'))
        out = self.agent('launch', jobdir)
        self.assertEqual(out.returncode, 0, out.stderr)
        pid = json.loads(out.stdout.decode())['pid']
        with open(os.path.join(jobdir, 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['pid'], pid)
        self.assertEqual(st['pgid'], pid, 'the job leads its own process group')
        self.assertNotEqual(os.getsid(pid) if group_exists(pid) else pid + 1, os.getsid(0))
        fol = self.agent('follow', jobdir, '--offset', '0')
        self.assertEqual(fol.returncode, 0, fol.stderr)
        lines = parse_lines(fol.stdout)
        self.assertEqual(lines[-1]['type'], 'done')
        self.assertEqual(stream_text(lines), '0\n1\n2\n')
        with open(os.path.join(jobdir, 'events.jsonl'), 'rb') as f:
            whole = f.read()
        self.assertEqual(fol.stdout, whole, 'follow copies the log byte for byte')
        # From an offset in the middle: exactly the rest.
        middle = whole.index(b'\n', len(whole) // 2) + 1
        fol2 = self.agent('follow', jobdir, '--offset', str(middle))
        self.assertEqual(fol2.stdout, whole[middle:])
        self.assertTrue(wait_for(lambda: not group_exists(pid), 10), 'job process group gone')

    def test_follow_streams_while_running(self):
        jobdir = self.jobdir('f1')
        self.agent('prepare', jobdir, input=self.bundle(
            'import time\nprint("early", flush=True)\ntime.sleep(1.5)\nprint("late")'))
        self.agent('launch', jobdir)
        proc = subprocess.Popen([PYTHON, '-u', AGENT, 'follow', jobdir], env=self.env(),
                                stdout=subprocess.PIPE)
        seen = b''
        try:
            while b'early' not in seen:
                line = proc.stdout.readline()
                self.assertTrue(line, 'follow ended before "early" arrived')
                seen += line
            self.assertNotIn(b'"done"', seen, 'early output arrives before the job ends')
            rest = proc.stdout.read()
            self.assertEqual(proc.wait(30), 0)
        finally:
            proc.kill()
            proc.stdout.close()
        self.assertIn(b'late', rest)
        self.assertEqual(parse_lines(rest)[-1]['type'], 'done')

    def test_follow_exits_3_when_job_died_without_done(self):
        jobdir = self.jobdir('dead')
        self.agent('prepare', jobdir, input=self.bundle('1'))
        dead = subprocess.Popen(['true'])
        dead.wait()
        with open(os.path.join(jobdir, 'status.json'), 'w') as f:
            json.dump({'state': 'running', 'pid': dead.pid, 'pgid': dead.pid,
                       'node': socket.gethostname()}, f)
        with open(os.path.join(jobdir, 'events.jsonl'), 'w') as f:
            f.write(json.dumps({'seq': 0, 't': 1.0, 'type': 'status', 'phase': 'running'}) + '\n')
        out = self.agent('follow', jobdir, timeout=30)
        self.assertEqual(out.returncode, 3)
        self.assertEqual(len(parse_lines(out.stdout)), 1, 'what was there is still copied')
        self.assertIn('gone', out.stderr.decode())

    def test_go_one_process_and_warm_reuse(self):
        first = self.agent('go', self.jobdir('g1'), input=self.bundle('print("one")'))
        self.assertEqual(first.returncode, 0, first.stderr)
        events = parse_lines(first.stdout)
        self.assertDone(events, 'completed')
        self.assertEqual(stream_text(events), 'one\n')
        self.assertTrue(any('venv' in e['text'] for e in of_type(events, 'env')))
        second = self.agent('go', self.jobdir('g2'), input=self.bundle('print("two")\n2'))
        events2 = parse_lines(second.stdout)
        self.assertEqual(of_type(events2, 'env'), [], 'the warm path builds nothing')
        self.assertEqual(stream_text(events2), 'two\n')
        self.assertEqual(events2, read_events(self.jobdir('g2')))
        self.assertSeqOk(events2)

    def test_go_under_isolated_mode(self):
        out = subprocess.run([PYTHON, '-I', '-u', AGENT, 'go', self.jobdir('iso')],
                             input=self.bundle('print("isolated")', workDir=self.work),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                             env={'PATH': '/usr/bin:/bin', 'HOME': self.home})
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(stream_text(parse_lines(out.stdout)), 'isolated\n')

    def test_cell_error_done_failed(self):
        out = self.agent('go', self.jobdir('e1'), input=self.bundle('1/0'))
        events = parse_lines(out.stdout)
        self.assertEqual(of_type(events, 'error')[0]['ename'], 'ZeroDivisionError')
        self.assertEqual(self.assertDone(events, 'failed')['exitCode'], 1)

    def _start_go(self, name, code, **env):
        jobdir = self.jobdir(name)
        proc = subprocess.Popen([PYTHON, '-u', AGENT, 'go', jobdir], env=self.env(**env),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdin.write(self.bundle(code))
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it
        self.assertTrue(wait_for(lambda: 'ready' in stream_text(read_events(jobdir)), 60),
                        'the cell started')
        with open(os.path.join(jobdir, 'status.json')) as f:
            return jobdir, proc, json.load(f)

    def test_cancel_interrupts_with_keyboard_interrupt(self):
        jobdir, proc, st = self._start_go('c1', 'import time, subprocess\n'
                                          'child = subprocess.Popen(["sleep", "300"])\n'
                                          'print("ready", flush=True)\ntime.sleep(300)')
        out = self.agent('cancel', jobdir, '--grace', '5')
        self.assertEqual(out.returncode, 0, out.stderr)
        result = json.loads(out.stdout.decode())
        self.assertTrue(result['ok'])
        self.assertEqual(result['signals'], ['SIGINT'], 'SIGINT was enough')
        stdout, _ = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0)
        events = parse_lines(stdout)
        err = of_type(events, 'error')[0]
        self.assertEqual(err['ename'], 'KeyboardInterrupt')
        self.assertIn('time.sleep(300)', strip_ansi('\n'.join(err['traceback'])))
        self.assertDone(events, 'cancelled')
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_cancel_never_signals_a_job_recorded_on_another_node(self):
        # Round-robin login nodes: the job's pids here would be other processes.
        jobdir, proc, st = self._start_go('c-node', 'import time\n'
                                          'print("ready", flush=True)\ntime.sleep(300)')
        path = os.path.join(jobdir, 'status.json')
        with open(path, 'w') as f:
            json.dump(dict(st, node='login-other-7'), f)
        out = self.agent('cancel', jobdir, '--grace', '0.5')
        self.assertEqual(out.returncode, 3, out.stderr)
        result = json.loads(out.stdout.decode())
        self.assertEqual(result['otherNode'], 'login-other-7')
        self.assertFalse(result['ok'])
        self.assertIsNone(proc.poll(), 'the job was not signalled')
        with open(path, 'w') as f:
            json.dump(st, f)
        self.assertEqual(self.agent('cancel', jobdir, '--grace', '5').returncode, 0)
        proc.communicate(timeout=30)
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_a_running_job_beats_and_status_says_how_long_ago(self):
        # From another login node the pids mean nothing: status.json's mtime says the node lives.
        jobdir, proc, st = self._start_go('beat', 'import time\n'
                                          'print("ready", flush=True)\ntime.sleep(300)',
                                          CB_HEARTBEAT_S='0.2')
        path = os.path.join(jobdir, 'status.json')
        old = time.time() - 600
        os.utime(path, (old, old))
        self.assertTrue(wait_for(lambda: time.time() - os.stat(path).st_mtime < 5, 10),
                        'the heartbeat touched status.json')
        info = json.loads(self.agent('status', jobdir).stdout.decode())
        self.assertLess(info['beatAge'], 5)
        self.assertEqual(info['here'], info['node'])
        self.assertEqual(self.agent('cancel', jobdir, '--grace', '5').returncode, 0)
        proc.communicate(timeout=30)

    def test_cancel_never_signals_a_session_cell(self):
        # A session cell's pgid is the session's: signalling it would end the namespace.
        jobdir, proc, st = self._start_go('c-sess', 'import time\n'
                                          'print("ready", flush=True)\ntime.sleep(300)')
        path = os.path.join(jobdir, 'status.json')
        with open(path, 'w') as f:
            json.dump(dict(st, session='s-test-1'), f)
        out = self.agent('cancel', jobdir, '--grace', '0.5')
        self.assertEqual(out.returncode, 1, out.stderr)
        result = json.loads(out.stdout.decode())
        self.assertFalse(result['ok'])
        self.assertIn('session s-test-1', result['error'])
        self.assertIsNone(proc.poll(), 'the session group was not signalled')
        with open(path, 'w') as f:
            json.dump(st, f)
        self.assertEqual(self.agent('cancel', jobdir, '--grace', '5').returncode, 0)
        proc.communicate(timeout=30)
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_cancel_escalates_when_sigint_is_ignored(self):
        jobdir, proc, st = self._start_go('c2', 'import signal, subprocess, time\n'
                                          'signal.signal(signal.SIGINT, signal.SIG_IGN)\n'
                                          'subprocess.Popen(["sh", "-c", "trap \'\' INT TERM; sleep 300"])\n'
                                          'print("ready", flush=True)\n'
                                          'while True:\n    time.sleep(1)')
        out = self.agent('cancel', jobdir, '--grace', '0.5')
        result = json.loads(out.stdout.decode())
        self.assertTrue(result['ok'], result)
        self.assertIn('SIGTERM', result['signals'])
        stdout, _ = proc.communicate(timeout=30)
        events = parse_lines(stdout)
        self.assertDone(events, 'cancelled')
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_sigusr2_is_a_cancel(self):
        # Grid Engine's -notify sends SIGUSR2 to the job before SIGKILL: the agent ends the cell
        # as SIGTERM would and records it as cancelled.
        jobdir, proc, st = self._start_go('u2', 'import time\nprint("ready", flush=True)\n'
                                          'time.sleep(300)')
        self.assertEqual(st['runnerMode'], 'exec')
        os.kill(st['pid'], signal.SIGUSR2)
        stdout, _ = proc.communicate(timeout=30)
        events = parse_lines(stdout)
        self.assertDone(events, 'cancelled')
        with open(os.path.join(jobdir, 'status.json')) as f:
            self.assertEqual(json.load(f)['state'], 'cancelled')
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_running_status_names_the_env_python(self):
        out = self.agent('go', self.jobdir('py'), input=self.bundle('1'))
        running = [e for e in of_type(parse_lines(out.stdout), 'status') if e['phase'] == 'running']
        ready = [f for f in os.listdir(os.path.join(self.work, 'envs')) if f.endswith('.ready')]
        with open(os.path.join(self.work, 'envs', ready[0])) as f:
            self.assertEqual(running[0]['python'], json.load(f)['python'])

    def test_cancel_finished_job_is_a_no_op(self):
        self.agent('go', self.jobdir('c3'), input=self.bundle('1'))
        out = self.agent('cancel', self.jobdir('c3'))
        self.assertEqual(json.loads(out.stdout.decode())['state'], 'completed')

    def test_cell_gets_default_signal_dispositions(self):
        code = ('import signal\n'
                'print([signal.getsignal(s) == signal.SIG_DFL for s in (signal.SIGHUP, signal.SIGQUIT)])\n'
                'import subprocess\n'
                'print(subprocess.run("yes | head -n 2", shell=True, stdout=subprocess.PIPE).stdout)')
        out = self.agent('go', self.jobdir('sig'), input=self.bundle(code))
        self.assertEqual(stream_text(parse_lines(out.stdout)), "[True, True]\nb'y\\ny\\n'\n")

    def test_runner_killed_by_signal(self):
        out = self.agent('go', self.jobdir('k9'), input=self.bundle(
            'import os, signal\nprint("bye", flush=True)\nos.kill(os.getpid(), signal.SIGKILL)'))
        self.assertEqual(out.returncode, 0)
        events = parse_lines(out.stdout)
        done = self.assertDone(events, 'failed')
        self.assertEqual(done['exitCode'], 137)
        self.assertEqual(done['reason'], 'killed by signal 9')
        self.assertEqual(stream_text(events), 'bye\n')

    def test_go_refuses_a_used_job_dir(self):
        self.agent('go', self.jobdir('u1'), input=self.bundle('1'))
        again = self.agent('go', self.jobdir('u1'), input=self.bundle('2'))
        self.assertEqual(again.returncode, 2)
        self.assertIn('already in use', again.stderr.decode())

    def test_status(self):
        self.agent('go', self.jobdir('s1'), input=self.bundle('1'))
        out = self.agent('status', self.jobdir('s1'))
        st = json.loads(out.stdout.decode())
        self.assertEqual(st['state'], 'completed')
        self.assertFalse(st['alive'])
        self.assertTrue(st['done'])

    def test_bad_usage(self):
        out = self.agent('frobnicate')
        self.assertEqual(out.returncode, 2)
        self.assertIn('unknown command', out.stderr.decode())
        out = self.agent('follow')
        self.assertIn('needs a JOBDIR', out.stderr.decode())

    def test_doctor(self):
        fake_bin = os.path.join(HERE, 'fixtures', 'bin')
        os.symlink(os.path.join(os.path.dirname(HERE), 'fixtures', 'fake-conda'),
                   os.path.join(self.home, 'miniconda3'))
        env = self.env(PATH=fake_bin + ':/usr/bin:/bin')
        out = self.agent('doctor', '--workdir', self.work, env=env)
        self.assertEqual(out.returncode, 0, out.stderr)
        facts = json.loads(out.stdout.decode())
        self.assertEqual(facts['hostname'], socket.gethostname())
        self.assertEqual(facts['home'], self.home)
        self.assertEqual(facts['workDir'], self.work)
        self.assertTrue(facts['python']['version'].startswith('3.'))
        self.assertTrue(facts['venv']['ok'])
        self.assertEqual(facts['conda'], os.path.join(self.home, 'miniconda3', 'bin', 'conda'))
        self.assertIn('sbatch', facts['schedulers'])
        self.assertEqual([g['name'] for g in facts['nvidiaSmi']['gpus']], ['NVIDIA H100 80GB HBM3'] * 2)
        self.assertGreater(facts['diskFree'], 0)
        plain = self.agent('doctor', env=self.env())
        self.assertIsNone(json.loads(plain.stdout.decode())['nvidiaSmi'])


class ForkedRunner(TempDirCase):
    """The warm fast path: the agent run by VENV2's own python forks the runner in-process."""

    def setUp(self):
        TempDirCase.setUp(self)
        first = self.agent('go', self.jobdir('warmup'), input=self.bundle('1'))
        self.assertEqual(first.returncode, 0, first.stderr)
        ready = [f for f in os.listdir(os.path.join(self.work, 'envs')) if f.endswith('.ready')]
        with open(os.path.join(self.work, 'envs', ready[0])) as f:
            self.venv2 = json.load(f)['python']

    def go2(self, name, code):
        out = self.agent('go', self.jobdir(name), input=self.bundle(code), python=self.venv2)
        with open(os.path.join(self.jobdir(name), 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['runnerMode'], 'fork')
        self.assertTrue(st['runnerHeld'], 'forked ahead, while the agent did its bookkeeping')
        return out, parse_lines(out.stdout)

    def test_outputs_errors_and_exit_semantics(self):
        marker = os.path.join(self.tmp, 'unclosed.txt')
        code = ('import atexit, sys, threading, time\n'
                'atexit.register(lambda: print("atexit ran"))\n'
                'f = open(%r, "w"); f.write("flushed at exit")\n'
                'threading.Thread(target=lambda: (time.sleep(0.2), print("thread joined"))).start()\n'
                'print(sys.path[0] == "", sys.argv)\n'
                'def f2():\n'
                '    raise ValueError("in a function")\n'
                'f2()' % marker)
        out, events = self.go2('f1', code)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(stream_text(events), "True ['<cell>']\nthread joined\natexit ran\n")
        err = of_type(events, 'error')[0]
        tb = strip_ansi('\n'.join(err['traceback']))
        self.assertIn('---> 9 f2()', tb)
        self.assertIn('---> 8     raise ValueError', tb)
        self.assertNotIn('_cb_', tb)  # none of the agent's or runner's frames
        self.assertEqual(self.assertDone(events, 'failed')['exitCode'], 1)
        with open(marker) as f:
            self.assertEqual(f.read(), 'flushed at exit')

    def test_exit_without_teardown_keeps_exit_semantics(self):
        # The forked runner leaves through os._exit after joining threads, atexit, clearing the
        # cell's namespace and flushing files (no module teardown, which costs a page copy per
        # object after fork). What a cell can observe at exit stays.
        marker = os.path.join(self.tmp, 'del.txt')
        code = ('import threading, time\n'
                'class D:\n'
                '    def __del__(self):\n'
                '        open(%r, "w").write("del ran")\n'
                'd = D()\n'
                'g = open(%r + ".open", "w"); g.write("buffered")\n'
                'threading.Thread(target=lambda: (time.sleep(0.2), print("joined"))).start()\n'
                'raise SystemExit(3)' % (marker, marker))
        out, events = self.go2('fx', code)
        self.assertEqual(stream_text(events), 'joined\n')
        self.assertEqual(self.assertDone(events, 'failed')['exitCode'], 3)
        with open(marker) as f:
            self.assertEqual(f.read(), 'del ran')
        with open(marker + '.open') as f:
            self.assertEqual(f.read(), 'buffered')

    def test_result_and_display(self):
        out, events = self.go2('f2', 'display("d")\n6 * 7')
        self.assertEqual(of_type(events, 'display')[0]['data']['text/plain'], "'d'")
        self.assertEqual(of_type(events, 'result')[0]['data']['text/plain'], '42')
        self.assertDone(events, 'completed')

    def test_cancel(self):
        jobdir = self.jobdir('fc')
        proc = subprocess.Popen([self.venv2, '-u', AGENT, 'go', jobdir], env=self.env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        proc.stdin.write(self.bundle('import time\nprint("ready", flush=True)\ntime.sleep(300)'))
        proc.stdin.close()
        proc.stdin = None
        self.assertTrue(wait_for(lambda: 'ready' in stream_text(read_events(jobdir)), 60))
        with open(os.path.join(jobdir, 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['runnerMode'], 'fork')
        out = self.agent('cancel', jobdir)
        self.assertEqual(json.loads(out.stdout.decode())['signals'], ['SIGINT'])
        stdout, _ = proc.communicate(timeout=30)
        events = parse_lines(stdout)
        self.assertEqual(of_type(events, 'error')[0]['ename'], 'KeyboardInterrupt')
        self.assertDone(events, 'cancelled')
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_sigusr2_in_fork_mode(self):
        jobdir = self.jobdir('fu')
        proc = subprocess.Popen([self.venv2, '-u', AGENT, 'go', jobdir], env=self.env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        proc.stdin.write(self.bundle('import signal, time\n'
                                     'print(signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL, '
                                     'flush=True)\ntime.sleep(300)'))
        proc.stdin.close()
        proc.stdin = None
        self.assertTrue(wait_for(lambda: stream_text(read_events(jobdir)), 60))
        with open(os.path.join(jobdir, 'status.json')) as f:
            st = json.load(f)
        self.assertEqual(st['runnerMode'], 'fork')
        os.kill(st['pid'], signal.SIGUSR2)
        stdout, _ = proc.communicate(timeout=30)
        events = parse_lines(stdout)
        self.assertEqual(stream_text(events), 'True\n', 'the cell sees the default disposition')
        self.assertDone(events, 'cancelled')
        self.assertGroupsGone(st['pgid'], st['runnerPgid'])

    def test_setup_lines_use_the_exec_path(self):
        spec = self.venv_spec(setup=['export CB_X=1'])
        self.agent('go', self.jobdir('s0'), input=self.bundle('1', spec))
        import _cb_envs
        with open(os.path.join(self.work, 'envs', _cb_envs.env_hash(spec) + '.ready')) as f:
            python = json.load(f)['python']
        out = self.agent('go', self.jobdir('s1'), input=self.bundle(
            'import os\nprint(os.environ["CB_X"])', spec), python=python)
        self.assertEqual(stream_text(parse_lines(out.stdout)), '1\n')
        with open(os.path.join(self.jobdir('s1'), 'status.json')) as f:
            self.assertEqual(json.load(f)['runnerMode'], 'exec')

    def test_missing_cwd_is_a_notice_in_order(self):
        # A held runner sets up (and finds the cwd missing) before its release, but says so
        # only once the cell starts: after the agent's own events, numbered after them.
        missing = os.path.join(self.tmp, 'gone')
        out = self.agent('go', self.jobdir('cw'), python=self.venv2,
                         input=self.bundle('import os\nprint(os.getcwd())', cwd=missing))
        events = parse_lines(out.stdout)
        self.assertSeqOk(events)
        kinds = [e['type'] for e in events]
        self.assertEqual(kinds, ['status', 'status', 'notice', 'stream', 'done'])
        self.assertIn('Could not change to %s' % missing, events[2]['text'])
        self.assertEqual(stream_text(events), self.jobdir('cw') + '\n')

    def test_kept_pythonpath_needs_a_fresh_runner(self):
        # The warm agent's interpreter was started without PYTHONPATH (the bridge unsets it), so
        # a cell that must see it (keepEnv) gets a runner started with it instead of a fork.
        extra = os.path.join(self.tmp, 'extra-path')
        os.makedirs(extra)
        env = self.env(PYTHONPATH=extra)
        out = self.agent('go', self.jobdir('kp'), python=self.venv2, env=env, input=self.bundle(
            'import sys\nprint(%r in sys.path)' % extra, keepEnv=['PYTHONPATH']))
        self.assertEqual(stream_text(parse_lines(out.stdout)), 'True\n', out.stderr)
        with open(os.path.join(self.jobdir('kp'), 'status.json')) as f:
            self.assertEqual(json.load(f)['runnerMode'], 'exec')


class HeldRunner(TempDirCase):
    """fork_runner(hold=True): the runner loads and reads its bundle, then waits to be released."""

    def fork(self, code):
        import _cb_proc
        jobdir = self.make_job(code, name='held')
        env = dict(self.env(), CLUSTER_BRIDGE_JOB_DIR=jobdir)
        return jobdir, _cb_proc.fork_runner(jobdir, env, hold=True)

    def test_released_runner_numbers_its_events_after_the_agents(self):
        jobdir, child = self.fork('print("ran")')
        # What the agent writes while the runner is held comes first.
        with open(os.path.join(jobdir, 'events.jsonl'), 'a') as f:
            f.write(json.dumps({'seq': 0, 't': 0, 'type': 'status', 'phase': 'running'}) + '\n')
        child.release()
        self.assertEqual(child.wait(), 0)
        events = read_events(jobdir)
        self.assertEqual([e['seq'] for e in events], list(range(len(events))))
        self.assertEqual(stream_text(events), 'ran\n')
        self.assertGroupsGone(child.pid)

    def test_aborted_runner_writes_nothing(self):
        jobdir, child = self.fork('print("must not run")')
        child.abort()
        self.assertEqual(child.returncode, 0)
        self.assertEqual(read_events(jobdir), [])
        self.assertGroupsGone(child.pid)

    def test_signal_while_held_ends_it_quietly(self):
        # A cancel before the release: the agent signals the runner's group; nothing ran.
        jobdir, child = self.fork('print("must not run")')
        os.killpg(child.pid, signal.SIGINT)
        self.assertEqual(child.wait(), -signal.SIGINT)
        child.release()  # what run_job does next must not fail on a dead runner
        self.assertEqual(read_events(jobdir), [])


if __name__ == '__main__':
    unittest.main()
