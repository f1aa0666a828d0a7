"""Measures a session on this machine (not a test: numbers, no assertions).

    python3 tests/runtime/tools/measure_session.py [--json OUT] [--n 30]

1. session-start to `ready` with VENV2 ready (exec of VENV2's python, and in-process when the
   agent runs on VENV2's python);
2. a warm session cell `x += 1` from a local client over 127.0.0.1: `run` + `follow` sent
   together, until `followed` (median of n), beside a warm one-off `agent.py go` of the same cell
   in the same run (interleaved, so load affects both alike);
3. the idle session's resident memory (VmRSS) after those cells.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), 'src', 'runtime')
AGENT = os.path.join(RUNTIME, 'agent.py')
PY = os.environ.get('CB_MEASURE_PYTHON') or ('/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable)


def agent(python, env, *args, data=None):
    return subprocess.run([python, '-u', AGENT] + list(args), input=data, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)


class Client(object):
    def __init__(self, endpoint, token):
        self.sock = socket.create_connection((endpoint['host'], endpoint['port']))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile('rb')
        self.sock.sendall((json.dumps({'op': 'hello', 'token': token}) + '\n').encode())
        assert json.loads(self.file.readline())['ok']
        self.n = 0

    def cell(self, work, code):
        self.n += 1
        job = 'm%d' % self.n
        bundle = {'jobId': job, 'code': code, 'lineOffset': 0, 'executionCount': self.n}
        self.sock.sendall((json.dumps({'op': 'run', 'id': 2 * self.n, 'job': job, 'bundle': bundle,
                                       'jobdir': os.path.join(work, 'jobs', job)}) + '\n'
                           + json.dumps({'op': 'follow', 'id': 2 * self.n + 1, 'job': job,
                                         'offset': 0}) + '\n').encode())
        while True:
            msg = json.loads(self.file.readline())
            if msg['op'] == 'reply' and not msg['ok']:
                raise RuntimeError(msg['error'])
            if msg['op'] == 'followed':
                return


def rss_bytes(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return None


def start(python, env, work, sid):
    sdir = os.path.join(work, 'sessions', sid)
    spec = {'sessionId': sid, 'env': {'manager': 'venv', 'python': PY}, 'idleTimeout': 0,
            'cwd': work}
    began = time.perf_counter()
    out = agent(python, env, 'session-start', sdir, data=json.dumps(spec).encode())
    took = time.perf_counter() - began
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode())
    return took, json.loads(agent(python, env, 'session-info', sdir).stdout), sdir


def main():
    n = int(sys.argv[sys.argv.index('--n') + 1]) if '--n' in sys.argv else 30
    work = tempfile.mkdtemp(prefix='cb-measure-session-')
    os.makedirs(os.path.join(work, 'jobs'))
    env = dict(os.environ, CLUSTER_BRIDGE_WORKDIR=work)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    results = {'python': PY, 'host': os.uname()[1], 'cpus': os.cpu_count(), 'n': n}
    sessions = []
    try:
        took, info, sdir = start(PY, env, work, 'cold')  # builds VENV2
        sessions.append(sdir)
        results['startWithEnvBuildSeconds'] = round(took, 3)
        envs = os.path.join(work, 'envs')
        marker = [m for m in os.listdir(envs) if m.endswith('.ready')][0]
        with open(os.path.join(envs, marker)) as f:
            venv_python = json.load(f)['python']
        took, info, sdir = start(PY, env, work, 'exec')
        sessions.append(sdir)
        results['startExecSeconds'] = round(took, 3)
        took, info, sdir = start(venv_python, env, work, 'warm')
        sessions.append(sdir)
        results['startInProcessSeconds'] = round(took, 3)
        client = Client(info['endpoint'], info['token'])
        client.cell(work, 'x = 0')
        session_times, go_times = [], []
        for i in range(n):
            began = time.perf_counter()
            client.cell(work, 'x += 1')
            session_times.append(time.perf_counter() - began)
            bundle = json.dumps({'jobId': 'g%d' % i, 'code': 'x = 0\nx += 1', 'lineOffset': 0,
                                 'env': {'manager': 'venv', 'python': PY}}).encode()
            began = time.perf_counter()
            agent(venv_python, env, 'go', os.path.join(work, 'jobs', 'g%d' % i), data=bundle)
            go_times.append(time.perf_counter() - began)
        results['sessionCellMs'] = round(statistics.median(session_times) * 1000, 2)
        results['sessionCellP90Ms'] = round(sorted(session_times)[int(n * 0.9) - 1] * 1000, 2)
        results['oneOffGoMs'] = round(statistics.median(go_times) * 1000, 2)
        time.sleep(1.0)
        results['idleRssBytes'] = rss_bytes(info['endpoint']['pid'])
        results['idleRssMiB'] = round(results['idleRssBytes'] / 1048576.0, 1)
    finally:
        for sdir in sessions:
            agent(PY, env, 'session-stop', sdir, '--grace', '1')
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=1)
    print(text)
    if '--json' in sys.argv:
        with open(sys.argv[sys.argv.index('--json') + 1], 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
