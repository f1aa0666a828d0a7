"""Drives the cluster-bridge kernel through jupyter_client for the session tests: one
scenario per run (argv[1]), its cluster (argv[2]), printing what it saw as one JSON object;
sessions.test.ts asserts on it. Needs JUPYTER_PATH with the kernelspec and, for ssh and
batch clusters, CLUSTER_BRIDGE_CONFIG (see sessions.test.ts)."""
import json
import os
import signal
import subprocess
import sys
import time

from jupyter_client.manager import start_new_kernel

TIMEOUT = 240
NOTEBOOK_KEY = 'cluster_bridge_notebook'


class Kernel:
    def __init__(self):
        self.km, self.kc = start_new_kernel(kernel_name='cluster-bridge', startup_timeout=60)

    def send(self, code, notebook=None):
        """Sends an execute request; returns its msg_id (does not wait)."""
        msg = self.kc.session.msg('execute_request', {
            'code': code, 'silent': False, 'store_history': True,
            'user_expressions': {}, 'allow_stdin': False, 'stop_on_error': False})
        if notebook is not None:
            msg['metadata'][NOTEBOOK_KEY] = notebook
        self.kc.shell_channel.send(msg)
        return msg['header']['msg_id']

    def wait(self, msg_ids, timeout=TIMEOUT):
        """iopub outputs and the reply of each request, in the order they completed."""
        pending = set(msg_ids)
        outs = {m: [] for m in msg_ids}
        replies = {}
        idle = set()
        done_order = []
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:
                msg = None
            if msg is not None:
                pid = msg['parent_header'].get('msg_id')
                if pid in outs and msg['msg_type'] not in ('status', 'execute_input'):
                    outs[pid].append({'type': msg['msg_type'], 'content': msg['content']})
                if pid in outs and msg['msg_type'] == 'status' and msg['content']['execution_state'] == 'idle':
                    idle.add(pid)
            while True:
                try:
                    reply = self.kc.get_shell_msg(timeout=0.01)
                except Exception:
                    break
                pid = reply['parent_header'].get('msg_id')
                if pid in outs:
                    replies[pid] = reply['content']
            # Done: its reply and its idle status, whichever came last.
            for pid in [m for m in msg_ids if m in pending and m in idle and m in replies]:
                pending.discard(pid)
                done_order.append(pid)
        return [self.summarize({'msg_id': m, 'outputs': outs[m], 'reply': replies.get(m)})
                for m in msg_ids], done_order

    def run(self, code, notebook=None, timeout=TIMEOUT):
        [result], _ = self.wait([self.send(code, notebook)], timeout)
        return result

    @staticmethod
    def summarize(result):
        result['stdout'] = ''.join(o['content']['text'] for o in result['outputs']
                                   if o['type'] == 'stream' and o['content']['name'] == 'stdout')
        result['stderr'] = ''.join(o['content']['text'] for o in result['outputs']
                                   if o['type'] == 'stream' and o['content']['name'] == 'stderr')
        errors = [o['content'] for o in result['outputs'] if o['type'] == 'error']
        result['error'] = errors[-1] if errors else None
        results = [o['content']['data'].get('text/plain') for o in result['outputs']
                   if o['type'] == 'execute_result']
        result['result'] = results[-1] if results else None
        tables = [o['content']['data'].get('text/plain') for o in result['outputs']
                  if o['type'] == 'display_data']
        result['displays'] = tables
        return result

    def restart(self):
        """Kills the kernel process and starts it again (same kernel id, as jupyter_server does)."""
        self.km.restart_kernel(now=True)
        self.kc.stop_channels()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def shutdown(self):
        try:
            self.km.shutdown_kernel(now=False)
        finally:
            self.kc.stop_channels()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purpose.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def state_dir_sessions():
    path = os.path.join(os.environ['CLUSTER_BRIDGE_STATE_DIR'], 'sessions.json')
    with open(path) as f:
        return json.load(f)


def scenario_basics(k, cluster):
    """State, error, interrupt, --fresh, conflicts, two notebooks, restart, stop."""
    head = '%%cluster ' + cluster + '\n'
    r = {}
    r['set'] = k.run(head + 'x = 41\nimport os\nos.getpid()')
    r['get'] = k.run(head + 'print(x + 1)\nos.getpid()')
    r['error'] = k.run(head + 'x += 1\n1 / 0')
    r['after_error'] = k.run(head + 'x')
    # Interrupt a running cell: KeyboardInterrupt, namespace kept.
    sleeper = k.send(head + 'import time\nprint("sleeping", flush=True)\nfor _ in range(1200):\n    time.sleep(0.1)\n')
    t0 = time.time()
    while time.time() - t0 < 60:
        msg = k.kc.get_iopub_msg(timeout=60)
        if (msg['parent_header'].get('msg_id') == sleeper and msg['msg_type'] == 'stream'
                and 'sleeping' in msg['content']['text']):
            break
    k.km.interrupt_kernel()
    [interrupted], _ = k.wait([sleeper])
    r['interrupt'] = interrupted
    r['after_interrupt'] = k.run(head + 'x')
    r['fresh'] = k.run('%%cluster ' + cluster + ' --fresh\nprint("x" in dir())\nimport os\nos.getpid()')
    r['conflict'] = k.run('%%cluster ' + cluster + ' --cpus 2\nx')
    r['other_notebook'] = k.run(head + 'print("x" in dir())\nimport os\nos.getpid()', notebook='other.ipynb')
    r['sessions'] = k.run('%cluster sessions')
    # A subprocess of the session must not outlive a restart.
    r['child'] = k.run(head + 'import subprocess\nchild = subprocess.Popen(["sleep", "1000"])\nchild.pid')
    child_pid = int(r['child']['result'])
    r['restart'] = k.run('%cluster restart ' + cluster)
    time.sleep(0.5)
    r['child_alive_after_restart'] = pid_alive(child_pid)
    r['after_restart'] = k.run(head + 'x')
    r['after_restart_pid'] = k.run(head + 'import os\nos.getpid()')
    r['stop'] = k.run('%cluster stop ' + cluster)
    r['stop_other'] = k.run('%cluster stop ' + cluster, notebook='other.ipynb')
    r['table'] = state_dir_sessions()
    time.sleep(0.5)
    r['alive_after_stop'] = [pid_alive(int(r['after_restart_pid']['result'])),
                             pid_alive(int(r['other_notebook']['result']))]
    return r


def scenario_queue(k, cluster):
    """Cells of one session run one at a time, in order; other notebooks and --fresh cells do not wait."""
    head = '%%cluster ' + cluster + '\n'
    k.run(head + 'order = []')
    ids = [k.send(head + 'import time\ntime.sleep(2)\norder.append("a")'),
           k.send(head + 'order.append("b")'),
           k.send(head + 'order.append("c")\nprint(order)'),
           k.send('%%cluster ' + cluster + ' --fresh\nprint("fresh ran")'),
           k.send(head + 'print("other notebook ran")', notebook='queue-other.ipynb')]
    results, done_order = k.wait(ids)
    return {'results': results, 'done_order': [ids.index(m) for m in done_order]}


def scenario_reattach(k, cluster):
    """The kernel process dies (SIGKILL) and comes back: the session and its namespace are there;
    a cell that was running meanwhile is attached with every line once."""
    head = '%%cluster ' + cluster + '\n'
    r = {'set': k.run(head + 'kept = "still here"')}
    running = k.send(head + 'import time\nfor i in range(40):\n    print("line", i, flush=True)\n    time.sleep(0.05)\n')
    time.sleep(0.8)
    k.restart()
    r['after_restart'] = k.run(head + 'print(kept)')
    jobs = k.run('%cluster jobs')
    r['jobs'] = jobs
    # The cell that ran while the kernel was gone: attach replays its log, every line once.
    table = '\n'.join(jobs['displays'])
    job_id = [line.split()[0] for line in table.splitlines() if line.endswith('import time')][0]
    r['attach'] = k.run('%cluster attach ' + job_id)
    r['running_msg_id'] = running
    return r


def scenario_shutdown(k, cluster):
    """Shutting the kernel down on purpose stops its sessions (no process left)."""
    head = '%%cluster ' + cluster + '\n'
    r = {'pid': k.run(head + 'import os\nos.getpid()')}
    k.shutdown()
    time.sleep(0.5)
    r['alive'] = pid_alive(int(r['pid']['result']))
    r['table'] = state_dir_sessions()
    return r


def scenario_idle(k, cluster):
    """A session with no cell for idleTimeout seconds ends by itself and frees its process."""
    head = '%%cluster ' + cluster + '\n'
    r = {'pid': k.run(head + 'import os\nos.getpid()')}
    deadline = time.time() + 60
    while time.time() < deadline and pid_alive(int(r['pid']['result'])):
        time.sleep(0.5)
    r['alive'] = pid_alive(int(r['pid']['result']))
    r['sessions'] = k.run('%cluster sessions')
    r['next'] = k.run(head + 'print("new session")')
    return r


def scenario_drop(k, cluster):
    """The sshd connection dies mid-cell: every line arrives once, the namespace stays."""
    head = '%%cluster ' + cluster + '\n'
    r = {'set': k.run(head + 'kept = 7')}
    msg_id = k.send(head + 'import time\nfor i in range(3000):\n    print("n", i, flush=True)\n    if i % 300 == 0: time.sleep(0.2)\n')
    time.sleep(1.5)
    # Kill the sshd processes serving the bridge's connections (the test user's sessions).
    subprocess.run(['pkill', '-KILL', '-f', os.environ['CB_SSHD_CHILD_PATTERN']], check=False)
    [result], _ = k.wait([msg_id])
    r['cell'] = result
    r['after'] = k.run(head + 'print(kept)')
    return r


def scenario_batch(k, cluster):
    """A session on a batch scheduler: one allocation, state across cells, time left, the
    time-limit end with a clear error, then a new session."""
    limit = os.environ.get('CB_SESSION_TIME', '00:01:00')
    head = '%%cluster ' + cluster + ' --time ' + limit + '\n'
    r = {}
    r['first'] = k.run(head + 'import os\nx = 1\nos.environ.get("SLURM_JOB_ID") or os.environ.get("JOB_ID")')
    r['second'] = k.run('%%cluster ' + cluster + '\nx += 1\nprint(x, os.environ.get("SLURM_JOB_ID") or os.environ.get("JOB_ID"))')
    r['sessions'] = k.run('%cluster sessions')
    r['over'] = k.run('%%cluster ' + cluster + '\nimport time\nfor i in range(600):\n    time.sleep(1)\n', timeout=400)
    r['next'] = k.run(head + 'print("x" in dir())', timeout=200)
    r['stop'] = k.run('%cluster stop ' + cluster)
    return r


def main():
    name, cluster = sys.argv[1], sys.argv[2]
    k = Kernel()
    try:
        report = globals()['scenario_' + name](k, cluster)
    finally:
        try:
            k.kc.stop_channels()
        except Exception:
            pass
        if k.km.is_alive():
            k.km.shutdown_kernel(now=True)
    json.dump(report, sys.stdout)


if __name__ == '__main__':
    main()
