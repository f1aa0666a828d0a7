"""jupyter_kernel_test (Debian python3-jupyter-kernel-test) against the installed
`cluster-bridge` kernelspec. Plain code runs on the default cluster, the built-in
`local`, through the real job pipeline (agent, VENV1/VENV2, runner).

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
    code_stderr = 'import sys; print("to stderr", file=sys.stderr)'

    completion_samples = [
        {'text': '%%cluster --gp', 'matches': {'--gpus'}},
        {'text': '%%cluster --scheduler s', 'matches': {'slurm', 'sge'}},
        {'text': '%cluster li', 'matches': {'list'}},
        {'text': '%cluster use lo', 'matches': {'local'}},
    ]
    complete_code_samples = ['print(1)', '%cluster list', '%%cluster local\nprint(1)\n\n']
    incomplete_code_samples = ['for i in range(3):', 'print((1,', '%%cluster local\nprint(1)']
    invalid_code_samples = [')', 'x = [1, 2)']

    # The only output must be the error: a magic error starts no job (no status line).
    code_generate_error = '%%cluster nowhere\nprint(1)'

    code_execute_result = [
        {'code': '6 * 7', 'result': '42'},
        {'code': '%%cluster local\n"a" + "b"', 'result': "'ab'"},
    ]
    # Every display_data of a sample must hold the mime; remote cells also show the
    # live status line (a display with text/plain), so remote samples check text/plain.
    # The HTML itself is checked in client.test.ts.
    code_display_data = [
        {'code': 'display({"text/html": "<b>hi</b>", "text/plain": "hi"}, raw=True)',
         'mime': 'text/plain'},
        {'code': '%cluster list', 'mime': 'text/plain'},
    ]

    code_inspect_sample = '%%cluster --gpus'


if __name__ == '__main__':
    unittest.main()
