/**
 * bench/scheduler.ts: a trivial `%%cluster` cell through a batch scheduler,
 * submit to first output, against the scheduler's own submit-to-RUNNING
 * measured in the same run, on the same single-node SLURM / Grid Engine
 * (scripts/services/slurm.sh, sge.sh), as the same user over the same sshd.
 *
 * Rows per scheduler (medians of interleaved runs):
 *  - floor: `sbatch --wrap` / `qsub` (script on stdin) of `sleep`, then the scheduler's
 *    own state polled every 50 ms over an open ssh2 connection until RUNNING;
 *  - floor: the same with `python3 -c print` writing its output file, polled
 *    until the file has the line (the scheduler's own submit-to-output);
 *  - ours: JobManager.runCell(`print("hi")`) to the first stdout chunk, and to
 *    the cell's end (warm: runtime, VENV1 and VENV2 already there).
 * Prints a markdown table; writes bench/results/scheduler.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/scheduler.js [--quick]
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig, SchedulerKind } from '../src/shared/config';
import { ClusterRegistry } from '../src/bridge/clusters';
import { createJobManager, JobManager } from '../src/bridge/jobs';
import type { IOutputSink } from '../src/bridge/jobs/types';
import { SshTransport } from '../src/bridge/transport/ssh';
import { TransportPool } from '../src/bridge/transport/pool';
import type { ITransport } from '../src/bridge/transport/types';
import { packageRoot } from '../src/bridge/util/paths';
import { shellQuote } from '../src/bridge/util/quote';
import { serviceFacts } from './support';

const ROOT = packageRoot();
const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 4 : 10;
const KINDS: ('slurm' | 'sge')[] = ['slurm', 'sge'];

interface IRow {
  scheduler: string;
  what: string;
  median_ms: number;
  p90_ms: number;
  runs: number;
  ratio?: number;
}

/** Records when the first stdout arrived. */
class FirstOutputSink implements IOutputSink {
  first = 0;
  errors: string[] = [];
  stream(name: string): void {
    if (name === 'stdout' && !this.first) {
      this.first = performance.now();
    }
  }
  display(): void {}
  updateDisplay(): void {}
  result(): void {}
  error(ename: string, evalue: string): void {
    this.errors.push(`${ename}: ${evalue}`);
  }
}

const facts = serviceFacts;

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p90 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[
    Math.min(xs.length - 1, Math.floor(xs.length * 0.9))
  ];
const round = (x: number) => Math.round(x);

async function must(t: ITransport, command: string): Promise<string> {
  const r = await t.exec(command);
  if (r.code !== 0) {
    throw new Error(`${command}: exit ${r.code}: ${r.stderr}`);
  }
  return r.stdout.trim();
}

/** The scheduler's own submit (of `payload`) until `ready(probe output)`, polled every 50 ms. */
async function floorRun(
  t: ITransport,
  kind: 'slurm' | 'sge',
  payload: string,
  probe: (id: string) => string,
  ready: (out: string) => boolean,
  dir: string
): Promise<number> {
  const t0 = performance.now();
  const submit =
    kind === 'slurm'
      ? `cd ${dir} && sbatch --parsable -o /dev/null --wrap ${shellQuote(payload)}`
      : `cd ${dir} && printf '%s\\n' ${shellQuote(payload)} | qsub -terse -o /dev/null -e /dev/null`;
  const id = (await must(t, submit)).split(';')[0];
  for (;;) {
    const out = (await t.exec(probe(id))).stdout;
    if (ready(out)) {
      break;
    }
    await sleep(50);
  }
  const ms = performance.now() - t0;
  await t.exec(
    kind === 'slurm' ? `scancel ${id}` : `qdel ${id} >/dev/null 2>&1`
  );
  return ms;
}

async function waitIdle(t: ITransport, kind: 'slurm' | 'sge'): Promise<void> {
  const probe =
    kind === 'slurm'
      ? 'squeue -h -u "$(id -un)" -t PD,R,CG'
      : 'qstat -u "$(id -un)"';
  for (let i = 0; i < 200; i++) {
    if (!(await t.exec(probe)).stdout.trim()) {
      return;
    }
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const sshd = facts('sshd');
  const services = { slurm: facts('slurm'), sge: facts('sge') };
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-scheduler-'));
  const workDir = `~/.cb-bench-sched-${process.pid}`;
  const base: IClusterConfig = {
    type: 'ssh',
    host: sshd.SSHD_HOST,
    port: Number(sshd.SSHD_PORT),
    user: sshd.SSHD_USER,
    identityFile: sshd.SSHD_KEY,
    knownHostsFile: sshd.SSHD_KNOWN_HOSTS,
    workDir
  };
  const clusters: { [name: string]: IClusterConfig } = {};
  for (const kind of KINDS) {
    clusters[kind] = { ...base, scheduler: kind as SchedulerKind };
  }
  const configFile = path.join(dir, 'clusters.json');
  fs.writeFileSync(configFile, JSON.stringify({ clusters }));
  const manager: JobManager = createJobManager({
    registry: new ClusterRegistry({ sshConfigPath: null, configFile }),
    pool: new TransportPool({ ssh: { agent: null } }),
    stateDir: path.join(dir, 'state')
  });
  const floorT = new SshTransport('bench-floor', base, { agent: null });
  await floorT.connect();
  const floorDir = `${await floorT.home()}/.cb-bench-sched-${process.pid}/floor`;
  await must(floorT, `mkdir -p ${floorDir}`);

  const cell = async (
    kind: string
  ): Promise<{ first: number; total: number }> => {
    const sink = new FirstOutputSink();
    const t0 = performance.now();
    const outcome = await manager.runCell({
      request: { cluster: kind },
      code: 'print("hi")',
      lineOffset: 1,
      sink
    });
    if (outcome.status !== 'ok' || !sink.first) {
      throw new Error(`cell on ${kind} failed: ${sink.errors.join('; ')}`);
    }
    return { first: sink.first - t0, total: performance.now() - t0 };
  };

  const rows: IRow[] = [];
  try {
    for (const kind of KINDS) {
      const running =
        kind === 'slurm'
          ? (id: string) => `squeue -h -j ${id} -o %T`
          : (id: string) => `qstat -u '*' | awk '$1 == ${id} {print $5}'`;
      const isRunning = (out: string) =>
        kind === 'slurm'
          ? /RUNNING|COMPLETING|COMPLETED/.test(out)
          : /\br\b|\bt\b/.test(out);
      let n = 0;
      const outputFloor = async () => {
        const file = `${floorDir}/${kind}-${++n}.out`;
        return floorRun(
          floorT,
          kind,
          `python3 -c 'print("hi")' > ${file}`,
          () => `cat ${file} 2>/dev/null`,
          out => out.includes('hi'),
          floorDir
        );
      };
      // Warm-ups: runtime upload, VENV1 and VENV2 on the first cell; scheduler caches.
      await cell(kind);
      await cell(kind);
      await floorRun(
        floorT,
        kind,
        'sleep 30',
        id => running(id),
        isRunning,
        floorDir
      );
      await waitIdle(floorT, kind);

      const toRunning: number[] = [];
      const toOutput: number[] = [];
      const first: number[] = [];
      const total: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        toRunning.push(
          await floorRun(
            floorT,
            kind,
            'sleep 30',
            id => running(id),
            isRunning,
            floorDir
          )
        );
        await waitIdle(floorT, kind);
        toOutput.push(await outputFloor());
        await waitIdle(floorT, kind);
        const c = await cell(kind);
        first.push(c.first);
        total.push(c.total);
        await waitIdle(floorT, kind);
      }
      const floor = median(toRunning);
      const add = (what: string, xs: number[], ratio: boolean) =>
        rows.push({
          scheduler: kind,
          what,
          median_ms: round(median(xs)),
          p90_ms: round(p90(xs)),
          runs: xs.length,
          ...(ratio
            ? { ratio: Math.round((median(xs) / floor) * 100) / 100 }
            : {})
        });
      add(
        `floor: ${kind === 'slurm' ? 'sbatch' : 'qsub'} to RUNNING (polled 50 ms)`,
        toRunning,
        false
      );
      add(
        `floor: ${kind === 'slurm' ? 'sbatch' : 'qsub'} of python print to its output`,
        toOutput,
        true
      );
      add('cell print("hi"): submit to first output', first, true);
      add('cell print("hi"): to cell done', total, true);
    }
  } finally {
    await manager.dispose();
    await floorT.exec(`rm -rf ~/.cb-bench-sched-${process.pid}`);
    await floorT.close();
  }

  const env = {
    slurm: `SLURM 22.05 single node (${services.slurm.SLURM_NODE}), ${services.slurm.SLURM_CPUS} CPUs`,
    sge: `Grid Engine 8.1.9 single node (${services.sge.SGE_HOST})`
  };
  console.log(
    '| scheduler | what | median ms | p90 ms | runs | x floor (to RUNNING) |'
  );
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.scheduler} | ${r.what} | ${r.median_ms} | ${r.p90_ms} | ${r.runs} | ${r.ratio ?? ''} |`
    );
  }
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(ROOT, 'bench', 'results', 'scheduler.json'),
    JSON.stringify(
      { date: new Date().toISOString(), quick: QUICK, env, rows },
      null,
      2
    ) + '\n'
  );
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
