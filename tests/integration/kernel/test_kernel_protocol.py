"""jupyter_kernel_test (Debian python3-jupyter-kernel-test) against the installed
`cluster-bridge` kernelspec, with the samples one would give a Python kernel: the
standard set plus display, error, completion and history samples. Plain code runs
on the default cluster, the built-in `local`, through the real job pipeline (agent,
VENV1/VENV2, runner), and must produce exactly the outputs the code produced, as
ipykernel would: no status line among them (the live status goes over the
`cluster_bridge` comm; see StatusLine in src/bridge/jobs/status.ts).

Not covered, because the bridge does not do them: the pager (`code_page_something`,
no `?` help payload) and `clear_output` (the event log has no clear event).

Run by tests/integration/kernel/protocol.test.ts with JUPYTER_PATH pointing at a
temporary kernelspec; by hand: JUPYTER_PATH=... /usr/bin/python3 -m unittest -v THIS_FILE
"""
import unittest

import jupyter_kernel_test as jkt

# The first cell on a fresh machine builds the environments; give it room.
jkt.TIMEOUT = 120


class ClusterBridgeKernelTests(jkt.KernelTests):
    kernel_name = 'cluster-bridge'
    language_name = 'python'
    file_extension = '.py'

    code_hello_world = 'print("hello, world")'
    code_stderr = 'import sys; print("test", file=sys.stderr)'

    completion_samples = [
        {'text': '%%cluster --me', 'matches': {'--mem'}},
        {'text': '%%cluster --scheduler s', 'matches': {'slurm', 'sge'}},
        {'text': '%cluster li', 'matches': {'list'}},
        {'text': '%cluster use lo', 'matches': {'local'}},
    ]
    # The cases a Python kernel's test would give (IPython's check_complete agrees),
    # plus the magics.
    complete_code_samples = [
        '1',
        'print("hello, world")',
        'def f(x):\n  return x*2\n\n\n',
        'x = [1,\n 2]',
        'x = {"a": 1,\n     "b": 2}',
        '%cluster list',
        '%%cluster local\nprint(1)\n\n',
    ]
    incomplete_code_samples = [
        'print("""hello',
        'def f(x):\n  x += 1',
        'for i in range(3):',
        'print((1,',
        '%%cluster local\nprint(1)',
    ]
    invalid_code_samples = ['import = 7', ')', 'x = [1, 2)']

    # An ordinary Python error: the error message is the cell's only output.
    code_generate_error = 'raise ValueError("boom")'

    code_execute_result = [
        {'code': '1+2+3', 'result': '6'},
        {'code': '6 * 7', 'result': '42'},
        {'code': '%%cluster local\n"a" + "b"', 'result': "'ab'"},
    ]
    # Every display_data of a sample must carry the sample's mime: a status line
    # among the outputs (it has no text/html) fails this.
    code_display_data = [
        {'code': 'display({"text/html": "<b>hi</b>", "text/plain": "hi"}, raw=True)',
         'mime': 'text/html'},
        {'code': 'class H:\n    def _repr_html_(self):\n        return "<b>test</b>"\ndisplay(H())',
         'mime': 'text/html'},
        {'code': 'display({"text/plain": "plain"}, raw=True)', 'mime': 'text/plain'},
        {'code': '%cluster list', 'mime': 'text/plain'},
    ]

    code_history_pattern = '6 * 7'
    supported_history_operations = ('tail', 'range', 'search')

    code_inspect_sample = '%%cluster --gpus'

    def test_error_of_a_cluster_magic(self):
        # A magic error is likewise one error output and starts no job.
        self.flush_channels()
        reply, outputs = self.execute_helper('%%cluster nowhere\nprint(1)')
        self.assertEqual(reply['content']['status'], 'error')
        self.assertEqual([m['msg_type'] for m in outputs], ['error'])

    def test_outputs_are_only_the_cells_own(self):
        # stdout then an execute_result: nothing before, between or after.
        self.flush_channels()
        reply, outputs = self.execute_helper('print("a")\n2 + 2')
        self.assertEqual(reply['content']['status'], 'ok')
        self.assertEqual([m['msg_type'] for m in outputs], ['stream', 'execute_result'])
        self.assertEqual(outputs[0]['content']['text'], 'a\n')
        self.assertEqual(outputs[1]['content']['data']['text/plain'], '4')


if __name__ == '__main__':
    unittest.main()
