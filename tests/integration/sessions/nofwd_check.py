"""Drives the cluster-bridge kernel through a session on a host whose sshd forbids TCP
forwarding (noForwarding.test.ts): state across cells, the relay's notice once, interrupt,
stop, and the relay processes around each step (found in /proc by the work dir in their
command line). argv: CLUSTER WORKDIR_MARK. Prints one JSON object."""
import json
import os
import sys
import time

from session_check import Kernel, pid_alive


def relays(mark):
    """Pids of the agent's `relay` processes whose command line names this test's work dir."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                words = f.read().decode('utf8', 'replace').split('\0')
        except OSError:
            continue
        if 'relay' in words and any(mark in w and w.endswith('agent.py') for w in words):
            found.append(int(entry))
    return found


def gone_within(check, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline and check():
        time.sleep(0.1)
    return not check()


def main():
    cluster, mark = sys.argv[1], sys.argv[2]
    head = '%%cluster ' + cluster + '\n'
    k = Kernel()
    r = {}
    try:
        run_scenario(k, cluster, mark, head, r)
    finally:
        try:
            k.kc.stop_channels()
        except Exception:
            pass
        if k.km.is_alive():
            k.km.shutdown_kernel(now=True)
    json.dump(r, sys.stdout)


def run_scenario(k, cluster, mark, head, r):
    """Fills r step by step, so a failed step still leaves what came before."""
    r['set'] = k.run(head + 'x = 41\nimport os\nos.getpid()')
    if r['set']['reply'] is None or r['set']['reply']['status'] != 'ok':
        return  # the session did not start: the test shows this cell's error
    r['relays_running'] = relays(mark)
    r['where'] = k.run(head + 'os.environ.get("SLURM_JOB_ID") or os.environ.get("JOB_ID")')
    r['get'] = k.run(head + 'print(x + 1)\nos.getpid()')
    r['relays_after_get'] = relays(mark)
    sleeper = k.send(head + 'import time\nprint("sleeping", flush=True)\nfor _ in range(1200):\n    time.sleep(0.1)\n')
    deadline = time.time() + 60
    while time.time() < deadline:
        msg = k.kc.get_iopub_msg(timeout=60)
        if (msg['parent_header'].get('msg_id') == sleeper and msg['msg_type'] == 'stream'
                and 'sleeping' in msg['content']['text']):
            break
    k.km.interrupt_kernel()
    [r['interrupt']], _ = k.wait([sleeper])
    r['after_interrupt'] = k.run(head + 'x')
    r['stop'] = k.run('%cluster stop ' + cluster)
    pid = int(r['set']['result'])
    r['session_gone'] = gone_within(lambda: pid_alive(pid))
    r['relays_gone'] = gone_within(lambda: relays(mark))
    r['relays_after_stop'] = relays(mark)


if __name__ == '__main__':
    main()
