/**
 * bench/session.ts: what a session cell costs (issue 10), side by side in one
 * run with its peers and floors:
 *  - warm session cell (`x += 1`) over the real sshd and on `local`, median of
 *    30, vs ipyparallel 7.1's `view.execute('x += 1', block=True)` on a local
 *    engine (Debian python3-ipyparallel) and vs the ssh2 exec round trip
 *    (`true` on an open connection);
 *  - first cell of a session on a set-up host (the session starts);
 *  - on SLURM: submit to first output of a session's first cell vs `sbatch`
 *    of the same print (polled 50 ms);
 *  - resident memory of an idle session process.
 * Prints a markdown table; writes bench/results/session.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/session.js [--quick] [--no-slurm]
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Client } from 'ssh2';

import type { IClusterConfig } from '../src/shared/config';
import type { JobManager } from '../src/bridge/jobs';
import type { IOutputSink } from '../src/bridge/jobs/types';
import { packageRoot } from '../src/bridge/util/paths';
import {
  benchManager,
  median,
  p90,
  serviceFacts,
  ssh2Client,
  sshdCluster
} from './support';

const ROOT = packageRoot();
const QUICK = process.argv.includes('--quick');
const SLURM = !process.argv.includes('--no-slurm');
const RUNS = QUICK ? 10 : 30;
const NOTEBOOK = 'bench.ipynb';

interface IRow {
  what: string;
  median_ms: number;
  p90_ms?: number;
  runs: number;
  note?: string;
}

/** Keeps what a cell printed and its last value; reports the first output's time. */
class Sink implements IOutputSink {
  out = '';
  value = '';
  errors: string[] = [];
  firstOutputAt = 0;
  stream(_name: string, text: string): void {
    this.firstOutputAt ||= performance.now();
    this.out += text;
  }
  display(): void {}
  updateDisplay(): void {}
  result(data: { [mime: string]: unknown }): void {
    this.firstOutputAt ||= performance.now();
    this.value = String(data['text/plain'] ?? '');
  }
  error(ename: string, evalue: string): void {
    this.errors.push(`${ename}: ${evalue}`);
  }
}

const facts = serviceFacts;

const round = (x: number) => Math.round(x * 100) / 100;

const progress = (what: string): void =>
  void process.stderr.write(`[bench/session] ${what}\n`);

async function cell(
  m: JobManager,
  cluster: string,
  code: string
): Promise<Sink> {
  const sink = new Sink();
  const outcome = await m.runCell({
    request: { cluster },
    code,
    lineOffset: 1,
    sink,
    notebook: NOTEBOOK
  });
  if (outcome.status !== 'ok') {
    throw new Error(`cell failed on ${cluster}: ${sink.errors.join('; ')}`);
  }
  return sink;
}

async function timeCells(
  m: JobManager,
  cluster: string,
  code: string,
  n: number
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await cell(m, cluster, code);
    times.push(performance.now() - t0);
  }
  return times;
}

function ssh2Exec(client: Client, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, channel) => {
      if (err) {
        return reject(err);
      }
      channel.on('data', () => undefined);
      channel.stderr.on('data', () => undefined);
      channel.on('close', () => resolve());
    });
  });
}

/** ipyparallel 7.1 on a local engine: the same `x += 1`, timed inside Python. */
function ipyparallel(n: number): Promise<{ times: number[]; startMs: number }> {
  const script = `
import json, time
import ipyparallel as ipp
t0 = time.perf_counter()
with ipp.Cluster(n=1, log_level=40) as rc:
    start = (time.perf_counter() - t0) * 1000
    view = rc[:]
    view.execute('x = 0', block=True)
    for _ in range(3):
        view.execute('x += 1', block=True)
    times = []
    for _ in range(${n}):
        t = time.perf_counter()
        view.execute('x += 1', block=True)
        times.append((time.perf_counter() - t) * 1000)
print(json.dumps({'times': times, 'startMs': start}))
`;
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', script], {
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let out = '';
    let err = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (err += d));
    child.on('close', code => {
      if (code !== 0) {
        return reject(
          new Error(`ipyparallel failed (exit ${code}): ${err.slice(-2000)}`)
        );
      }
      resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}'));
    });
  });
}

/** sbatch of a python print, to its output file (polled 50 ms): the scheduler's own floor. */
async function sbatchFloor(
  slurm: { [key: string]: string },
  dir: string
): Promise<number> {
  const out = path.join(dir, `sbatch-${Date.now()}.out`);
  const t0 = performance.now();
  execFileSync(
    'sbatch',
    ['--parsable', '-o', out, '--wrap', "python3 -c 'print(1)'"],
    {
      env: { ...process.env, SLURM_CONF: slurm.SLURM_CONF },
      cwd: dir
    }
  );
  for (;;) {
    if (fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('1')) {
      return performance.now() - t0;
    }
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  const sshd = facts('sshd');
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-session-'));
  const remoteWork = `~/.cb-bench-session-${process.pid}`;
  const ssh = sshdCluster(sshd, remoteWork);
  const clusters: { [name: string]: IClusterConfig } = {
    ssh,
    local: { type: 'local', workDir: path.join(dir, 'work') },
    slurm: { ...ssh, scheduler: 'slurm' }
  };
  const m = benchManager(dir, clusters);
  const rows: IRow[] = [];
  try {
    // Set up the hosts (runtime, VENV1, VENV2) with a one-off cell, then time a session's first cell.
    await m.runCell({
      request: { cluster: 'ssh' },
      code: 'pass',
      lineOffset: 1,
      sink: new Sink()
    });
    await m.runCell({
      request: { cluster: 'local' },
      code: 'pass',
      lineOffset: 1,
      sink: new Sink()
    });
    progress('set up');
    const firstSsh = await timeCells(m, 'ssh', 'x = 0', 1);
    const firstLocal = await timeCells(m, 'local', 'x = 0', 1);
    for (let i = 0; i < 3; i++) {
      await cell(m, 'ssh', 'x += 1');
      await cell(m, 'local', 'x += 1');
    }
    progress('first cells');
    const warmSsh = await timeCells(m, 'ssh', 'x += 1', RUNS);
    const warmLocal = await timeCells(m, 'local', 'x += 1', RUNS);
    const count = await cell(m, 'ssh', 'x');
    if (Number(count.value) !== 3 + RUNS) {
      throw new Error(`the session lost state: x = ${count.value}`);
    }
    progress('warm cells');
    const client = await ssh2Client(sshd);
    for (let i = 0; i < 3; i++) {
      await ssh2Exec(client, 'true');
    }
    const floor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await ssh2Exec(client, 'true');
      floor.push(performance.now() - t0);
    }
    client.end();
    progress('floor');
    const ipp = await ipyparallel(RUNS);
    progress('ipyparallel');
    const pid = Number((await cell(m, 'ssh', 'import os\nos.getpid()')).value);
    await new Promise(resolve => setTimeout(resolve, 1000));
    const rssKb = Number(
      /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    );

    const ippMedian = median(ipp.times);
    rows.push(
      {
        what: 'warm session cell `x += 1`, ssh',
        median_ms: round(median(warmSsh)),
        p90_ms: round(p90(warmSsh)),
        runs: RUNS,
        note: `${round(median(warmSsh) / ippMedian)}x ipyparallel, ${round(median(warmSsh) / median(floor))}x ssh2 exec floor`
      },
      {
        what: 'warm session cell `x += 1`, local',
        median_ms: round(median(warmLocal)),
        p90_ms: round(p90(warmLocal)),
        runs: RUNS,
        note: `${round(median(warmLocal) / ippMedian)}x ipyparallel`
      },
      {
        what: "ipyparallel 7.1 view.execute('x += 1', block=True), local engine",
        median_ms: round(ippMedian),
        p90_ms: round(p90(ipp.times)),
        runs: RUNS,
        note: `cluster start ${Math.round(ipp.startMs)} ms`
      },
      {
        what: 'floor: ssh2 exec `true` on an open connection',
        median_ms: round(median(floor)),
        p90_ms: round(p90(floor)),
        runs: RUNS
      },
      {
        what: 'first cell of a session on a set-up host, ssh',
        median_ms: round(firstSsh[0]),
        runs: 1
      },
      {
        what: 'first cell of a session on a set-up host, local',
        median_ms: round(firstLocal[0]),
        runs: 1
      },
      {
        what: 'idle session process, resident memory',
        median_ms: 0,
        runs: 1,
        note: `${Math.round(rssKb / 1024)} MiB RSS`
      }
    );

    if (SLURM) {
      const slurm = facts('slurm');
      const sessionFirst: number[] = [];
      const floors: number[] = [];
      for (let i = 0; i < (QUICK ? 1 : 3); i++) {
        const sink = new Sink();
        const t0 = performance.now();
        const outcome = await m.runCell({
          request: { cluster: 'slurm', time: '00:05:00' },
          code: 'print(1)',
          lineOffset: 1,
          sink,
          notebook: `slurm-${i}.ipynb`
        });
        if (outcome.status !== 'ok') {
          throw new Error(
            `slurm session cell failed: ${sink.errors.join('; ')}`
          );
        }
        sessionFirst.push(sink.firstOutputAt - t0);
        progress(`slurm session ${i}`);
        // The allocation goes back before the floor's job needs the node.
        for (const s of m.sessions.known()) {
          if (s.state !== 'ended' && s.cluster === 'slurm') {
            await m.sessions.stop(s.id);
          }
        }
        floors.push(await sbatchFloor(slurm, dir));
        progress(`sbatch ${i}`);
      }
      for (const s of m.sessions.known()) {
        if (s.state !== 'ended') {
          await m.sessions.stop(s.id);
        }
      }
      rows.push(
        {
          what: 'SLURM: submit to first output of a session cell (new allocation)',
          median_ms: round(median(sessionFirst)),
          runs: sessionFirst.length,
          note: `${round(median(sessionFirst) / median(floors))}x sbatch`
        },
        {
          what: 'floor: sbatch of the same print to its output file',
          median_ms: round(median(floors)),
          runs: floors.length
        }
      );
    }
  } finally {
    for (const s of m.sessions.known()) {
      if (s.state !== 'ended') {
        await m.sessions.stop(s.id).catch(() => undefined);
      }
    }
    await m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(path.join(sshd.SSHD_HOME, remoteWork.slice(2)), {
      recursive: true,
      force: true
    });
  }
  console.log(
    '| what | median ms | p90 ms | runs | note |\n|---|---|---|---|---|'
  );
  for (const r of rows) {
    console.log(
      `| ${r.what} | ${r.median_ms} | ${r.p90_ms ?? ''} | ${r.runs} | ${r.note ?? ''} |`
    );
  }
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', 'session.json'),
    JSON.stringify(rows, null, 1)
  );
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
