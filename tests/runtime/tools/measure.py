"""Measures the runtime on this machine (not a test: numbers, no assertions).

    python3 tests/runtime/tools/measure.py [--json OUT]

1. warm `agent.py go` of a trivial cell (`1`) vs the floor `<VENV2 python> -c pass`, same run;
2. a cell printing 1e6 lines through the runner vs the same program writing to a pipe;
3. GPU facts: the `gpu` event of a cell on this machine (nvidia-smi / torch where present).
Medians of repeated runs, interleaved so load affects both sides alike.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), 'src', 'runtime')
AGENT = os.path.join(RUNTIME, 'agent.py')
RUNNER = os.path.join(RUNTIME, 'runner.py')
PY = os.environ.get('CB_MEASURE_PYTHON') or ('/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable)


def timed(cmd, **kw):
    start = time.perf_counter()
    out = subprocess.run(cmd, **kw)
    return time.perf_counter() - start, out


def main():
    work = tempfile.mkdtemp(prefix='cb-measure-')
    os.makedirs(os.path.join(work, 'jobs'))
    env = dict(os.environ, CLUSTER_BRIDGE_WORKDIR=work)
    env.pop('PYTHONDONTWRITEBYTECODE', None)
    env.pop('PYTHONUNBUFFERED', None)  # the plain baseline writes through its normal buffer
    spec = {'manager': 'venv', 'python': PY}
    results = {'python': PY, 'host': os.uname()[1], 'cpus': os.cpu_count()}
    try:
        bundle = json.dumps({'code': '1', 'env': spec, 'envHash': 'measure'}).encode()
        _, first = timed([PY, '-I', AGENT, 'go', os.path.join(work, 'jobs', 'cold')], input=bundle,
                         env=env, stdout=subprocess.PIPE)
        results['coldEnvBuildSeconds'] = round(_, 3)
        ready = [f for f in os.listdir(os.path.join(work, 'envs')) if f.endswith('.ready')][0]
        with open(os.path.join(work, 'envs', ready)) as f:
            venv2 = json.load(f)['python']
        n = int(os.environ.get('CB_MEASURE_N', '30'))
        floor, go, v1, fork = [], [], [], []
        for i in range(n):
            floor.append(timed([venv2, '-c', 'pass'])[0])
            t, out = timed([PY, '-I', AGENT, 'go', os.path.join(work, 'jobs', 'w%d' % i)],
                           input=bundle, env=env, stdout=subprocess.PIPE)
            assert b'"state":"completed"' in out.stdout, out.stdout[-500:]
            go.append(t)
            # The fast path: the agent run by VENV2's python forks the runner.
            t, out = timed([venv2, '-u', AGENT, 'go', os.path.join(work, 'jobs', 'f%d' % i)],
                           input=bundle, env=env, stdout=subprocess.PIPE)
            assert b'"state":"completed"' in out.stdout, out.stdout[-500:]
            fork.append(t)
            v1.append(timed([PY, '-I', '-c', 'pass'])[0])
        results['warmGoMs'] = round(statistics.median(go) * 1e3, 1)
        results['venv2PassMs'] = round(statistics.median(floor) * 1e3, 1)
        results['venv1PassMs'] = round(statistics.median(v1) * 1e3, 1)
        results['warmGoOverFloor'] = round(statistics.median(go) / statistics.median(floor), 2)
        results['warmGoMinMs'] = round(min(go) * 1e3, 1)
        results['warmGoForkMs'] = round(statistics.median(fork) * 1e3, 1)
        results['warmGoForkMinMs'] = round(min(fork) * 1e3, 1)
        results['warmGoForkOverFloor'] = round(statistics.median(fork) / statistics.median(floor), 2)
        results['venv2PassMinMs'] = round(min(floor) * 1e3, 1)

        code = 'for i in range(1000000):\n    print(i)'
        job = os.path.join(work, 'jobs', 'million')
        os.makedirs(job)
        with open(os.path.join(job, 'bundle.json'), 'w') as f:
            json.dump({'code': code}, f)
        plain, runner = [], []
        for i in range(3):
            plain.append(timed([venv2, '-c', code], stdout=subprocess.PIPE, env=env)[0])
            try:
                os.remove(os.path.join(job, 'events.jsonl'))
            except OSError:
                pass
            runner.append(timed([venv2, '-u', RUNNER, job], env=env)[0])
        results['millionLinesRunnerS'] = round(statistics.median(runner), 3)
        results['millionLinesPlainPipeS'] = round(statistics.median(plain), 3)
        results['millionLinesRatio'] = round(statistics.median(runner) / statistics.median(plain), 2)

        gpu_code = ('import importlib.util, subprocess\n'
                    'if importlib.util.find_spec("torch"):\n'
                    '    import torch\n'
                    '    if torch.cuda.is_available():\n'
                    '        x = torch.ones((1024, 1024, 256), device="cuda")\n'
                    '        print("torch", torch.__version__, x.sum().item())\n'
                    'print("cell done")')
        bundle = json.dumps({'code': gpu_code, 'env': spec, 'envHash': 'measure'}).encode()
        _, out = timed([PY, '-I', AGENT, 'go', os.path.join(work, 'jobs', 'gpu')], input=bundle,
                       env=env, stdout=subprocess.PIPE)
        events = [json.loads(l) for l in out.stdout.decode().splitlines()]
        results['gpuEvent'] = [e for e in events if e['type'] == 'gpu']
        results['gpuCellOutput'] = ''.join(e.get('text', '') for e in events if e['type'] == 'stream')
        results['gpuCellDone'] = events[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    if '--json' in sys.argv:
        with open(sys.argv[sys.argv.index('--json') + 1], 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
