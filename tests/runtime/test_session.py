"""Sessions: the agent's session commands and the session process, through a real TCP client
speaking the protocol (docs/architecture.md, "Sessions"). Real processes, no mocks."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
import unittest

from rt_helpers import (AGENT, PYTHON, TempDirCase, group_exists, of_type, read_events,
                        stream_text, strip_ansi, wait_for)


def pid_exists(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            return f.read().split(b') ', 1)[1][:1] != b'Z'
    except (OSError, IndexError):
        return False


class Client(object):
    """A protocol client: JSON lines over one TCP connection."""

    def __init__(self, endpoint, token=None, timeout=60):
        self.sock = socket.create_connection((endpoint['host'], endpoint['port']), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile('rb')
        self.next_id = 0
        self.pending = []  # messages read while waiting for something else
        if token is not None:
            hello = self.hello(token)
            assert hello['ok'], hello

    def close(self):
        self.file.close()
        self.sock.close()

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + '\n').encode('utf-8'))

    def read(self):
        line = self.file.readline()
        return json.loads(line) if line else None

    def hello(self, token):
        self.send({'op': 'hello', 'token': token})
        return self.read()

    def request(self, op, **fields):
        self.next_id += 1
        rid = self.next_id
        msg = {'op': op, 'id': rid}
        msg.update(fields)
        self.send(msg)
        while True:
            got = self.read()
            assert got is not None, 'connection closed before the reply to %s' % op
            if got.get('op') == 'reply' and got.get('id') == rid:
                return got
            self.pending.append(got)

    def run(self, job, jobdir, code, count=None):
        bundle = {'jobId': job, 'code': code, 'lineOffset': 0, 'executionCount': count}
        return self.request('run', job=job, jobdir=jobdir, bundle=bundle)

    def follow(self, job, offset=0, until_done=True, stop=None):
        """The raw log text pushed for job from offset (until `followed`, or until stop(text))."""
        reply = self.request('follow', job=job, offset=offset)
        assert reply['ok'], reply
        text = ''
        while True:
            msg = self.pending.pop(0) if self.pending else self.read()
            assert msg is not None, 'connection closed while following'
            if msg.get('job') != job:
                continue
            if msg['op'] == 'followed':
                return text
            if msg['op'] == 'events':
                text += msg['data']
                if stop is not None and stop(text):
                    return text


def lines_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class SessionCase(TempDirCase):
    def setUp(self):
        TempDirCase.setUp(self)
        self.sessions = []
        self.clients = []
        self.cell_count = 0

    def tearDown(self):
        for client in self.clients:
            try:
                client.close()
            except OSError:
                pass
        for sdir in self.sessions:
            self.agent('session-stop', sdir, '--grace', '1')
        TempDirCase.tearDown(self)

    def spec(self, sid='s1', **extra):
        spec = {'sessionId': sid, 'cluster': 'local', 'notebook': 'nb.ipynb',
                'env': self.venv_spec(), 'bind': '127.0.0.1', 'idleTimeout': 0,
                'timeLimit': None, 'warnBefore': 300, 'cwd': self.tmp}
        spec.update(extra)
        return spec

    def sdir(self, sid='s1'):
        return os.path.join(self.work, 'sessions', sid)

    def start(self, sid='s1', **extra):
        """session-start; returns (its stdout lines, session-info)."""
        sdir = self.sdir(sid)
        self.sessions.append(sdir)
        out = self.agent('session-start', sdir, input=json.dumps(self.spec(sid, **extra)).encode())
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return lines_of(out.stdout.decode()), self.info(sid)

    def info(self, sid='s1'):
        out = self.agent('session-info', self.sdir(sid))
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        return json.loads(out.stdout.decode())

    def client(self, info):
        client = Client(info['endpoint'], info['token'])
        self.clients.append(client)
        return client

    def cell(self, client, code, name=None):
        """Runs code as the next cell and returns its events (followed to `done`)."""
        self.cell_count += 1
        name = name or 'c%d' % self.cell_count
        reply = client.run(name, self.jobdir(name), code, self.cell_count)
        self.assertTrue(reply['ok'], reply)
        events = lines_of(client.follow(name))
        self.assertEqual(events, read_events(self.jobdir(name)), 'follow gives the log as written')
        return events

    def result(self, events):
        return [e['data']['text/plain'] for e in of_type(events, 'result')]

    def session_log(self, sid='s1'):
        return read_events(self.sdir(sid))

    def wait_log(self, jobdir, predicate, timeout=30):
        return wait_for(lambda: [e for e in read_events(jobdir) if predicate(e)], timeout)


class SessionLifecycle(SessionCase):
    def test_state_across_cells_and_the_layout(self):
        started, info = self.start()
        # session-run built VENV2 (no env was ready) and said so in the session log.
        self.assertTrue(of_type(started, 'env'), started)
        self.assertEqual(started[-1]['type'], 'ready', 'session-start streams until ready')
        self.assertEqual(started, self.session_log(), 'session-start printed the log from 0')
        ready = started[-1]
        sdir = self.sdir()
        self.assertEqual(stat.S_IMODE(os.stat(sdir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(sdir, 'token')).st_mode), 0o600)
        self.assertRegex(info['token'], r'^[0-9a-f]{64}$')
        self.assertEqual(info['endpoint']['port'], ready['port'])
        self.assertEqual(info['endpoint']['pid'], ready['pid'])
        self.assertEqual(info['endpoint']['pgid'], ready['pid'], 'the session leads its group')
        self.assertEqual(info['status']['state'], 'idle')
        self.assertIs(info['alive'], True)
        with open(os.path.join(sdir, 'spec.json')) as f:
            self.assertEqual(json.load(f)['sessionId'], 's1')
        client = self.client(info)
        first = self.cell(client, 'x = 41')
        self.assertDone(first, 'completed')
        second = self.cell(client, 'x + 1')
        self.assertEqual(self.result(second), ['42'])
        self.assertDone(second, 'completed')
        self.assertSeqOk(second)
        running = of_type(second, 'status')[0]
        self.assertEqual((running['phase'], running['session']), ('running', 's1'))
        with open(os.path.join(self.jobdir('c2'), 'status.json')) as f:
            st = json.load(f)
        self.assertEqual((st['state'], st['pid'], st['session']), ('completed', ready['pid'], 's1'))
        with open(os.path.join(self.jobdir('c2'), 'bundle.json')) as f:
            self.assertEqual(json.load(f)['code'], 'x + 1')
        self.assertEqual(stat.S_IMODE(os.stat(self.jobdir('c2')).st_mode), 0o700)
        # The agent's own follow works on a session cell too.
        fol = self.agent('follow', self.jobdir('c2'), '--offset', '0')
        self.assertEqual(fol.returncode, 0, fol.stderr)
        self.assertEqual(lines_of(fol.stdout.decode()), second)

    def test_in_process_on_venv2_python(self):
        """session-start run by VENV2's own python: the session is that process (no exec)."""
        _, info = self.start('exec0')
        probe = 'import sys\n"_cb_agent" in sys.modules, sys.prefix'
        exec_events = self.cell(self.client(info), probe)
        markers = [n for n in os.listdir(os.path.join(self.work, 'envs')) if n.endswith('.ready')]
        with open(os.path.join(self.work, 'envs', markers[0])) as f:
            venv = json.load(f)
        sdir = self.sdir('warm1')
        self.sessions.append(sdir)
        out = self.agent('session-start', sdir, python=venv['python'],
                         input=json.dumps(self.spec('warm1')).encode())
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        warm_events = self.cell(self.client(self.info('warm1')), probe)
        self.assertEqual(self.result(exec_events), ['(False, %r)' % venv['prefix']])
        self.assertEqual(self.result(warm_events), ['(True, %r)' % venv['prefix']])

    def test_bad_spec_is_refused_clearly(self):
        sdir = self.sdir('s1')
        out = self.agent('session-start', sdir, input=json.dumps(self.spec('other')).encode())
        self.assertEqual(out.returncode, 2)
        self.assertIn('does not match the session directory', out.stderr.decode())
        out = self.agent('session-prepare', self.sdir('a b'), input=json.dumps(self.spec('a b')).encode())
        self.assertEqual(out.returncode, 2)
        self.assertIn('sessionId must be', out.stderr.decode())
        out = self.agent('session-prepare', sdir, input=b'{nope')
        self.assertEqual(out.returncode, 2)
        self.assertIn('not valid JSON', out.stderr.decode())

    def test_prepare_then_run_in_the_foreground(self):
        """The batch path: session-prepare, then session-run as the job's body."""
        sdir = self.sdir('b1')
        self.sessions.append(sdir)
        out = self.agent('session-prepare', sdir, input=json.dumps(self.spec('b1')).encode())
        self.assertEqual(json.loads(out.stdout.decode()), {'ok': True})
        again = self.agent('session-prepare', sdir, input=json.dumps(self.spec('b1')).encode())
        self.assertEqual(again.returncode, 2)
        self.assertIn('already in use', again.stderr.decode())
        proc = subprocess.Popen([PYTHON, '-u', AGENT, 'session-run', sdir], env=self.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_for(lambda: of_type(self.session_log('b1'), 'ready'), 60),
                            'ready in the log')
            client = self.client(self.info('b1'))
            self.assertEqual(self.result(self.cell(client, '6 * 7')), ['42'])
            reply = client.request('stop')
            self.assertTrue(reply['ok'])
            self.assertEqual(proc.wait(30), 0)
        finally:
            proc.kill()
            proc.stderr.close()
        self.assertEqual(of_type(self.session_log('b1'), 'ended')[-1]['reason'], 'stopped')

    def test_bad_token_refused(self):
        _, info = self.start()
        client = Client(info['endpoint'])
        self.clients.append(client)
        reply = client.hello('0' * 64)
        self.assertEqual(reply, {'op': 'hello', 'ok': False, 'error': 'bad token'})
        self.assertIsNone(client.read(), 'the connection is closed after a bad token')
        other = Client(info['endpoint'])
        self.clients.append(other)
        other.send({'op': 'run', 'id': 1, 'job': 'x', 'jobdir': self.jobdir('x'),
                    'bundle': {'code': 'open("/tmp/pwned", "w")'}})
        self.assertEqual(other.read()['ok'], False, 'a request before hello is refused')
        self.assertFalse(os.path.exists(self.jobdir('x')))

    def test_info_and_stop(self):
        _, info = self.start()
        pid = info['endpoint']['pid']
        client = self.client(info)
        events = self.cell(client, 'import subprocess\np = subprocess.Popen(["sleep", "1000"])\np.pid')
        child = int(self.result(events)[0])
        self.assertTrue(pid_exists(child))
        status = client.request('status')['status']
        self.assertEqual((status['state'], status['pid'], status['cells'], status['current']),
                         ('idle', pid, 1, None))
        self.assertGreater(status['rssBytes'], 1 << 20)
        stop = self.agent('session-stop', self.sdir(), '--grace', '5')
        self.assertEqual(stop.returncode, 0, stop.stderr)
        self.assertEqual(json.loads(stop.stdout.decode()), {'ok': True, 'was': 'idle'})
        self.assertTrue(wait_for(lambda: not pid_exists(child), 10), 'the cell\'s sleep is gone')
        self.assertTrue(wait_for(lambda: not group_exists(pid), 10), 'no process of the group left')
        ended = of_type(self.session_log(), 'ended')
        self.assertEqual([e['reason'] for e in ended], ['stopped'])
        after = self.info()
        self.assertEqual((after['status']['state'], after['alive']), ('ended', False))
        again = self.agent('session-stop', self.sdir())
        self.assertEqual(json.loads(again.stdout.decode()), {'ok': True, 'was': 'ended'})
        self.assertEqual(len(of_type(self.session_log(), 'ended')), 1)

    def test_stop_op_with_a_running_cell(self):
        _, info = self.start()
        pid = info['endpoint']['pid']
        client = self.client(info)
        client.run('long', self.jobdir('long'), 'import time\nwhile True:\n    time.sleep(0.05)')
        client.run('next', self.jobdir('next'), 'print("never")')
        self.wait_log(self.jobdir('long'), lambda e: e.get('phase') == 'running')
        self.assertTrue(client.request('stop')['ok'])
        self.assertTrue(wait_for(lambda: not group_exists(pid), 15), 'the session ended')
        long_events = read_events(self.jobdir('long'))
        self.assertDone(long_events, 'cancelled')
        self.assertEqual(of_type(long_events, 'error')[0]['ename'], 'KeyboardInterrupt')
        queued = self.assertDone(read_events(self.jobdir('next')), 'cancelled')
        self.assertIn('before the cell started', queued['reason'])
        self.assertEqual(self.info()['status']['state'], 'ended')

    def test_idle_timeout_ends_it(self):
        _, info = self.start(idleTimeout=1)
        pid = info['endpoint']['pid']
        client = self.client(info)
        self.cell(client, 'import time\ntime.sleep(1.5)')  # a running cell is not idle
        self.assertTrue(pid_exists(pid), 'alive right after a cell longer than the idle timeout')
        ended = wait_for(lambda: of_type(self.session_log(), 'ended'), 30)
        self.assertEqual(ended[0]['reason'], 'idle timeout (1s)')
        self.assertTrue(wait_for(lambda: not pid_exists(pid), 10))
        status = self.info()['status']
        self.assertEqual((status['state'], status['reason']), ('ended', 'idle timeout (1s)'))


class SessionCells(SessionCase):
    def test_error_keeps_session_and_namespace(self):
        _, info = self.start()
        client = self.client(info)
        self.cell(client, 'y = 5')
        failed = self.cell(client, '1 / 0')
        self.assertDone(failed, 'failed')
        self.assertEqual(of_type(failed, 'error')[0]['ename'], 'ZeroDivisionError')
        self.assertEqual(self.result(self.cell(client, 'y')), ['5'])
        exited = self.cell(client, 'raise SystemExit(3)')
        self.assertEqual(self.assertDone(exited, 'failed')['exitCode'], 3)
        self.assertEqual(self.result(self.cell(client, 'y * 2')), ['10'], 'SystemExit ends the cell only')

    def test_interrupt_running_cell_keeps_namespace(self):
        _, info = self.start()
        client = self.client(info)
        self.cell(client, 'z = 1')
        self.assertTrue(client.run('spin', self.jobdir('spin'),
                                   'import time\nwhile True:\n    time.sleep(0.05)', 9)['ok'])
        self.wait_log(self.jobdir('spin'), lambda e: e.get('phase') == 'running')
        reply = client.request('interrupt', job='spin')
        self.assertEqual((reply['ok'], reply['was']), (True, 'running'))
        events = lines_of(client.follow('spin'))
        self.assertEqual(self.assertDone(events, 'cancelled')['exitCode'], 130)
        error = of_type(events, 'error')[0]
        self.assertEqual(error['ename'], 'KeyboardInterrupt')
        self.assertIn('Cell In[9], line 3', strip_ansi('\n'.join(error['traceback'])))
        self.assertEqual(self.result(self.cell(client, 'z + 1')), ['2'])
        again = client.request('interrupt', job='spin')
        self.assertEqual(again['was'], 'over')

    def test_queued_cells_run_in_order_and_a_queued_one_can_be_cancelled(self):
        _, info = self.start()
        client = self.client(info)
        self.cell(client, 'import time\norder = []')
        codes = ['time.sleep(0.8)\norder.append(1)', 'order.append(2)', 'order.append(3)',
                 'order.append(4)']
        aheads = []
        for i, code in enumerate(codes):
            reply = client.run('q%d' % i, self.jobdir('q%d' % i), code)
            self.assertTrue(reply['ok'], reply)
            aheads.append(reply['ahead'])
        self.assertEqual(aheads, [0, 1, 2, 3])
        queued = of_type(read_events(self.jobdir('q2')), 'status')[0]
        self.assertEqual(queued['phase'], 'queued')
        self.assertEqual(queued['message'], 'waiting for 2 cell(s) ahead in the session')
        with open(os.path.join(self.jobdir('q2'), 'status.json')) as f:
            self.assertEqual(json.load(f)['state'], 'queued')
        reply = client.request('interrupt', job='q2')
        self.assertEqual(reply['was'], 'queued')
        for i in range(4):
            client.follow('q%d' % i)
        done = self.assertDone(read_events(self.jobdir('q2')), 'cancelled')
        self.assertEqual(done['reason'], 'interrupted before it started')
        ends = [read_events(self.jobdir('q%d' % i))[-1]['t'] for i in (0, 1, 3)]
        self.assertEqual(ends, sorted(ends), 'one at a time, in order')
        self.assertEqual(self.result(self.cell(client, 'order')), ['[1, 2, 4]'])

    def test_follow_after_a_reconnect_loses_and_repeats_nothing(self):
        _, info = self.start()
        first = self.client(info)
        code = 'import time\nfor i in range(30):\n    print("line", i, flush=True)\n    time.sleep(0.03)'
        self.assertTrue(first.run('slow', self.jobdir('slow'), code)['ok'])
        got = first.follow('slow', stop=lambda text: 'line 5' in text)
        self.assertNotIn('"done"', got)
        first.close()  # the connection drops mid-cell
        second = self.client(info)
        rest = second.follow('slow', offset=len(got.encode('utf-8')))
        with open(os.path.join(self.jobdir('slow'), 'events.jsonl')) as f:
            self.assertEqual(got + rest, f.read(), 'the two parts are the log, once, in order')
        events = lines_of(got + rest)
        self.assertSeqOk(events)
        self.assertEqual(stream_text(events), ''.join('line %d\n' % i for i in range(30)))
        self.assertDone(events, 'completed')
        # Following a finished cell from its end gives nothing more, and ends.
        self.assertEqual(second.follow('slow', offset=len((got + rest).encode('utf-8'))), '')
        unknown = second.request('follow', job='nope', offset=0)
        self.assertFalse(unknown['ok'])
        self.assertIn('no job', unknown['error'])

    def test_ipython_semantics_inside_a_session(self):
        _, info = self.start()
        client = self.client(info)
        events = self.cell(client, 'print("a")\nq = 3\nq * 2')
        self.assertEqual((stream_text(events), self.result(events)), ('a\n', ['6']))
        self.assertEqual(self.result(self.cell(client, '_ + 1')), ['7'], '`_` is the last result')
        self.assertEqual(self.result(self.cell(client, 'q * 2;')), [], '`;` suppresses the result')
        shown = self.cell(client, 'display({"k": 1})\nclass H:\n    def _repr_html_(self):\n'
                          '        return "<b>h</b>"\ndisplay(H())')
        displays = of_type(shown, 'display')
        self.assertEqual(displays[0]['data']['text/plain'], "{'k': 1}")
        self.assertEqual(displays[1]['data']['text/html'], '<b>h</b>')
        self.cell(client, '\n\ndef g(n):\n    return 10 / n\n')  # count 5: g's code is from In[5]
        failed = self.cell(client, 'print("before")\ng(0)')  # count 6
        tb = strip_ansi('\n'.join(of_type(failed, 'error')[0]['traceback']))
        self.assertIn('Cell In[6], line 2', tb)
        self.assertIn('Cell In[5], line 4, in g()', tb)
        self.assertIn('---> 4     return 10 / n', tb)
        self.assertNotIn('_cb_session', tb)
        self.assertNotIn('_cb_runner', tb)
        syntax = self.cell(client, 'x = (')
        self.assertIn('Cell In[7]', strip_ansi('\n'.join(of_type(syntax, 'error')[0]['traceback'])))
        figure = self.cell(client, 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nNone')
        self.assertIn('image/png', of_type(figure, 'display')[0]['data'])
        self.assertEqual(self.cell(client, 'import os\nos.getcwd()')[-2]['data']['text/plain'],
                         repr(self.tmp), 'the session runs in spec.cwd')
        sub = self.cell(client, 'import subprocess\nsubprocess.run(["echo", "from a child"])\nNone')
        self.assertEqual(stream_text(sub), 'from a child\n', 'fd-level output is captured per cell')
        awaited = self.cell(client, 'import asyncio\nawait asyncio.sleep(0)\nq + 1')
        self.assertEqual(self.result(awaited), ['4'], 'top-level await')


class SessionSignals(SessionCase):
    def test_sigterm_near_the_deadline_ends_the_cell_with_the_time_limit(self):
        _, info = self.start(timeLimit=5, warnBefore=4)
        pid = info['endpoint']['pid']
        client = self.client(info)
        self.assertIsNotNone(client.request('status')['status']['deadline'])
        self.assertTrue(client.run('long', self.jobdir('long'),
                                   'import time\nwhile True:\n    time.sleep(0.05)')['ok'])
        notice = self.wait_log(self.jobdir('long'), lambda e: e['type'] == 'notice')
        self.assertTrue(notice, 'the running cell is warned before the deadline')
        self.assertRegex(notice[0]['text'],
                         r"^The session's allocation ends in \d+ s \(time limit 00:00:05\)$")
        os.kill(pid, signal.SIGTERM)  # what the scheduler does at the time limit
        self.assertTrue(wait_for(lambda: not pid_exists(pid), 15), 'the session ended')
        events = read_events(self.jobdir('long'))
        done = self.assertDone(events, 'timeout')
        self.assertEqual(done['reason'], 'the scheduler ended the session at its time limit (00:00:05)')
        error = of_type(events, 'error')[-1]
        self.assertEqual(error['ename'], 'TimeLimitExceeded')
        self.assertIn('00:00:05', error['evalue'])
        ended = of_type(self.session_log(), 'ended')
        self.assertEqual([e['reason'] for e in ended], ['time limit (00:00:05)'])
        self.assertEqual(self.info()['status']['state'], 'ended')

    def test_sigterm_without_a_deadline(self):
        _, info = self.start()
        pid = info['endpoint']['pid']
        client = self.client(info)
        self.assertTrue(client.run('long', self.jobdir('long'),
                                   'import time\nwhile True:\n    time.sleep(0.05)')['ok'])
        self.wait_log(self.jobdir('long'), lambda e: e.get('phase') == 'running')
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: not pid_exists(pid), 15))
        events = read_events(self.jobdir('long'))
        done = self.assertDone(events, 'cancelled')
        self.assertEqual(done['reason'], 'the session was terminated (SIGTERM)')
        self.assertEqual(of_type(events, 'error')[-1]['ename'], 'SessionTerminated')
        self.assertEqual(of_type(self.session_log(), 'ended')[0]['reason'], 'terminated (SIGTERM)')


if __name__ == '__main__':
    unittest.main()
