/**
 * bench/distributed.ts: a 2-task distributed `%%cluster` cell on the single-node
 * SLURM (scripts/services/slurm.sh; a second node is not emulated here), submit
 * to first output, against `srun` run by hand in the same kind of allocation,
 * as the same user over the same sshd.
 *
 * Rows (medians of interleaved runs):
 *  - floor: `sbatch --nodes=1 --ntasks-per-node=2 --wrap 'srun python3 -c print'`,
 *    its output file polled every 50 ms over an open ssh2 connection until it has a line;
 *  - ours: JobManager.runCell(`print("hi")`, --tasks-per-node 2) to rank 0's first
 *    stdout, and to the cell's end (every rank's output merged, the ranks display sent).
 * Prints a markdown table; writes bench/results/distributed.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/distributed.js [--quick]
 */
import * as fs from 'fs';
import * as path from 'path';

import { SshTransport } from '../src/bridge/transport/ssh';
import type { ITransport } from '../src/bridge/transport/types';
import { shellQuote } from '../src/bridge/util/quote';
import {
  benchManager,
  median,
  p90,
  ROOT,
  serviceFacts,
  sshdCluster,
  TextSink,
  writeResult
} from './support';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 3 : 8;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** sbatch of `srun python3 -c print` in a 2-task allocation, until its output file has a line. */
async function floorRun(
  t: ITransport,
  dir: string,
  n: number
): Promise<number> {
  const out = `${dir}/floor-${n}.out`;
  const payload = `srun python3 -c 'print("hi")'`;
  const t0 = performance.now();
  const submit = await t.exec(
    `sbatch --parsable --nodes=1 --ntasks-per-node=2 -o ${shellQuote(out)} --wrap ${shellQuote(payload)}`
  );
  if (submit.code !== 0) {
    throw new Error(`sbatch: ${submit.stderr}`);
  }
  for (;;) {
    const r = await t.exec(`grep -c hi ${shellQuote(out)} 2>/dev/null`);
    if (Number(r.stdout.trim()) > 0) {
      break;
    }
    await sleep(50);
  }
  return performance.now() - t0;
}

async function waitIdle(t: ITransport): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (!(await t.exec('squeue -h -u "$(id -un)" -t PD,R,CG')).stdout.trim()) {
      return;
    }
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const sshd = serviceFacts('sshd');
  serviceFacts('slurm');
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-distributed-'));
  const workDir = `~/.cb-bench-dist-${process.pid}`;
  const cluster = {
    ...sshdCluster(sshd, workDir),
    scheduler: 'slurm' as const
  };
  const manager = benchManager(dir, { slurm: cluster });
  const floorT = new SshTransport('bench-floor', cluster, { agent: null });
  await floorT.connect();
  const remoteDir = (
    await floorT.exec('mktemp -d ~/.cb-bench-dist-floor-XXXXXX')
  ).stdout.trim();
  const cell = async (): Promise<[number, number]> => {
    const sink = new TextSink();
    let first = 0;
    sink.onLines = () => {
      first ||= performance.now();
    };
    const t0 = performance.now();
    const outcome = await manager.runCell({
      request: { cluster: 'slurm', tasksPerNode: 2 },
      code: 'print("hi")',
      lineOffset: 1,
      sink
    });
    if (outcome.status !== 'ok' || sink.errors.length) {
      throw new Error(`cell: ${outcome.status} ${sink.errors.join('; ')}`);
    }
    return [first - t0, performance.now() - t0];
  };
  await cell(); // warm: runtime, VENV1 and VENV2 in place
  await waitIdle(floorT);
  const floor: number[] = [];
  const ours: number[] = [];
  const oursEnd: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(await floorRun(floorT, remoteDir, i));
    await waitIdle(floorT);
    const [first, end] = await cell();
    ours.push(first);
    oursEnd.push(end);
    await waitIdle(floorT);
  }
  const row = (what: string, xs: number[]) => ({
    what,
    median_ms: Math.round(median(xs)),
    p90_ms: Math.round(p90(xs)),
    runs: xs.length,
    ratio: Math.round((median(xs) / median(floor)) * 100) / 100
  });
  const rows = [
    row('floor: sbatch 2 tasks + srun by hand, to first output', floor),
    row('ours: --tasks-per-node 2 cell, to first output', ours),
    row('ours: --tasks-per-node 2 cell, to its end', oursEnd)
  ];
  console.log('| what | median ms | p90 ms | runs | x floor |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.what} | ${r.median_ms} | ${r.p90_ms} | ${r.runs} | ${r.ratio} |`
    );
  }
  console.log(`wrote ${writeResult('distributed', { rows })}`);
  await floorT.exec(`rm -rf ${shellQuote(remoteDir)} ${workDir}`);
  floorT.close();
  await manager.dispose();
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
