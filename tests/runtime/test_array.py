"""Array jobs (_cb_array): the element's index from each scheduler's variable, the value bound
in the cell, a direct host's launcher (max-parallel, failures, cancel) and the multiplexed
follow."""
import json
import os
import subprocess
import sys
import time
import unittest

from rt_helpers import (AGENT, PYTHON, TempDirCase, group_exists, of_type, read_events,
                        stream_text, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'src', 'runtime'))

import _cb_array  # noqa: E402

CELL = ('import time\nt0 = time.time()\ntime.sleep(0.4)\n'
        'print("%r %s %.3f %.3f" % (lr, type(lr).__name__, t0, time.time()))\nlr * 2')


def follow_lines(data):
    out = {}
    for line in data.decode('utf-8').splitlines():
        k, _, event = line.partition('\t')
        out.setdefault(int(k), []).append(json.loads(event))
    return out


class ElementIndex(unittest.TestCase):
    def test_each_schedulers_variable_and_its_first_index(self):
        self.assertEqual(_cb_array.element_index({'SLURM_ARRAY_TASK_ID': '2'}, 4), 2)
        self.assertEqual(_cb_array.element_index({'SGE_TASK_ID': '1'}, 4), 0)
        self.assertEqual(_cb_array.element_index({'SGE_TASK_ID': 'undefined',
                                                  'PBS_ARRAY_INDEX': '3'}, 4), 3)
        self.assertEqual(_cb_array.element_index({'CB_ARRAY_INDEX': '0'}, 1), 0)

    def test_a_direct_hosts_default_parallel_leaves_room_for_each_claim(self):
        cpus = _cb_array.default_parallel()
        self.assertGreaterEqual(cpus, 1)
        self.assertEqual(_cb_array.default_parallel({'gpus': 1}), 1)
        self.assertEqual(_cb_array.default_parallel({'cpus': cpus}), 1)
        self.assertEqual(_cb_array.default_parallel({'cpus': 10 ** 6}), 1)

    def test_missing_or_outside_is_a_clear_error(self):
        with self.assertRaisesRegex(_cb_array.ArrayError, 'no array index'):
            _cb_array.element_index({}, 4)
        with self.assertRaisesRegex(_cb_array.ArrayError, 'outside the array'):
            _cb_array.element_index({'SLURM_ARRAY_TASK_ID': '4'}, 4)
        with self.assertRaisesRegex(_cb_array.ArrayError, 'not an array index'):
            _cb_array.element_index({'SGE_TASK_ID': 'x'}, 4)


class ArrayJobs(TempDirCase):
    def prepare(self, name, code, values, max_parallel=None):
        jobdir = self.jobdir(name)
        request = {'array': {'name': 'lr', 'values': values}}
        if max_parallel:
            request['maxParallel'] = max_parallel
        out = self.agent('prepare', jobdir, input=self.bundle(code, request=request))
        self.assertEqual(out.returncode, 0, out.stderr)
        return jobdir

    def element_events(self, jobdir, k):
        return read_events(_cb_array.element_dir(jobdir, k))

    def test_element_binds_its_value_as_a_python_value(self):
        jobdir = self.prepare('e1', CELL, [0.1, 3, 'adam'])
        for var, text in (('SLURM_ARRAY_TASK_ID', '0'), ('SGE_TASK_ID', '2'),
                          ('PBS_ARRAY_INDEX', '2')):
            env = self.env(**{var: text})
            out = self.agent('array-element', jobdir, env=env)
            self.assertEqual(out.returncode, 0, out.stderr)
        first = self.element_events(jobdir, 0)
        self.assertTrue(stream_text(first).startswith('0.1 float '), stream_text(first))
        self.assertEqual(of_type(first, 'result')[0]['data']['text/plain'], '0.2')
        second = self.element_events(jobdir, 1)
        self.assertTrue(stream_text(second).startswith('3 int '), stream_text(second))
        self.assertEqual(of_type(second, 'result')[0]['data']['text/plain'], '6')
        self.assertDone(second, 'completed')
        third = self.element_events(jobdir, 2)
        self.assertTrue(stream_text(third).startswith("'adam' str "), stream_text(third))

    def test_direct_launch_runs_every_element_at_most_p_at_once(self):
        jobdir = self.prepare('d1', CELL, [1, 2, 3, 4, 5], max_parallel=2)
        out = self.agent('launch', jobdir)
        self.assertEqual(out.returncode, 0, out.stderr)
        fol = self.agent('array-follow', jobdir, timeout=120)
        self.assertEqual(fol.returncode, 0, fol.stderr)
        by_k = follow_lines(fol.stdout)
        self.assertEqual(sorted(by_k), [0, 1, 2, 3, 4])
        spans = []
        for k, events in by_k.items():
            self.assertEqual(events[-1]['type'], 'done', k)
            self.assertEqual(events[-1]['state'], 'completed')
            words = stream_text(events).split()
            self.assertEqual(words[:2], [str(k + 1), 'int'])
            spans.append((float(words[2]), float(words[3])))
        most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
        self.assertEqual(most, 2, 'at most 2 at once, and 2 did overlap: %r' % spans)

    def test_one_failing_element_fails_the_launcher_and_others_complete(self):
        jobdir = self.prepare('d2', 'if lr == 2:\n    raise ValueError("bad lr")\nlr', [1, 2, 3])
        out = self.agent('launch', jobdir)
        pid = json.loads(out.stdout.decode())['pid']
        fol = self.agent('array-follow', jobdir, timeout=120)
        by_k = follow_lines(fol.stdout)
        self.assertEqual([by_k[k][-1]['state'] for k in range(3)],
                         ['completed', 'failed', 'completed'])
        self.assertEqual(of_type(by_k[1], 'error')[0]['evalue'], 'bad lr')
        self.assertTrue(wait_for(lambda: not group_exists(pid), 10))
        with open(os.path.join(jobdir, 'status.json')) as f:
            self.assertEqual(json.load(f)['state'], 'failed')

    def test_cancel_ends_running_and_unstarted_elements_with_no_orphans(self):
        code = ('import os, subprocess, time\np = subprocess.Popen(["sleep", "300"])\n'
                'open(os.path.join(%r, "sleep-%%d" %% lr), "w").write(str(p.pid))\n'
                'time.sleep(300)' % self.tmp)
        jobdir = self.prepare('d3', code, [1, 2, 3, 4], max_parallel=2)
        out = self.agent('launch', jobdir)
        pid = json.loads(out.stdout.decode())['pid']
        self.assertTrue(wait_for(lambda: all(
            os.path.exists(os.path.join(self.tmp, 'sleep-%d' % v)) for v in (1, 2)), 60))
        pgids = []
        for k in (0, 1):
            with open(os.path.join(_cb_array.element_dir(jobdir, k), 'status.json')) as f:
                pgids.append(json.load(f)['runnerPgid'])
        cancelled = self.agent('cancel', jobdir, '--grace', '5')
        self.assertEqual(cancelled.returncode, 0, cancelled.stderr)
        fol = self.agent('array-follow', jobdir, timeout=60)
        by_k = follow_lines(fol.stdout)
        self.assertEqual([by_k[k][-1]['state'] for k in range(4)], ['cancelled'] * 4)
        self.assertEqual(of_type(by_k[2], 'status'), [], 'element 2 never started')
        self.assertGroupsGone(pid, *pgids)
        for value in (1, 2):
            with open(os.path.join(self.tmp, 'sleep-%d' % value)) as f:
                sleep = int(f.read())
            self.assertTrue(wait_for(lambda: not os.path.exists('/proc/%d' % sleep), 10),
                            'the sleep of element %d is gone' % value)

    def test_an_element_killed_before_its_end_ends_as_lost(self):
        code = 'import os, signal\nif lr == 2:\n    os.kill(os.getppid(), signal.SIGKILL)\nlr'
        jobdir = self.prepare('d4', code, [1, 2])
        self.agent('launch', jobdir)
        fol = self.agent('array-follow', jobdir, timeout=120)
        by_k = follow_lines(fol.stdout)
        self.assertEqual(by_k[0][-1]['state'], 'completed')
        self.assertEqual(by_k[1][-1]['state'], 'lost')
        self.assertIn('without recording its end', by_k[1][-1]['reason'])

    def test_a_running_element_whose_heartbeat_stopped_ends_as_lost(self):
        code = 'import time\nprint("up", flush=True)\ntime.sleep(300)'
        jobdir = self.prepare('d6', code, [1])
        element = subprocess.Popen([PYTHON, '-u', AGENT, 'array-element', jobdir],
                                   env=self.env(SLURM_ARRAY_TASK_ID='0'),
                                   start_new_session=True)
        status_path = os.path.join(_cb_array.element_dir(jobdir, 0), 'status.json')

        def running():
            try:
                with open(status_path) as f:
                    return json.load(f).get('state') == 'running'
            except (OSError, ValueError):
                return False
        self.assertTrue(wait_for(running, 60))
        with open(status_path) as f:
            runner_pgid = json.load(f)['runnerPgid']
        # Killed outright, as the OOM killer or a failed node would: no `done` is written.
        os.killpg(element.pid, 9)
        os.killpg(runner_pgid, 9)
        element.wait()
        fol = self.agent('array-follow', jobdir, timeout=60,
                         env=self.env(CB_ARRAY_LOST_S='1'))
        by_k = follow_lines(fol.stdout)
        self.assertEqual(by_k[0][-1]['state'], 'lost')
        self.assertIn('no sign of life from', by_k[0][-1]['reason'])

    def test_an_element_silent_while_it_builds_its_env_ends_lost(self):
        # Its node died mid-build: the heartbeat (running from the build on) stopped.
        jobdir = self.prepare('p1', 'lr', [1])
        element = _cb_array.element_dir(jobdir, 0)
        os.makedirs(element, exist_ok=True)
        path = os.path.join(element, 'status.json')
        with open(path, 'w') as f:
            json.dump({'state': 'preparing', 'node': 'node-7'}, f)
        old = time.time() - 600
        os.utime(path, (old, old))
        _cb_array.end_silent(jobdir, 0, 150.0)
        events = read_events(element)
        self.assertEqual(events[-1]['state'], 'lost')
        self.assertIn('no sign of life from node-7', events[-1]['reason'])

    def test_follow_passes_lines_longer_than_one_read(self):
        jobdir = self.prepare('d5', '"x" * (5 << 20)', [1])
        self.agent('launch', jobdir)
        fol = self.agent('array-follow', jobdir, timeout=60)
        by_k = follow_lines(fol.stdout)
        result = of_type(by_k[0], 'result')[0]['data']['text/plain']
        self.assertGreater(len(result), 1 << 20, 'one event line longer than a 1 MiB read')
        self.assertEqual(by_k[0][-1]['state'], 'completed')

    def test_follow_resumes_each_element_from_its_offset_and_skips_the_ended(self):
        # What a bridge whose connection dropped asks for: element 0 already ended there,
        # element 1 from the byte after its lines so far, element 2 from its start.
        jobdir = self.prepare('r1', 'print("value", lr)\nlr', [1, 2, 3])
        self.agent('launch', jobdir)
        whole = follow_lines(self.agent('array-follow', jobdir, timeout=120).stdout)
        self.assertEqual([whole[k][-1]['state'] for k in range(3)], ['completed'] * 3)
        path = os.path.join(_cb_array.element_dir(jobdir, 1), 'events.jsonl')
        with open(path, 'rb') as f:
            lines = f.read().split(b'\n')[:-1]
        kept = 2
        offset = sum(len(line) + 1 for line in lines[:kept])
        fol = self.agent('array-follow', jobdir, '--offsets', '-,%d,0' % offset, timeout=60)
        self.assertEqual(fol.returncode, 0, fol.stderr)
        resumed = follow_lines(fol.stdout)
        self.assertNotIn(0, resumed, 'element 0 had ended: nothing of it again')
        self.assertEqual(resumed[1], whole[1][kept:])
        self.assertEqual(resumed[2], whole[2])

    def test_follow_refuses_offsets_that_do_not_fit_the_array(self):
        jobdir = self.prepare('r2', 'lr', [1, 2])
        for offsets, words in (('0', b'1 values for an array of 2'),
                               ('0,x', b"'x' is neither a byte offset nor -")):
            out = self.agent('array-follow', jobdir, '--offsets', offsets)
            self.assertEqual(out.returncode, 2)
            self.assertIn(words, out.stderr)

    def test_follow_of_a_job_that_is_no_array_is_a_clear_error(self):
        jobdir = self.jobdir('n1')
        self.agent('prepare', jobdir, input=self.bundle('1'))
        out = self.agent('array-follow', jobdir)
        self.assertEqual(out.returncode, 2)
        self.assertIn(b'is not an array job', out.stderr)


if __name__ == '__main__':
    unittest.main()
