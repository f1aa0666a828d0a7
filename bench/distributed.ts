/**
 * bench/distributed.ts: a 2-task distributed `%%cluster` cell, submit to first
 * output, against `srun` run by hand in the same kind of allocation, as the same
 * user over the same sshd. Two shapes: 2 tasks on the single-node SLURM
 * (scripts/services/slurm.sh), and 1 task on each of 2 nodes on the two-node
 * SLURM (scripts/services/slurm2.sh: cbn1, cbn2 in network namespaces;
 * `--nodes 2 --tasks-per-node 1 --launch srun`, submitted as its user cbtest2).
 *
 * Rows per shape (medians of interleaved runs):
 *  - floor: `sbatch --nodes=N --ntasks-per-node=T --wrap 'srun python3 -c print'`,
 *    its output file polled every 50 ms over an open ssh2 connection until it has a line;
 *  - ours: JobManager.runCell(`print("hi")`) to rank 0's first stdout, and to the
 *    cell's end (every rank's output merged, the ranks display sent).
 * Prints a markdown table; writes bench/results/distributed.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/distributed.js [--quick]
 */
import * as fs from 'fs';
import * as path from 'path';

import { SshTransport } from '../src/bridge/transport/ssh';
import type { ITransport } from '../src/bridge/transport/types';
import type { IJobRequest } from '../src/shared/magic';
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
  n: number,
  shape: IShape
): Promise<number> {
  const out = `${dir}/floor-${n}.out`;
  const payload = `srun python3 -c 'print("hi")'`;
  const t0 = performance.now();
  const submit = await t.exec(
    `sbatch --parsable --nodes=${shape.nodes} --ntasks-per-node=${shape.tasksPerNode} -o ${shellQuote(out)} --wrap ${shellQuote(payload)}`
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

/** One distributed shape on one cluster. */
interface IShape {
  label: string;
  service: string;
  /** The submit user, when the service names its own (slurm2: SLURM_CONF is in its login shell). */
  userFact?: string;
  nodes: number;
  tasksPerNode: number;
  request: Partial<IJobRequest>;
}

const SHAPES: IShape[] = [
  {
    label: '1 node x 2 tasks',
    service: 'slurm',
    nodes: 1,
    tasksPerNode: 2,
    request: { tasksPerNode: 2 }
  },
  {
    label: '2 nodes x 1 task',
    service: 'slurm2',
    userFact: 'SLURM_TEST_USER',
    nodes: 2,
    tasksPerNode: 1,
    request: { nodes: 2, tasksPerNode: 1, launch: 'srun' }
  }
];

interface IRow {
  what: string;
  median_ms: number;
  p90_ms: number;
  runs: number;
  ratio: number;
}

async function benchShape(
  sshd: { [key: string]: string },
  shape: IShape
): Promise<IRow[]> {
  const facts = serviceFacts(shape.service);
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-distributed-'));
  const workDir = `~/.cb-bench-dist-${process.pid}`;
  const cluster = {
    ...sshdCluster(sshd, workDir),
    ...(shape.userFact ? { user: facts[shape.userFact] } : {}),
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
      request: { cluster: 'slurm', ...shape.request },
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
    floor.push(await floorRun(floorT, remoteDir, i, shape));
    await waitIdle(floorT);
    const [first, end] = await cell();
    ours.push(first);
    oursEnd.push(end);
    await waitIdle(floorT);
  }
  const row = (what: string, xs: number[]): IRow => ({
    what: `${shape.label}: ${what}`,
    median_ms: Math.round(median(xs)),
    p90_ms: Math.round(p90(xs)),
    runs: xs.length,
    ratio: Math.round((median(xs) / median(floor)) * 100) / 100
  });
  const rows = [
    row('floor: sbatch + srun by hand, to first output', floor),
    row('ours: cell, to first output', ours),
    row('ours: cell, to its end', oursEnd)
  ];
  await floorT.exec(`rm -rf ${shellQuote(remoteDir)} ${workDir}`);
  floorT.close();
  await manager.dispose();
  return rows;
}

async function main(): Promise<void> {
  const sshd = serviceFacts('sshd');
  const rows: IRow[] = [];
  for (const shape of SHAPES) {
    rows.push(...(await benchShape(sshd, shape)));
  }
  console.log('| what | median ms | p90 ms | runs | x floor |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.what} | ${r.median_ms} | ${r.p90_ms} | ${r.runs} | ${r.ratio} |`
    );
  }
  console.log(`wrote ${writeResult('distributed', { rows })}`);
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
