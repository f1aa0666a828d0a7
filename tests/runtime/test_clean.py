"""Retention (`clean`, the daily auto clean, doctor's sizes) and `env-ensure`, on real work dirs:
never a running job, a live session, the current runtime or an env in use."""
import json
import os
import subprocess
import sys
import time

from rt_helpers import AGENT, PYTHON, RUNTIME, TempDirCase, wait_for

sys.path.insert(0, RUNTIME)
import _cb_clean  # noqa: E402
from _cb_jobfiles import hostname  # noqa: E402

DAY = 86400


class CleanCase(TempDirCase):
    def setUp(self):
        TempDirCase.setUp(self)
        self.now = time.time()
        self.dead = subprocess.Popen(['true'])
        self.dead.wait()

    def job(self, name, days_old, status=None, env_hash=None, done=False, kind='jobs'):
        path = os.path.join(self.work, kind, name)
        os.makedirs(path)
        meta = 'bundle.json' if kind == 'jobs' else 'spec.json'
        with open(os.path.join(path, meta), 'w') as f:
            json.dump({'jobId': name, 'envHash': env_hash}, f)
        with open(os.path.join(path, 'events.jsonl'), 'w') as f:
            f.write('x' * 1000 + '\n')
            if done:
                f.write('{"seq":1,"t":1,"type":"done","state":"completed"}\n')
        if status is not None:
            with open(os.path.join(path, 'status.json'), 'w') as f:
                json.dump(status, f)
        self.age(path, days_old)
        return path

    def make_env(self, env_hash, days_old):
        envs = os.path.join(self.work, 'envs')
        os.makedirs(os.path.join(envs, env_hash, 'bin'), exist_ok=True)
        with open(os.path.join(envs, env_hash, 'bin', 'python'), 'w') as f:
            f.write('#' * 5000)
        marker = os.path.join(envs, env_hash + '.ready')
        with open(marker, 'w') as f:
            json.dump({'manager': 'venv', 'prefix': os.path.join(envs, env_hash),
                       'python': os.path.join(envs, env_hash, 'bin', 'python')}, f)
        self.age(marker, days_old)
        return os.path.join(envs, env_hash)

    def age(self, path, days):
        when = self.now - days * DAY
        for root, dirs, files in os.walk(path):
            for name in files:
                os.utime(os.path.join(root, name), (when, when))
        os.utime(path, (when, when))

    def clean(self, *args):
        out = self.agent('clean', '--workdir', self.work, *args)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)


class Clean(CleanCase):
    def test_dry_run_lists_with_sizes_and_clean_removes_only_what_retention_allows(self):
        me = hostname()
        ended = self.job('old-ended', 10, {'state': 'completed', 'node': me}, env_hash='e-used-old')
        recent = self.job('recent', 2, {'state': 'completed', 'node': me})
        running = self.job('old-running', 10, {'state': 'running', 'pid': os.getpid(), 'node': me},
                           env_hash='e-running')
        gone = self.job('old-gone', 10, {'state': 'running', 'pid': self.dead.pid, 'node': me})
        elsewhere = self.job('elsewhere', 10, {'state': 'running', 'pid': 1, 'node': 'n17'})
        ancient = self.job('ancient', 40, {'state': 'running', 'pid': 1, 'node': 'n17'})
        done = self.job('done-no-status', 10, done=True)
        live = self.job('s1', 50, {'state': 'idle', 'pid': os.getpid(), 'node': me},
                        env_hash='e-session', kind='sessions')
        in_use = self.make_env('e-running', 90)
        session_env = self.make_env('e-session', 90)
        unused = self.make_env('e-unused', 40)
        fresh = self.make_env('e-fresh', 3)
        used_lately = self.make_env('e-used-old', 40)
        old_rt = os.path.join(self.work, 'runtime', 'oldhash')
        os.makedirs(old_rt)
        with open(os.path.join(old_rt, 'agent.py'), 'w') as f:
            f.write('#' * 300)
        self.age(old_rt, 10)

        leftovers = []
        for base, name, days in (('vars', 'old-ended-out', 10), ('vars', 'old-running-in', 10),
                                 ('vars', 'recent-in', 2), ('sync', 'k-old', 40),
                                 ('sync', 'k-used', 3)):
            path = os.path.join(self.work, base, name)
            os.makedirs(path)
            with open(os.path.join(path, 'x.npy'), 'w') as f:
                f.write('#' * 300)
            self.age(path, days)
            self.age(os.path.join(path, 'x.npy'), days)
            leftovers.append(path)
        stale_vars, running_vars, recent_vars, old_mirror, used_mirror = leftovers

        report = self.clean('--dry-run')
        planned = sorted((e['kind'], e['name']) for e in report['remove'])
        self.assertEqual(planned, sorted([
            ('jobs', 'old-ended'), ('jobs', 'old-gone'), ('jobs', 'ancient'),
            ('jobs', 'done-no-status'), ('envs', 'e-unused'), ('runtimes', 'oldhash'),
            ('vars', 'old-ended-out'), ('sync', 'k-old')]))
        self.assertTrue(report['dryRun'])
        for e in report['remove']:
            self.assertGreater(e['bytes'], 0, e)
            self.assertTrue(e['why'], e)
        self.assertTrue(all(os.path.exists(p) for p in (ended, gone, ancient, done, unused, old_rt)),
                        'a dry run removes nothing')
        self.assertGreaterEqual(report['sizes']['workDir'],
                                sum(report['sizes'][k] for k in ('jobs', 'envs', 'runtimes')))
        self.assertGreater(report['sizes']['envs'], 5 * 5000)

        report = self.clean()
        self.assertEqual(report['failed'], [])
        self.assertGreater(report['freed'], 5000)
        for path in (ended, gone, ancient, done, unused, old_rt, stale_vars, old_mirror):
            self.assertFalse(os.path.exists(path), path)
        for path in (running_vars, recent_vars, used_mirror):
            self.assertTrue(os.path.exists(path), path)
        self.assertFalse(os.path.exists(unused + '.ready'))
        for path in (recent, running, elsewhere, live, in_use, session_env, fresh, used_lately):
            self.assertTrue(os.path.exists(path), path)
        # e-used-old was last used by the job that just went: that use is kept in its stamp.
        self.assertEqual(self.clean('--dry-run')['remove'], [])

    def test_an_env_being_built_is_not_removed(self):
        import _cb_envbuild
        unused = self.make_env('e-building', 40)
        lock = _cb_envbuild.EnvLock(os.path.join(self.work, 'envs', 'e-building.lock'))
        self.assertTrue(lock.try_acquire())
        try:
            report = self.clean()
        finally:
            lock.release()
        self.assertEqual(report['failed'], ['e-building'])
        self.assertTrue(os.path.exists(unused + '.ready'))

    def test_retention_days_are_options(self):
        self.job('five-days', 5, {'state': 'failed', 'node': hostname()})
        self.assertEqual(self.clean('--dry-run')['remove'], [])
        report = self.clean('--dry-run', '--jobs-days', '3')
        self.assertEqual([e['name'] for e in report['remove']], ['five-days'])
        bad = self.agent('clean', '--workdir', self.work, '--jobs-days', '0')
        self.assertEqual(bad.returncode, 2)
        self.assertIn(b'above 0', bad.stderr)

    def test_the_auto_clean_runs_detached_at_most_once_a_day(self):
        old = self.job('old', 10, {'state': 'completed', 'node': hostname()})
        self.assertTrue(_cb_clean.maybe_auto_clean(self.work, {'jobsDays': 7}))
        self.assertFalse(_cb_clean.maybe_auto_clean(self.work), 'once a day')
        self.assertTrue(wait_for(lambda: not os.path.exists(old), 30), 'the detached clean ran')
        with open(os.path.join(self.work, 'clean.log')) as f:
            self.assertTrue(json.loads(f.read())['auto'])

    def test_prepare_starts_the_auto_clean_unless_retention_is_off(self):
        old = self.job('old', 10, {'state': 'completed', 'node': hostname()})
        bundle = json.loads(self.bundle('print(1)'))
        bundle['retention'] = False
        self.agent('prepare', self.jobdir('a'), input=json.dumps(bundle).encode())
        self.assertFalse(os.path.exists(os.path.join(self.work, _cb_clean.AUTO_STAMP)))
        bundle['retention'] = {'jobsDays': 7}
        self.agent('prepare', self.jobdir('b'), input=json.dumps(bundle).encode())
        self.assertTrue(wait_for(lambda: not os.path.exists(old), 30))
        self.assertTrue(os.path.exists(self.jobdir('b')), 'the new job stays')


class Doctor(CleanCase):
    def test_doctor_reports_sizes_and_the_env_choice(self):
        self.make_env('e1', 1)
        self.job('j', 1, {'state': 'completed', 'node': hostname()})
        out = self.agent('doctor', '--workdir', self.work, '--env-kind', 'auto')
        facts = json.loads(out.stdout)
        self.assertGreater(facts['sizes']['envs'], 5000)
        self.assertGreater(facts['sizes']['jobs'], 1000)
        self.assertEqual(facts['envChoice']['kind'], 'venv')  # no conda on the test PATH
        self.assertIn('no conda was found', facts['envChoice']['why'])
        out = self.agent('doctor', '--workdir', self.work, '--env-kind', 'conda')
        self.assertEqual(json.loads(out.stdout)['envChoice']['kind'], 'conda')


class EnvEnsure(TempDirCase):
    def test_env_ensure_builds_here_and_streams_env_events(self):
        request = json.dumps({'env': self.venv_spec(), 'envHash': 'h1'}).encode()
        out = self.agent('env-ensure', '--workdir', self.work, input=request)
        self.assertEqual(out.returncode, 0, out.stderr)
        events = [json.loads(line) for line in out.stdout.splitlines()]
        text = ''.join(e.get('text', '') for e in events if e['type'] == 'env')
        self.assertIn('Environment kind: venv', text)
        self.assertIn('-m venv', text)
        ready = events[-1]
        self.assertEqual(ready['type'], 'env-ready')
        self.assertTrue(os.path.exists(ready['python']))
        self.assertTrue(os.path.exists(os.path.join(self.work, 'envs', 'h1.ready')))
        again = self.agent('env-ensure', '--workdir', self.work, input=request)
        self.assertEqual([json.loads(line)['type'] for line in again.stdout.splitlines()],
                         ['env-ready'], 'ready: nothing built')

    def test_a_failed_build_is_an_error_event_and_exit_1(self):
        request = json.dumps({'env': self.venv_spec(python='/nonexistent/python3'),
                              'envHash': 'h2'}).encode()
        out = self.agent('env-ensure', '--workdir', self.work, input=request)
        self.assertEqual(out.returncode, 1, out.stderr)
        last = json.loads(out.stdout.splitlines()[-1])
        self.assertEqual(last['type'], 'error')
        self.assertIn('no Python interpreter found', last['evalue'])


if __name__ == '__main__':
    import unittest
    unittest.main()
