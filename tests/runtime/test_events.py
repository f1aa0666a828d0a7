"""_cb_events: the one event log the agent and the runner both append to; a full disk."""
import errno
import json
import os
import subprocess
import sys
import unittest

from rt_helpers import AGENT, PYTHON, RUNTIME, TempDirCase, of_type, read_events

sys.path.insert(0, RUNTIME)
import _cb_events  # noqa: E402


class EventLogTest(TempDirCase):
    def test_two_writers_continue_each_others_numbering(self):
        _cb_events.make_reserve(self.tmp)
        agent = _cb_events.EventLog(self.tmp)
        agent.write([{'type': 'status', 'phase': 'preparing'}])
        runner = _cb_events.EventLog(self.tmp)  # made before the agent's next write, as a held runner
        agent.write([{'type': 'status', 'phase': 'running'}])
        runner.write([{'type': 'stream', 'name': 'stdout', 'text': 'x'}, {'type': 'notice', 'text': 'y'}])
        agent.resync()
        agent.write([{'type': 'done', 'state': 'completed', 'exitCode': 0}])
        events = read_events(self.tmp)
        self.assertEqual([e['seq'] for e in events], [0, 1, 2, 3, 4])
        self.assertEqual(events[-1]['type'], 'done')
        self.assertFalse(os.path.exists(os.path.join(self.tmp, _cb_events.RESERVE_NAME)))
        self.assertTrue(_cb_events.has_done(os.path.join(self.tmp, 'events.jsonl')))

    def test_values_json_cannot_hold_are_written_as_their_repr_or_null(self):
        log = _cb_events.EventLog(self.tmp)
        log.write([{'type': 'display', 'data': {'text/plain': object, 'x': float('nan')}}])
        data = read_events(self.tmp)[0]['data']
        self.assertEqual(data['text/plain'], repr(object))
        self.assertIsNone(data['x'])

    def test_notify_pipe_gets_a_byte_per_batch_and_a_closed_one_is_dropped(self):
        r, w = os.pipe()
        log = _cb_events.EventLog(self.tmp, notify_fd=w)
        log.write([{'type': 'notice', 'text': 'a'}, {'type': 'notice', 'text': 'b'}])
        self.assertEqual(os.read(r, 10), b'.')
        os.close(r)
        log.write([{'type': 'notice', 'text': 'c'}])  # EPIPE: no error, no more notifying
        self.assertIsNone(log.notify_fd)
        os.close(w)
        self.assertEqual(len(read_events(self.tmp)), 3)

    def test_a_done_marker_inside_text_is_not_the_done_line(self):
        chunk = b'{"seq":0,"t":1,"type":"stream","text":"\\"type\\":\\"done\\""}\n'
        self.assertIsNone(_cb_events.find_done(chunk))
        done = b'{"seq":1,"t":1,"type":"done","state":"completed"}\n'
        self.assertEqual(_cb_events.find_done(chunk + done), len(chunk + done))


class FullDisk(TempDirCase):
    """ENOSPC/EDQUOT part way through a write: whole lines only, and the log says why."""

    def failing_writes(self, budget):
        """os.write in _cb_events takes `budget` more bytes, then fails with EDQUOT until the
        reserve is given up (which frees its room)."""
        real = _cb_events.os.write
        left = [budget]
        reserve = os.path.join(self.tmp, _cb_events.RESERVE_NAME)

        def write(fd, data):
            if os.path.exists(reserve):
                if left[0] <= 0:
                    raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
                n = real(fd, bytes(data[:left[0]]))
                left[0] -= n
                return n
            return real(fd, data)
        _cb_events.os.write = write
        self.addCleanup(setattr, _cb_events.os, 'write', real)
        return left

    def test_a_write_cut_by_a_full_quota_leaves_only_whole_lines_and_says_why(self):
        _cb_events.make_reserve(self.tmp)
        stopped = []
        self.log = _cb_events.EventLog(self.tmp, on_full=lambda: stopped.append(1))
        self.log.write([{'type': 'stream', 'name': 'stdout', 'text': 'first\n'}])
        self.failing_writes(150)
        reserve = os.path.join(self.tmp, _cb_events.RESERVE_NAME)
        self.log.write([{'type': 'stream', 'name': 'stdout', 'text': 'x' * 60 + '\n'}
                        for _ in range(5)])
        self.assertEqual(stopped, [1], 'the owner is told once')
        self.log.write([{'type': 'stream', 'name': 'stdout', 'text': 'dropped\n'}])
        self.assertTrue(os.path.exists(reserve), 'half the room set aside again for done')
        agent = _cb_events.EventLog(self.tmp)  # the other writer, with only `done` to write
        agent.write([{'type': 'done', 'state': 'failed', 'exitCode': 1}])
        with open(os.path.join(self.tmp, 'events.jsonl'), 'rb') as f:
            raw = f.read()
        self.assertTrue(raw.endswith(b'\n'))
        events = [json.loads(line) for line in raw.splitlines()]  # every line whole
        texts = [e.get('text') for e in events if e['type'] == 'stream']
        self.assertEqual(texts, ['first\n', 'x' * 60 + '\n'], 'the whole line that made it stays')
        self.assertEqual(len(of_type(events, 'error')), 1, 'the reason is said once')
        err = of_type(events, 'error')[0]
        self.assertEqual(err['ename'], 'DiskFullError')
        self.assertIn('Disk quota exceeded', err['evalue'])
        self.assertIn('%cluster clean', err['evalue'])
        self.assertEqual(events[-1]['type'], 'done')
        seqs = [e['seq'] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, _cb_events.RESERVE_NAME)),
                         'the reserve was given up for the last words')

    def test_a_line_cut_by_a_killed_writer_is_cut_off_by_the_next_one(self):
        path = os.path.join(self.tmp, 'events.jsonl')
        with open(path, 'wb') as f:
            f.write(b'{"seq":0,"t":1,"type":"status","phase":"running"}\n{"seq":1,"t":1,"type":"str')
        _cb_events.EventLog(self.tmp).write([{'type': 'done', 'state': 'failed'}])
        events = read_events(self.tmp)
        self.assertEqual([e['seq'] for e in events], [0, 1])
        self.assertEqual(events[-1]['type'], 'done')

    def test_follow_never_passes_on_half_a_line(self):
        """A reader that took a cut line's bytes would glue them to what the writer appends
        after cutting them off."""
        jobdir = self.jobdir('f')
        os.makedirs(jobdir)
        path = os.path.join(jobdir, 'events.jsonl')
        with open(path, 'wb') as f:
            f.write(b'{"seq":0,"t":1,"type":"stream","name":"stdout","text":"a\\n"}\n{"seq":1,"t":1,"ty')
        proc = subprocess.Popen([PYTHON, '-u', AGENT, 'follow', jobdir], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env())
        first = proc.stdout.readline()
        self.assertEqual(json.loads(first)['seq'], 0)
        import time
        time.sleep(0.3)  # the follower has seen the cut line by now
        with open(path, 'r+b') as f:
            f.truncate(len(first))
        _cb_events.EventLog(jobdir).write([{'type': 'done', 'state': 'failed'}])
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out)['type'], 'done', out)


class FullDiskOnARealFileSystem(TempDirCase):
    """A work dir on a tiny tmpfs, filled up, and a cell that prints a lot: a clear error."""

    def setUp(self):
        # A test that cannot run fails: CI runs as root, and so must whoever runs this.
        self.assertEqual(os.geteuid(), 0, 'mounting a small tmpfs needs root (CI runs as root)')
        TempDirCase.setUp(self)
        self.mnt = os.path.join(self.tmp, 'small')
        os.makedirs(self.mnt)
        subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', self.mnt])
        self.addCleanup(subprocess.call, ['umount', '-l', self.mnt])
        self.work = os.path.join(self.mnt, 'work')
        os.makedirs(os.path.join(self.work, 'jobs'))

    def fill(self, leave_kib):
        st = os.statvfs(self.mnt)
        free = st.f_bavail * st.f_frsize
        with open(os.path.join(self.mnt, 'filler'), 'wb') as f:
            f.write(b'\0' * max(0, free - leave_kib * 1024))

    def go(self, name, code):
        return self.agent('go', self.jobdir(name), input=self.bundle(code), timeout=120)

    def test_a_cell_that_fills_the_disk_ends_with_a_clear_error(self):
        warm = self.go('warm', 'print(1)')  # VENV2 built while there is room
        self.assertEqual(warm.returncode, 0, warm.stderr)
        self.fill(leave_kib=200)
        out = self.go('big', 'for i in range(10 ** 7):\n    print("line %d" % i)\n')
        self.assertEqual(out.returncode, 0, 'follow ended at the done line: %r' % out.stderr)
        events = [json.loads(line) for line in out.stdout.splitlines()]
        err = of_type(events, 'error')
        self.assertEqual([e['ename'] for e in err], ['DiskFullError'], err)
        self.assertIn('No space left on device', err[0]['evalue'])
        self.assertDone(events, 'failed')
        with open(os.path.join(self.jobdir('big'), 'events.jsonl'), 'rb') as f:
            raw = f.read()
        self.assertTrue(raw.endswith(b'\n'))
        for line in raw.splitlines():
            json.loads(line)  # no cut line anywhere
        self.assertEqual([n for n in os.listdir(self.jobdir('big')) if n.endswith('.tmp')], [])

    def test_no_room_for_the_job_itself_is_a_clear_error(self):
        warm = self.go('warm', 'print(1)')
        self.assertEqual(warm.returncode, 0, warm.stderr)
        self.fill(leave_kib=0)
        out = self.go('none', 'print(1)')
        self.assertEqual(out.returncode, 2)
        self.assertIn(b'the disk or your quota is full', out.stderr)
        self.assertIn(b'No space left on device', out.stderr)


if __name__ == '__main__':
    unittest.main()
