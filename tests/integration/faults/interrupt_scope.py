"""Two notebooks and two browser tabs share one Cluster Bridge kernel (jupyter_client): a
scoped interrupt from tab 1 naming notebook a.ipynb stops only tab 1's a.ipynb cell, never
tab 1's b.ipynb cell nor tab 2's a.ipynb cell. Prints one JSON object for
interruptScope.test.ts. Needs JUPYTER_PATH with the kernelspec (tests/integration/kernel/helpers.ts)."""
import json
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

TIMEOUT = 120


def send_cell(kc, code, notebook, cell_id):
    msg = kc.session.msg('execute_request', {
        'code': code, 'silent': False, 'store_history': True, 'user_expressions': {},
        'allow_stdin': False, 'stop_on_error': True})
    msg['metadata'] = {'cluster_bridge_notebook': notebook, 'cellId': cell_id}
    kc.shell_channel.send(msg)
    return msg['header']['msg_id']


def cell(name, seconds):
    # --fresh: one-off processes that run side by side (cells of one notebook's session queue).
    return ('%%%%cluster local --fresh\nimport time\nprint("%s start", flush=True)\ntime.sleep(%d)\n'
            'print("%s done")\n' % (name, seconds, name))


def main():
    km, kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)
    # A second tab: its own session id (message header `session`, socket identity).
    kc2 = km.client(session=Session(key=km.session.key,
                                    signature_scheme=km.session.signature_scheme))
    kc2.start_channels()
    kc2.wait_for_ready(timeout=60)
    report = {'replies': {}, 'ended': [], 'stdout': {}}
    try:
        warm = kc.execute('%%cluster local\n1')
        while kc.get_shell_msg(timeout=TIMEOUT)['parent_header'].get('msg_id') != warm:
            pass
        ids = {
            send_cell(kc, cell('A', 120), 'a.ipynb', 'a1'): 'A',   # tab 1, a.ipynb
            send_cell(kc, cell('B', 4), 'b.ipynb', 'b1'): 'B',     # tab 1, b.ipynb
            send_cell(kc2, cell('C', 4), 'a.ipynb', 'a1'): 'C',    # tab 2, a.ipynb
        }
        started = set()
        deadline = time.time() + TIMEOUT
        while len(started) < 3 and time.time() < deadline:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
            name = ids.get(msg['parent_header'].get('msg_id'))
            if name and msg['msg_type'] == 'stream':
                report['stdout'][name] = report['stdout'].get(name, '') + msg['content']['text']
                if '%s start' % name in msg['content']['text']:
                    started.add(name)
        interrupt = kc.session.msg('interrupt_request',
                                   {'cluster_bridge_notebook': 'a.ipynb', 'cell_ids': ['a1']})
        kc.control_channel.send(interrupt)
        report['interrupt_reply'] = kc.get_control_msg(timeout=30)['content']
        deadline = time.time() + TIMEOUT
        while len(report['ended']) < 3 and time.time() < deadline:
            for client in (kc, kc2):
                try:
                    reply = client.get_shell_msg(timeout=0.05)
                except queue.Empty:
                    continue
                name = ids.get(reply['parent_header'].get('msg_id'))
                if name:
                    report['ended'].append(name)
                    report['replies'][name] = reply['content']
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                break
            name = ids.get(msg['parent_header'].get('msg_id'))
            if name and msg['msg_type'] == 'stream' and msg['content']['name'] == 'stdout':
                report['stdout'][name] = report['stdout'].get(name, '') + msg['content']['text']
    finally:
        kc2.stop_channels()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    json.dump(report, sys.stdout)


if __name__ == '__main__':
    main()
