"""The runner (VENV2 side): every kind of output a cell can produce, as events."""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import unittest

from rt_helpers import (PYTHON, RUNNER, TempDirCase, base_env, of_type, read_events, stream_text,
                        strip_ansi, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class RunnerOutputs(TempDirCase):
    def test_print_and_last_expression(self):
        code, events = self.run_runner('x = 20\nprint("hello")\nx + 22')
        self.assertEqual(code, 0, self.last_proc.stderr)
        self.assertEqual(stream_text(events), 'hello\n')
        results = of_type(events, 'result')
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0]['data'], {'text/plain': '42'})
        self.assertEqual(events[-1]['type'], 'result', 'output order: stream, then result')

    def test_none_and_semicolon_show_nothing(self):
        for src in ('None', 'print("a")', '1 + 1;', 'x = 3\nx  ;  # quiet'):
            code, events = self.run_runner(src)
            self.assertEqual(code, 0)
            self.assertEqual(of_type(events, 'result'), [], src)

    def test_every_repr_method(self):
        png = PNG_MAGIC + b'fakepng'
        src = '''
class Rich:
    def _repr_html_(self): return "<b>html</b>"
    def _repr_markdown_(self): return "**md**"
    def _repr_svg_(self): return "<svg></svg>"
    def _repr_png_(self): return %r
    def _repr_jpeg_(self): return b"\\xff\\xd8jpeg"
    def _repr_latex_(self): return "$x^2$"
    def _repr_json_(self): return {"a": [1, 2]}
    def __repr__(self): return "Rich()"
Rich()
''' % png
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, events)
        data = of_type(events, 'result')[0]['data']
        self.assertEqual(data['text/html'], '<b>html</b>')
        self.assertEqual(data['text/markdown'], '**md**')
        self.assertEqual(data['image/svg+xml'], '<svg></svg>')
        self.assertEqual(base64.b64decode(data['image/png']), png)
        self.assertEqual(base64.b64decode(data['image/jpeg']), b'\xff\xd8jpeg')
        self.assertEqual(data['text/latex'], '$x^2$')
        self.assertEqual(data['application/json'], {'a': [1, 2]})
        self.assertEqual(data['text/plain'], 'Rich()')

    def test_mimebundle_and_metadata(self):
        src = '''
class B:
    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": "<i>b</i>", "application/vnd.custom+json": {"k": 1}}, {"text/html": {"isolated": True}}
class M:
    def _repr_png_(self): return (b"\\x89PNG..", {"width": 10})
    def _repr_html_(self): raise RuntimeError("broken repr")
display(B())
M()
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0)
        disp = of_type(events, 'display')[0]
        self.assertEqual(disp['data']['text/html'], '<i>b</i>')
        self.assertEqual(disp['data']['application/vnd.custom+json'], {'k': 1})
        self.assertIn('text/plain', disp['data'])
        self.assertEqual(disp['metadata'], {'text/html': {'isolated': True}})
        res = of_type(events, 'result')[0]
        self.assertEqual(res['metadata'], {'image/png': {'width': 10}})
        self.assertNotIn('text/html', res['data'])
        self.assertIn('broken repr', stream_text(events, 'stderr'), 'a failing repr is reported')

    def test_display_with_id_and_update(self):
        src = '''
h = display("first", display_id=True)
h.update("second")
display({"x": 1}, display_id="fixed")
update_display = __import__("builtins").display
display("third", display_id="fixed", update=True)
display({"text/plain": "raw!"}, raw=True)
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, events)
        disp = of_type(events, 'display')
        self.assertEqual([d['data']['text/plain'] for d in disp],
                         ["'first'", "'second'", "{'x': 1}", "'third'", 'raw!'])
        self.assertEqual(disp[0]['displayId'], disp[1]['displayId'])
        self.assertNotIn('update', disp[0])
        self.assertTrue(disp[1]['update'])
        self.assertEqual(disp[2]['displayId'], 'fixed')
        self.assertTrue(disp[3]['update'])
        self.assertNotIn('displayId', disp[4])

    def test_ipython_display_works(self):
        try:
            subprocess.check_call([PYTHON, '-c', 'import IPython'], stderr=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            self.fail('IPython must be importable by %s (Debian python3-ipykernel)' % PYTHON)
        src = '''
from IPython.display import display, HTML, Markdown, update_display
import IPython.display as ipd
h = display(HTML("<p>hi</p>"), display_id=True)
h.update(Markdown("*bye*"))
ipd.display(ipd.Latex("$y$"))
update_display(HTML("<p>again</p>"), display_id=h.display_id)
HTML("<b>last</b>")
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, strip_ansi(json.dumps(events)))
        disp = of_type(events, 'display')
        self.assertEqual(disp[0]['data']['text/html'], '<p>hi</p>')
        self.assertEqual(disp[1]['data']['text/markdown'], '*bye*')
        self.assertTrue(disp[1]['update'])
        self.assertEqual(disp[1]['displayId'], disp[0]['displayId'])
        self.assertEqual(disp[2]['data']['text/latex'], '$y$')
        self.assertEqual(disp[3]['data']['text/html'], '<p>again</p>')
        self.assertTrue(disp[3]['update'])
        self.assertEqual(of_type(events, 'result')[0]['data']['text/html'], '<b>last</b>')
        self.assertEqual(stream_text(events), '', 'nothing printed instead of displayed')

    def test_matplotlib_show_and_end(self):
        src = '''
import matplotlib.pyplot as plt
plt.plot([1, 2, 3])
plt.show()
print("between")
fig = plt.figure()
plt.bar([1], [2])
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, events)
        disp = of_type(events, 'display')
        self.assertEqual(len(disp), 2, 'one figure on show, one still open at the end')
        for d in disp:
            self.assertTrue(base64.b64decode(d['data']['image/png']).startswith(PNG_MAGIC))
            self.assertIn('Figure', d['data']['text/plain'])
        kinds = [e['type'] for e in events if e['type'] in ('display', 'stream', 'result')]
        self.assertEqual(kinds[:2], ['display', 'stream'], 'show() emitted before the next print')

    def test_matplotlib_figure_as_value(self):
        code, events = self.run_runner(
            'import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nplt.close(fig)\nfig')
        self.assertEqual(code, 0)
        res = of_type(events, 'result')[0]
        self.assertTrue(base64.b64decode(res['data']['image/png']).startswith(PNG_MAGIC))

    def test_carriage_return_progress(self):
        src = '''
import sys, time
for i in range(0, 101, 20):
    sys.stdout.write("\\rprogress %3d%%" % i)
    sys.stdout.flush()
    time.sleep(0.06)
sys.stdout.write("\\n")
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0)
        text = stream_text(events)
        self.assertEqual(text, ''.join('\rprogress %3d%%' % i for i in range(0, 101, 20)) + '\n')
        self.assertGreater(len(of_type(events, 'stream')), 1, 'progress arrives while it runs')

    def test_stderr_and_order(self):
        code, events = self.run_runner(
            'import sys\nprint("out1")\nprint("err1", file=sys.stderr)\nprint("out2")')
        self.assertEqual(code, 0)
        streams = [(e['name'], e['text']) for e in of_type(events, 'stream')]
        self.assertEqual(streams, [('stdout', 'out1\n'), ('stderr', 'err1\n'), ('stdout', 'out2\n')])

    def test_subprocess_and_c_level_output(self):
        src = '''
import os, subprocess
os.system("echo from-shell")
subprocess.call(["sh", "-c", "echo to-stderr >&2"])
os.write(1, b"raw fd write\\n")
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0)
        self.assertIn('from-shell\n', stream_text(events))
        self.assertIn('raw fd write\n', stream_text(events))
        self.assertIn('to-stderr\n', stream_text(events, 'stderr'))

    def test_big_subprocess_output_complete_and_ordered(self):
        src = ('import os, subprocess\nprint("start")\nos.system("seq 1 300000")\nprint("end")\n'
               'for i in range(50):\n'
               '    subprocess.call(["echo", "sub%d" % i])\n'
               '    print("py%d" % i)\n')
        code, events = self.run_runner(src)
        self.assertEqual(code, 0)
        expected = ('start\n' + ''.join('%d\n' % i for i in range(1, 300001)) + 'end\n'
                    + ''.join('sub%d\npy%d\n' % (i, i) for i in range(50)))
        self.assertEqual(stream_text(events), expected)

    def test_forked_children_output(self):
        src = ('import multiprocessing as mp, os, sys\n'
               'def work(i):\n'
               '    print("worker", i)\n'
               '    return i * i\n'
               'with mp.get_context("fork").Pool(2) as pool:\n'
               '    squares = pool.map(work, range(4))\n'
               'pid = os.fork()\n'
               'if pid == 0:\n'
               '    print("child says hi")\n'
               '    display("child display")\n'
               '    sys.stdout.flush()\n'
               '    os._exit(0)\n'
               'os.waitpid(pid, 0)\n'
               'if os.fork() == 0:\n'
               '    print("second child exits through SystemExit")\n'
               '    sys.exit(0)\n'
               'os.wait()\n'
               'print("parent", squares)\n'
               'squares')
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, events)
        text = stream_text(events)
        for i in range(4):
            self.assertIn('worker %d\n' % i, text)
        self.assertIn('child says hi\n', text)
        self.assertIn("'child display'\n", text)
        self.assertIn('second child exits through SystemExit\n', text)
        self.assertTrue(text.endswith('parent [0, 1, 4, 9]\n'), text)
        self.assertEqual(len(of_type(events, 'result')), 1, 'only the runner reports a result')
        self.assertSeqOk(events)

    def test_non_utf8_never_crashes(self):
        src = '''
import os, sys
sys.stdout.buffer.write(b"bin:\\xff\\xfe:end\\n")
os.write(1, b"fd:\\x80\\x81:end\\n")
os.system("printf 'sh:\\\\351t\\\\351:end\\\\n'")
print("surrogate:\\udcff:end")
"caf\\u00e9 \\u2603"
'''
        code, events = self.run_runner(src)
        self.assertEqual(code, 0, self.last_proc.stderr)
        text = stream_text(events)
        self.assertIn('bin:\ufffd\ufffd:end', text)
        self.assertIn('fd:\ufffd\ufffd:end', text)
        self.assertIn('sh:\ufffdt\ufffd:end', text)
        self.assertIn(':end', text.split('surrogate:')[1])
        self.assertEqual(of_type(events, 'result')[0]['data']['text/plain'], "'caf\u00e9 \u2603'")

    def test_split_utf8_sequence_across_writes(self):
        src = 'import sys\nb = "\u00e9\u2603".encode()\nfor i in range(len(b)):\n    sys.stdout.buffer.write(b[i:i+1])\n'
        code, events = self.run_runner(src)
        self.assertEqual(stream_text(events), '\u00e9\u2603')


class RunnerErrors(TempDirCase):
    def test_traceback_points_at_cell_lines(self):
        src = 'a = 1\n\ndef f(x):\n    return x / 0\n\nf(a)\n'
        code, events = self.run_runner(src, lineOffset=1)
        self.assertEqual(code, 1)
        err = of_type(events, 'error')[0]
        self.assertEqual(err['ename'], 'ZeroDivisionError')
        self.assertEqual(err['evalue'], 'division by zero')
        tb = strip_ansi('\n'.join(err['traceback']))
        # Cell lines 6 and 4 are lines 7 and 5 of the notebook cell (the magic is line 1).
        self.assertIn('Cell, line 7', tb)
        self.assertIn('---> 7 f(a)', tb)
        self.assertIn('line 5, in f()', tb)
        self.assertIn('---> 5     return x / 0', tb)
        self.assertNotIn('_cb_runner', tb)
        self.assertNotIn('runner.py', tb)
        self.assertTrue(tb.rstrip().endswith('ZeroDivisionError: division by zero'), tb)

    def test_execution_count_label_and_library_frames(self):
        src = 'import json\njson.loads("{bad")'
        code, events = self.run_runner(src, lineOffset=0, executionCount=12)
        err = of_type(events, 'error')[0]
        tb = strip_ansi('\n'.join(err['traceback']))
        self.assertIn('Cell In[12], line 2', tb)
        self.assertRegex(tb, r'File .*json/__init__\.py:\d+, in loads\(\)')
        self.assertEqual(err['ename'], 'JSONDecodeError')

    def test_syntax_error_line(self):
        code, events = self.run_runner('x = 1\ny = (2 +\n', lineOffset=1)
        self.assertEqual(code, 1)
        err = of_type(events, 'error')[0]
        self.assertEqual(err['ename'], 'SyntaxError')
        tb = strip_ansi('\n'.join(err['traceback']))
        self.assertIn('Cell, line 3', tb)

    def test_chained_exceptions(self):
        src = 'try:\n    {}["k"]\nexcept KeyError as e:\n    raise ValueError("bad") from e\n'
        code, events = self.run_runner(src, lineOffset=0)
        tb = strip_ansi('\n'.join(of_type(events, 'error')[0]['traceback']))
        self.assertIn('KeyError', tb)
        self.assertIn('direct cause', tb)
        self.assertLess(tb.index('KeyError'), tb.index('ValueError: bad'))

    def test_output_before_error_is_kept(self):
        code, events = self.run_runner('print("before")\nraise RuntimeError("boom")')
        self.assertEqual(stream_text(events), 'before\n')
        self.assertEqual(events[-1]['type'], 'error')

    def test_system_exit(self):
        code, events = self.run_runner('print("x")\nimport sys\nsys.exit(0)\nprint("never")')
        self.assertEqual(code, 0)
        self.assertEqual(of_type(events, 'error'), [])
        self.assertEqual(stream_text(events), 'x\n')
        code, events = self.run_runner('raise SystemExit(3)')
        self.assertEqual(code, 3)
        self.assertEqual(of_type(events, 'error')[0]['ename'], 'SystemExit')

    def test_keyboard_interrupt_on_sigint(self):
        jobdir = self.make_job('import time\nprint("sleeping", flush=True)\ntime.sleep(60)')
        proc = subprocess.Popen([PYTHON, '-u', RUNNER, jobdir], env=base_env())
        try:
            wait_for(lambda: 'sleeping' in stream_text(read_events(jobdir)), 30)
            proc.send_signal(signal.SIGINT)
            self.assertEqual(proc.wait(30), 130)
        finally:
            proc.kill()
        events = read_events(jobdir)
        err = of_type(events, 'error')[0]
        self.assertEqual(err['ename'], 'KeyboardInterrupt')
        self.assertIn('time.sleep(60)', strip_ansi('\n'.join(err['traceback'])))

    def test_top_level_await(self):
        code, events = self.run_runner('import asyncio\nawait asyncio.sleep(0.01)\n"awaited"')
        self.assertEqual(code, 0, events)
        self.assertEqual(of_type(events, 'result')[0]['data']['text/plain'], "'awaited'")


class RunnerVolume(TempDirCase):
    def test_million_lines_complete(self):
        n = 1000000
        code, events = self.run_runner('for i in range(%d):\n    print(i)' % n, timeout=300)
        self.assertEqual(code, 0)
        text = stream_text(events)
        self.assertEqual(text, ''.join('%d\n' % i for i in range(n)))
        self.assertEqual(of_type(events, 'notice'), [], 'nothing throttled')
        streams = of_type(events, 'stream')
        self.assertLess(len(streams), n / 100, 'stream chunks are coalesced, not one event per line')
        sys.stderr.write('\n[runner] 1e6 lines (%d bytes) in %.2f s, %d stream events\n' % (
            len(text), self.last_elapsed, len(streams)))

    def test_huge_output_throttled_with_notice(self):
        env = {'CB_OUTPUT_BURST': '200000', 'CB_OUTPUT_RATE': '100000'}
        src = 'line = "x" * 99\nfor i in range(50000):\n    print(line)\nprint("tail")'
        code, events = self.run_runner(src, env=env)
        self.assertEqual(code, 0)
        text = stream_text(events)
        total = 50000 * 100 + 5
        self.assertLess(len(text), total)
        notices = [e['text'] for e in of_type(events, 'notice')]
        self.assertTrue(notices, 'a visible notice')
        self.assertIn('dropping output', notices[0])
        kinds = [e['type'] for e in events]
        self.assertEqual(kinds[0], 'stream', 'the burst passes before the first notice')
        self.assertIn('in total', notices[-1])
        with open(os.path.join(self.jobdir(), 'dropped-output.txt')) as f:
            dropped = f.read()
        self.assertEqual(len(text) + len(dropped), total, 'every byte passed or saved')
        self.assertTrue(text.startswith('x' * 99 + '\n'))

    def test_display_flood_throttled(self):
        env = {'CB_OUTPUT_BURST': '20000', 'CB_OUTPUT_RATE': '1000'}
        code, events = self.run_runner('for i in range(2000):\n    display("item %d" % i)', env=env)
        self.assertEqual(code, 0)
        shown = len(of_type(events, 'display'))
        self.assertLess(shown, 2000)
        self.assertIn('displays', of_type(events, 'notice')[-1]['text'])

    def test_seq_continues_after_agent_events(self):
        jobdir = self.make_job('print(1)')
        with open(os.path.join(jobdir, 'events.jsonl'), 'w') as f:
            for seq in range(5):
                f.write(json.dumps({'seq': seq, 't': 1.0, 'type': 'env', 'text': 'x'}) + '\n')
        subprocess.check_call([PYTHON, '-u', RUNNER, jobdir], env=base_env())
        events = read_events(jobdir)
        self.assertEqual([e['seq'] for e in events], list(range(len(events))))
        self.assertGreater(len(events), 5)


class RunnerGpu(TempDirCase):
    def test_no_gpu_no_event(self):
        code, events = self.run_runner('1')
        self.assertEqual(of_type(events, 'gpu'), [])

    def test_cuda_visible_devices_only(self):
        code, events = self.run_runner('1', env={'CUDA_VISIBLE_DEVICES': '0'})
        gpu = of_type(events, 'gpu')[0]
        self.assertEqual(gpu['cudaVisibleDevices'], '0')
        self.assertEqual(gpu['source'], 'env')
        self.assertEqual(gpu['devices'], [{'index': 0, 'name': 'GPU 0'}])
        self.assertTrue(gpu['host'])

    def test_nvidia_smi_facts_filtered_by_visible_devices(self):
        path = os.path.join(HERE, 'fixtures', 'bin') + ':/usr/bin:/bin'
        code, events = self.run_runner('import time\ntime.sleep(0.8)',
                                       env={'PATH': path, 'CUDA_VISIBLE_DEVICES': '0'})
        gpu = of_type(events, 'gpu')[0]
        self.assertEqual(gpu['source'], 'nvidia-smi')
        self.assertEqual(len(gpu['devices']), 1)
        dev = gpu['devices'][0]
        self.assertEqual(dev['name'], 'NVIDIA H100 80GB HBM3')
        self.assertEqual(dev['memoryTotal'], 81559 << 20)
        self.assertGreaterEqual(dev['memoryPeak'], dev['memoryUsed'])
        self.assertGreater(dev['memoryPeak'], 1024 << 20, 'peak seen by sampling during the run')

    def torch_cell(self, code, **env):
        fake = os.path.join(HERE, 'fixtures', 'fake-torch')
        return self.run_runner('import sys\nsys.path.insert(0, %r)\nimport torch\n%s' % (fake, code),
                               env=env)

    def test_torch_facts_once_cuda_is_in_use(self):
        code, events = self.torch_cell('torch.cuda.init()', CUDA_VISIBLE_DEVICES='3')
        self.assertEqual(code, 0, self.last_proc.stderr)
        gpu = of_type(events, 'gpu')
        self.assertEqual(len(gpu), 1)
        self.assertEqual(gpu[0]['source'], 'torch')
        self.assertEqual(gpu[0]['cudaVisibleDevices'], '3')
        self.assertEqual(gpu[0]['devices'], [{
            'index': 0, 'name': 'NVIDIA H100 80GB HBM3', 'memoryTotal': 80 << 30,
            'memoryUsed': 3 << 30, 'memoryPeak': 5 << 30}])

    def test_torch_without_cuda_shows_no_card(self):
        # torch imported on a CPU-only node (or CUDA never touched): nothing GPU to report.
        for env in ({'FAKE_TORCH_CUDA': '0'}, {}):
            code, events = self.torch_cell('x = 1', **env)
            self.assertEqual(code, 0, self.last_proc.stderr)
            self.assertEqual(of_type(events, 'gpu'), [], env)


class Flag(unittest.TestCase):
    """_Flag: the runner's threading.Event on _thread locks (threading costs a trivial cell ~1 ms)."""

    def setUp(self):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'src', 'runtime'))
        import _cb_runner
        self.flag = _cb_runner._Flag()
        self.thread = __import__('_thread')

    def test_set_clear_wait(self):
        flag = self.flag
        self.assertFalse(flag.is_set())
        self.assertFalse(flag.wait(0.01))
        self.assertFalse(flag.wait(0))
        flag.set()
        flag.set()  # twice is once
        self.assertTrue(flag.is_set())
        self.assertTrue(flag.wait())
        self.assertTrue(flag.wait(0), 'wait() does not consume the flag')
        flag.clear()
        flag.clear()
        self.assertFalse(flag.is_set())
        self.assertFalse(flag.wait(0.01))

    def test_set_wakes_every_waiter(self):
        flag = self.flag
        woke = []
        lock = self.thread.allocate_lock()

        def waiter():
            got = flag.wait(10)
            with lock:
                woke.append(got)
        for _ in range(3):
            self.thread.start_new_thread(waiter, ())
        time.sleep(0.05)
        self.assertEqual(woke, [])
        flag.set()
        self.assertTrue(wait_for(lambda: len(woke) == 3, 10))
        self.assertEqual(woke, [True, True, True])


if __name__ == '__main__':
    unittest.main()
