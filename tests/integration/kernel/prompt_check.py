"""Runs one cell on an SSH cluster through the kernel with allow_stdin, answering
its input_requests (host key confirmation, key passphrase) like a user would.
Prints what it saw as JSON. Usage: prompt_check.py CLUSTER PASSPHRASE"""
import json
import queue
import sys
import time

from jupyter_client.manager import start_new_kernel

cluster, passphrase = sys.argv[1], sys.argv[2]
km, kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)
report = {'prompts': [], 'iopub': []}
try:
    msg_id = kc.execute('%%cluster {}\nimport getpass\nprint("via ssh as", getpass.getuser())'.format(cluster),
                        allow_stdin=True)
    deadline = time.time() + 180
    reply = None
    idle = False
    while time.time() < deadline and (reply is None or not idle):
        try:
            req = kc.get_stdin_msg(timeout=0.05)
            prompt = req['content']['prompt']
            answer = passphrase if 'assphrase' in prompt else 'yes'
            report['prompts'].append({'prompt': prompt, 'password': req['content']['password'],
                                      'parent': req['parent_header'].get('msg_id') == msg_id})
            kc.input(answer)
        except queue.Empty:
            pass
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
            if msg['parent_header'].get('msg_id') == msg_id:
                report['iopub'].append({'type': msg['msg_type'], 'content': msg['content']})
                if msg['msg_type'] == 'status' and msg['content']['execution_state'] == 'idle':
                    idle = True
        except queue.Empty:
            pass
        try:
            r = kc.get_shell_msg(timeout=0.05)
            if r['parent_header'].get('msg_id') == msg_id:
                reply = r['content']
        except queue.Empty:
            pass
    report['reply'] = reply
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=False)
json.dump(report, sys.stdout)
