"""Drives the cluster-bridge kernel through jupyter_client (BlockingKernelClient)
and prints what it saw as one JSON object; client.test.ts asserts on it.
Needs JUPYTER_PATH with the kernelspec (see helpers.ts)."""
import json
import re
import sys
import time
import uuid

from jupyter_client.manager import start_new_kernel

TIMEOUT = 120


def collect(kc, msg_id, until_idle=True, timeout=TIMEOUT, pushes=None):
    """iopub messages of one request, up to its idle status; comm data seen meanwhile
    goes to `pushes`."""
    out = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg['msg_type'] == 'comm_msg' and pushes is not None:
            pushes.append(msg['content']['data'])
        if msg['parent_header'].get('msg_id') != msg_id:
            continue
        out.append({'type': msg['msg_type'], 'content': msg['content']})
        if until_idle and msg['msg_type'] == 'status' and msg['content']['execution_state'] == 'idle':
            break
    return out


def shell_reply(kc, msg_id, timeout=TIMEOUT):
    while True:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply['parent_header'].get('msg_id') == msg_id:
            return reply


def main():
    report = {}
    km, kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)
    try:
        info = kc.kernel_info(reply=True, timeout=30)['content']
        report['kernel_info'] = info

        # A remote cell with every kind of output.
        code = ('%%cluster local\n'
                'from IPython.display import HTML, display\n'
                'print("out")\n'
                'display(HTML("<b>bold</b>"))\n'
                '40 + 2\n')
        # With a frontend's comm open, the live status goes there, not into the outputs.
        comm_id = uuid.uuid4().hex
        kc.shell_channel.send(kc.session.msg(
            'comm_open', {'comm_id': comm_id, 'target_name': 'cluster_bridge', 'data': {}}))
        msg_id = kc.execute(code)
        pushes = []
        report['rich'] = {'iopub': collect(kc, msg_id, pushes=pushes),
                          'reply': shell_reply(kc, msg_id)['content'],
                          'msg_id': msg_id,
                          'cellStatus': [p for p in pushes if p.get('event') == 'cellStatus']}
        kc.shell_channel.send(kc.session.msg('comm_close', {'comm_id': comm_id, 'data': {}}))

        # Concurrency: a slow remote cell, then a line magic and a heartbeat while it runs.
        slow = kc.execute('%%cluster local\nimport time\ntime.sleep(3)\nprint("slow done")')
        fast = kc.execute('%cluster list')
        order = []
        alive_during = kc.is_alive()
        ci = kc.comm_info(target_name='cluster_bridge')
        comm_info = None
        names = {slow: 'slow', fast: 'fast', ci: 'comm_info'}
        while len(order) < 3:
            r = kc.get_shell_msg(timeout=TIMEOUT)
            pid = r['parent_header'].get('msg_id')
            if pid in names:
                order.append(names[pid])
            if pid == ci:
                comm_info = r['content']
        report['concurrency'] = {'order': order, 'alive': alive_during, 'comm_info': comm_info}

        # Interrupt a sleeping remote cell.
        sleeper = kc.execute('%%cluster local\nimport time\nprint("sleeping", flush=True)\ntime.sleep(120)\nprint("woke")')
        seen = []
        while True:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
            if msg['parent_header'].get('msg_id') != sleeper:
                continue
            seen.append({'type': msg['msg_type'], 'content': msg['content']})
            if msg['msg_type'] == 'stream' and 'sleeping' in msg['content']['text']:
                break
        t0 = time.time()
        km.interrupt_kernel()
        reply = shell_reply(kc, sleeper)
        seen += collect(kc, sleeper)
        report['interrupt'] = {'reply': reply['content'], 'iopub': seen,
                               'seconds': time.time() - t0}

        # A detached job: the cell returns at once; the job outlives the kernel.
        det = kc.execute('%%cluster local --detach\nimport time\ntime.sleep(4)\nprint("detached done")')
        report['detach'] = {'iopub': collect(kc, det), 'reply': shell_reply(kc, det)['content']}

        # Clean shutdown: the kernel exits by itself after shutdown_reply.
        t0 = time.time()
        kc.shutdown()
        shutdown_reply = None
        while shutdown_reply is None:
            r = kc.get_control_msg(timeout=30)
            if r['msg_type'] == 'shutdown_reply':
                shutdown_reply = r['content']
        exited = False
        while time.time() - t0 < 15:
            if not km.is_alive():
                exited = True
                break
            time.sleep(0.05)
        report['shutdown'] = {'reply': shutdown_reply, 'exited_by_itself': exited,
                              'seconds': time.time() - t0}
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        km.cleanup_resources()

    # A second kernel reattaches to the detached job.
    km, kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)
    try:
        job_id = None
        for m in report['detach']['iopub']:
            found = re.match(r'Job (\S+) submitted', m['content'].get('text', ''))
            if found:
                job_id = found.group(1)
        report['detach']['jobId'] = job_id
        jobs = kc.execute('%cluster jobs')
        report['reattach_jobs'] = collect(kc, jobs)
        att = kc.execute('%cluster attach ' + str(job_id))
        report['reattach'] = {'iopub': collect(kc, att), 'reply': shell_reply(kc, att)['content']}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    json.dump(report, sys.stdout)


if __name__ == '__main__':
    main()
