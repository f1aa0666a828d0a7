/**
 * bench/cell.ts: what a %%cluster cell costs, against its floors measured in
 * the same run (issue 4):
 *  - warm trivial cell (`pass`), local and over the real sshd, vs ssh2 exec
 *    of VENV2's `python -c pass` on an open connection, vs OpenSSH with a
 *    ControlMaster, vs spawning it locally;
 *  - first cell on a fresh host: new connection, empty work dir (runtime
 *    upload, VENV1, VENV2);
 *  - stdout throughput of a cell printing 1e6 lines vs the same program
 *    over plain ssh.
 * Prints a markdown table; writes bench/results/cell.json.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/cell.js [--quick]
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'ssh2';

import type { IClusterConfig } from '../src/shared/config';
import { ClusterRegistry } from '../src/bridge/clusters';
import {
  createJobManager,
  envHash,
  envSpecFor,
  JobManager
} from '../src/bridge/jobs';
import type { IOutputSink } from '../src/bridge/jobs/types';
import { TransportPool } from '../src/bridge/transport/pool';
import { packageRoot } from '../src/bridge/util/paths';
import { shellQuote } from '../src/bridge/util/quote';
import { median, p90, ssh2Client } from './support';

const ROOT = packageRoot();
const QUICK = process.argv.includes('--quick');
const WARM_RUNS = QUICK ? 10 : 30;
const LINES = QUICK ? 100000 : 1000000;

interface IRow {
  what: string;
  median_ms: number;
  p90_ms?: number;
  runs: number;
  floor?: string;
  ratio?: number;
  note?: string;
}

/** Counts outputs without keeping them. */
class CountingSink implements IOutputSink {
  bytes = 0;
  lines = 0;
  errors: string[] = [];
  stream(_name: string, text: string): void {
    this.bytes += text.length;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
      this.lines++;
    }
  }
  display(): void {}
  updateDisplay(): void {}
  result(): void {}
  error(ename: string, evalue: string): void {
    this.errors.push(`${ename}: ${evalue}`);
  }
}

function sshdFacts(): { [key: string]: string } {
  const file = path.join(ROOT, '.cache', 'services', 'sshd.env');
  execFileSync(
    'bash',
    [path.join(ROOT, 'scripts', 'services', 'sshd.sh'), 'start'],
    { stdio: 'ignore' }
  );
  const env: { [key: string]: string } = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) {
      env[line.slice(0, eq)] = line.slice(eq + 1);
    }
  }
  return env;
}

async function timeRuns(n: number, fn: () => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

const round = (x: number) => Math.round(x * 100) / 100;

function manager(
  dir: string,
  clusters: { [name: string]: IClusterConfig }
): { manager: JobManager; pool: TransportPool } {
  const configFile = path.join(
    dir,
    `clusters-${Math.random().toString(36).slice(2)}.json`
  );
  fs.writeFileSync(configFile, JSON.stringify({ clusters }));
  const registry = new ClusterRegistry({ sshConfigPath: null, configFile });
  const pool = new TransportPool({ ssh: { agent: null } });
  return {
    manager: createJobManager({
      registry,
      pool,
      stateDir: path.join(dir, 'state')
    }),
    pool
  };
}

async function cell(
  m: JobManager,
  cluster: string,
  code: string
): Promise<CountingSink> {
  const sink = new CountingSink();
  const outcome = await m.runCell({
    request: { cluster },
    code,
    lineOffset: 1,
    sink
  });
  if (outcome.status !== 'ok') {
    throw new Error(`cell failed on ${cluster}: ${sink.errors.join('; ')}`);
  }
  return sink;
}

function ssh2Exec(client: Client, command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, channel) => {
      if (err) {
        return reject(err);
      }
      let bytes = 0;
      channel.on('data', (d: Buffer) => (bytes += d.length));
      channel.stderr.on('data', () => undefined);
      channel.on('close', () => resolve(bytes));
    });
  });
}

function run(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => (bytes += d.length));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('close', code =>
      code === 0
        ? resolve(bytes)
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))
    );
  });
}

async function main(): Promise<void> {
  const facts = sshdFacts();
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-cell-'));
  const remoteWork = `~/.cb-bench-${process.pid}`;
  const ssh: IClusterConfig = {
    type: 'ssh',
    host: facts.SSHD_HOST,
    port: Number(facts.SSHD_PORT),
    user: facts.SSHD_USER,
    identityFile: facts.SSHD_KEY,
    knownHostsFile: facts.SSHD_KNOWN_HOSTS,
    workDir: remoteWork
  };
  const local: IClusterConfig = {
    type: 'local',
    workDir: path.join(dir, 'work')
  };
  const rows: IRow[] = [];
  const sshConfig = facts.SSHD_SSH_CONFIG;
  const control = path.join(os.tmpdir(), `cb-bench-cm-${process.pid}`);
  const openssh = [
    '-F',
    sshConfig,
    '-o',
    'ControlMaster=auto',
    '-o',
    `ControlPath=${control}`,
    '-o',
    'ControlPersist=120',
    'cb-target'
  ];

  try {
    // First cell on a fresh host: new connection, empty work dir, both envs.
    const fresh = manager(dir, { local, ssh });
    const [firstSsh] = await timeRuns(
      1,
      async () => void (await cell(fresh.manager, 'ssh', 'pass'))
    );
    const [firstLocal] = await timeRuns(
      1,
      async () => void (await cell(fresh.manager, 'local', 'pass'))
    );
    // A second cell on a NEW connection with everything already there (the cost of connect + checks).
    const again = manager(dir, { local, ssh });
    const [reconnectSsh] = await timeRuns(
      1,
      async () => void (await cell(again.manager, 'ssh', 'pass'))
    );
    await again.manager.dispose();

    const m = fresh.manager;
    const prepared = await m.prepareCluster('ssh');
    const localPrepared = await m.prepareCluster('local');
    const venv2 = (workDir: string, cluster: string) =>
      `${workDir}/envs/${envHash(envSpecFor(m.registry.resolve(cluster), {}))}/bin/python`;
    const sshPy = venv2(prepared.workDir, 'ssh');
    const localPy = venv2(localPrepared.workDir, 'local');

    // Warm-ups.
    for (let i = 0; i < 3; i++) {
      await cell(m, 'ssh', 'pass');
      await cell(m, 'local', 'pass');
    }
    const client = await ssh2Client(facts);
    await ssh2Exec(client, `${shellQuote(sshPy)} -c pass`);
    await run('ssh', [...openssh, `${shellQuote(sshPy)} -c pass`]);

    // Interleaved, so load from other processes hits cells and floors alike.
    const warmSsh: number[] = [];
    const floorSsh2: number[] = [];
    const floorOpenssh: number[] = [];
    const warmLocal: number[] = [];
    const floorLocal: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) {
      warmSsh.push(
        ...(await timeRuns(1, async () => void (await cell(m, 'ssh', 'pass'))))
      );
      floorSsh2.push(
        ...(await timeRuns(
          1,
          async () =>
            void (await ssh2Exec(client, `${shellQuote(sshPy)} -c pass`))
        ))
      );
      floorOpenssh.push(
        ...(await timeRuns(
          1,
          async () =>
            void (await run('ssh', [
              ...openssh,
              `${shellQuote(sshPy)} -c pass`
            ]))
        ))
      );
      warmLocal.push(
        ...(await timeRuns(
          1,
          async () => void (await cell(m, 'local', 'pass'))
        ))
      );
      floorLocal.push(
        ...(await timeRuns(
          1,
          async () => void (await run(localPy, ['-c', 'pass']))
        ))
      );
    }
    // Where a warm local cell's time goes (same clock: the local cluster's own files).
    const parts = {
      toLaunch: [] as number[],
      jobRun: [] as number[],
      afterDone: [] as number[],
      modes: [] as string[]
    };
    for (let i = 0; i < Math.min(WARM_RUNS, 15); i++) {
      const t0 = Date.now() / 1000;
      const sink = new CountingSink();
      const outcome = await m.runCell({
        request: { cluster: 'local' },
        code: 'pass',
        lineOffset: 1,
        sink
      });
      const t1 = Date.now() / 1000;
      const jobDir = outcome.job!.remoteDir;
      const status = JSON.parse(
        fs.readFileSync(path.join(jobDir, 'status.json'), 'utf8')
      );
      const events = fs
        .readFileSync(path.join(jobDir, 'events.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map(l => JSON.parse(l));
      const doneAt = events[events.length - 1].t as number;
      parts.toLaunch.push((status.launchedAt - t0) * 1000);
      parts.jobRun.push((doneAt - status.launchedAt) * 1000);
      parts.afterDone.push((t1 - doneAt) * 1000);
      parts.modes.push(String(status.runnerMode));
    }

    rows.push(
      {
        what: 'warm trivial cell, ssh (`pass`)',
        median_ms: round(median(warmSsh)),
        p90_ms: round(p90(warmSsh)),
        runs: WARM_RUNS,
        floor: 'ssh2 exec VENV2 python -c pass',
        ratio: round(median(warmSsh) / median(floorSsh2))
      },
      {
        what: 'floor: ssh2 exec `<venv2>/bin/python -c pass`, open connection',
        median_ms: round(median(floorSsh2)),
        p90_ms: round(p90(floorSsh2)),
        runs: WARM_RUNS
      },
      {
        what: 'floor: OpenSSH + ControlMaster, same command',
        median_ms: round(median(floorOpenssh)),
        p90_ms: round(p90(floorOpenssh)),
        runs: WARM_RUNS,
        note: `warm cell / this = ${round(median(warmSsh) / median(floorOpenssh))}`
      },
      {
        what: 'warm trivial cell, local',
        median_ms: round(median(warmLocal)),
        p90_ms: round(p90(warmLocal)),
        runs: WARM_RUNS,
        floor: 'spawn VENV2 python -c pass',
        ratio: round(median(warmLocal) / median(floorLocal))
      },
      {
        what: '  of which: bridge start -> agent `go` launched the job (agent start on VENV2, prepare)',
        median_ms: round(median(parts.toLaunch)),
        runs: parts.toLaunch.length,
        note: `runnerMode: ${[...new Set(parts.modes)]
          .map(m => `${m} ${parts.modes.filter(x => x === m).length}`)
          .join(', ')}`
      },
      {
        what: '  of which: launch -> `done` event (runner forked or started, cell, end)',
        median_ms: round(median(parts.jobRun)),
        runs: parts.jobRun.length
      },
      {
        what: '  of which: `done` event -> runCell resolved (bridge)',
        median_ms: round(median(parts.afterDone)),
        runs: parts.afterDone.length
      },
      {
        what: 'floor: spawn `<venv2>/bin/python -c pass` locally',
        median_ms: round(median(floorLocal)),
        p90_ms: round(p90(floorLocal)),
        runs: WARM_RUNS
      },
      {
        what: 'first cell on a fresh host, ssh (connect, upload, VENV1, VENV2)',
        median_ms: round(firstSsh),
        runs: 1
      },
      {
        what: 'first cell on a fresh host, local (upload, VENV1, VENV2)',
        median_ms: round(firstLocal),
        runs: 1
      },
      {
        what: 'first cell on a new connection, host already prepared (ssh)',
        median_ms: round(reconnectSsh),
        runs: 1
      }
    );

    // Throughput: a cell printing LINES lines vs the same program over plain ssh.
    const program = `import sys\nw = sys.stdout.write\nfor i in range(${LINES}):\n    w("line %d\\n" % i)`;
    let sinkLines = 0;
    const [cellSsh] = await timeRuns(1, async () => {
      const sink = await cell(m, 'ssh', program);
      sinkLines = sink.lines;
    });
    const [cellLocal] = await timeRuns(
      1,
      async () => void (await cell(m, 'local', program))
    );
    const [plainSsh] = await timeRuns(
      1,
      async () =>
        void (await run('ssh', [
          '-F',
          sshConfig,
          'cb-target',
          `${shellQuote(sshPy)} -c ${shellQuote(program)}`
        ]))
    );
    const [plainSsh2] = await timeRuns(
      1,
      async () =>
        void (await ssh2Exec(
          client,
          `${shellQuote(sshPy)} -c ${shellQuote(program)}`
        ))
    );
    rows.push(
      {
        what: `cell printing ${LINES} lines, ssh`,
        median_ms: round(cellSsh),
        runs: 1,
        floor: 'plain ssh, same program',
        ratio: round(cellSsh / plainSsh),
        note: `${Math.round(LINES / (cellSsh / 1000))} lines/s; ${sinkLines} lines arrived`
      },
      {
        what: `cell printing ${LINES} lines, local`,
        median_ms: round(cellLocal),
        runs: 1,
        note: `${Math.round(LINES / (cellLocal / 1000))} lines/s`
      },
      {
        what: 'floor: plain `ssh host python -c ...` (OpenSSH), same program',
        median_ms: round(plainSsh),
        runs: 1,
        note: `${Math.round(LINES / (plainSsh / 1000))} lines/s`
      },
      {
        what: 'floor: ssh2 exec, same program',
        median_ms: round(plainSsh2),
        runs: 1,
        note: `${Math.round(LINES / (plainSsh2 / 1000))} lines/s`
      }
    );
    client.end();
    await m.dispose();
  } finally {
    await run('ssh', [
      '-F',
      sshConfig,
      '-o',
      `ControlPath=${control}`,
      '-O',
      'exit',
      'cb-target'
    ]).catch(() => undefined);
    // Clean the remote and local work dirs of this run.
    fs.rmSync(path.join(facts.SSHD_HOME, remoteWork.slice(2)), {
      recursive: true,
      force: true
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const lines = [
    '| measurement | median ms | p90 ms | runs | vs floor | note |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map(
      r =>
        `| ${r.what} | ${r.median_ms} | ${r.p90_ms ?? ''} | ${r.runs} | ${r.ratio !== undefined ? `${r.ratio}x ${r.floor}` : ''} | ${r.note ?? ''} |`
    )
  ];
  console.log(lines.join('\n'));
  const out = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'cell.json'),
    JSON.stringify(
      {
        bench: 'cell',
        date: new Date().toISOString(),
        host: os.hostname(),
        cpus: os.cpus().length,
        quick: QUICK,
        rows
      },
      null,
      2
    )
  );
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
