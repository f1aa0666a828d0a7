/**
 * Bench: the bridge kernel beside ipykernel (Debian python3-ipykernel), in one run.
 *   - start to ready: spawn -> first kernel_info_reply (the client re-sends kernel_info
 *     until answered, as jupyter_client does)
 *   - round trip of a no-op: `%cluster help` on the bridge vs `pass` on ipykernel,
 *     execute_request -> execute_reply and idle on iopub
 *   - idle RSS of the kernel process after the round trips
 *   - for reference: a warm trivial remote cell `%%cluster local` + `pass`
 * Build and run: npx tsc -p bench/tsconfig.json && node bench/build/bench/kernel.js
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';

import {
  decode,
  encode,
  IMessage,
  makeMessage,
  newSession,
  Signer
} from '../src/bridge/kernel/wire';
import {
  IConnectionInfo,
  writeConnectionFile
} from '../tests/integration/kernel/connection';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const START_RUNS = Number(process.env.BENCH_START_RUNS ?? 5);
const WARMUP = 20;
const ROUND_TRIPS = 200;
const REMOTE_TRIPS = 20;
/** Kernels still running, killed if the bench fails half-way. */
const CHILDREN = new Set<ChildProcess>();

interface IKernelUnderTest {
  name: string;
  command: (connectionFile: string) => string[];
  noop: string;
}

const KERNELS: IKernelUnderTest[] = [
  {
    name: 'cluster-bridge',
    command: f => [
      process.execPath,
      path.join(ROOT, 'bin', 'cluster-bridge'),
      'kernel',
      '-f',
      f
    ],
    noop: '%cluster help'
  },
  {
    name: 'ipykernel',
    command: f => ['/usr/bin/python3', '-m', 'ipykernel_launcher', '-f', f],
    noop: 'pass'
  }
];

/** A minimal Jupyter client: shell (Dealer), iopub (Subscriber). */
class Client {
  constructor(
    private _conn: IConnectionInfo,
    private _signer: Signer
  ) {
    this._shell = new zmq.Dealer({ linger: 0 });
    this._iopub = new zmq.Subscriber({ linger: 0 });
  }

  async connect(): Promise<void> {
    const ip = this._conn.ip;
    this._shell.connect(`tcp://${ip}:${this._conn.shell_port}`);
    this._iopub.connect(`tcp://${ip}:${this._conn.iopub_port}`);
    this._iopub.subscribe();
    void this._loop(this._shell);
    void this._loop(this._iopub);
  }

  send(type: string, content: { [k: string]: unknown }): string {
    const msg = makeMessage(type, content, this._session);
    void this._shell.send(encode(msg, this._signer));
    return msg.header.msg_id;
  }

  /** Resolves when `predicate` matches a received message (shell or iopub). */
  wait(predicate: (m: IMessage) => boolean, ms = 60000): Promise<IMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timeout waiting (${String(predicate)})`)),
        ms
      );
      this._waiters.push({
        predicate,
        resolve: m => {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
  }

  /** Execute and wait for both the reply and the idle status. */
  async execute(code: string): Promise<IMessage> {
    const id = this.send('execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true
    });
    const reply = this.wait(
      m =>
        m.parent_header.msg_id === id && m.header.msg_type === 'execute_reply'
    );
    const idle = this.wait(
      m =>
        m.parent_header.msg_id === id &&
        m.header.msg_type === 'status' &&
        m.content.execution_state === 'idle'
    );
    const [r] = await Promise.all([reply, idle]);
    return r;
  }

  close(): void {
    this._shell.close();
    this._iopub.close();
  }

  private async _loop(socket: zmq.Dealer | zmq.Subscriber): Promise<void> {
    try {
      for await (const frames of socket) {
        const r = decode(frames, this._signer);
        if (!r.ok) {
          debug(`dropped: ${r.reason}`);
          continue;
        }
        debug(
          `got ${r.message.header.msg_type} ${JSON.stringify(r.message.content).slice(0, 50)}`
        );
        const i = this._waiters.findIndex(w => w.predicate(r.message));
        if (i >= 0) {
          const [w] = this._waiters.splice(i, 1);
          w.resolve(r.message);
        }
      }
    } catch {
      // closed
    }
  }

  private _shell: zmq.Dealer;
  private _iopub: zmq.Subscriber;
  private _session = newSession('bench');
  private _waiters: {
    predicate: (m: IMessage) => boolean;
    resolve: (m: IMessage) => void;
  }[] = [];
}

interface IStarted {
  child: ChildProcess;
  client: Client;
  startMs: number;
}

async function start(kernel: IKernelUnderTest, dir: string): Promise<IStarted> {
  const key = randomUUID();
  const file = path.join(dir, `kernel-${randomUUID()}.json`);
  const conn = await writeConnectionFile(file, key);
  const client = new Client(conn, new Signer(key));
  await client.connect();
  const [cmd, ...args] = kernel.command(file);
  const t0 = performance.now();
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, CLUSTER_BRIDGE_STATE_DIR: path.join(dir, 'state') }
  });
  CHILDREN.add(child);
  child.once('exit', () => CHILDREN.delete(child));
  child.stderr!.on(
    'data',
    d => process.env.BENCH_DEBUG && process.stderr.write(d)
  );
  // Ready as jupyter_server 1.x sees it: a kernel_info_reply and an iopub message
  // (iopub is a PUB socket: the subscription must be through before work is sent).
  // Ask, and ask again each second until answered (requests queue in the Dealer).
  let replied = false;
  let iopub = false;
  void client
    .wait(m => m.header.msg_type === 'kernel_info_reply')
    .then(() => (replied = true));
  void client
    .wait(m => m.header.msg_type === 'status', 120000)
    .then(() => (iopub = true));
  let lastAsk = -Infinity;
  while (!replied || !iopub) {
    if (performance.now() - lastAsk > (replied ? 100 : 1000)) {
      client.send('kernel_info_request', {});
      lastAsk = performance.now();
    }
    await sleep(2);
  }
  const startMs = performance.now() - t0;
  return { child, client, startMs };
}

async function stop(s: IStarted): Promise<void> {
  s.client.send('shutdown_request', { restart: false });
  const exited = new Promise(resolve => s.child.once('exit', resolve));
  await Promise.race([exited, sleep(5000)]);
  if (s.child.exitCode === null) {
    s.child.kill('SIGKILL');
  }
  s.client.close();
}

async function main(): Promise<void> {
  ensureBridgeBuilt();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bench-kernel-'));
  const results: { [kernel: string]: { [metric: string]: number } } = {};
  try {
    for (const kernel of KERNELS) {
      const starts: number[] = [];
      debug(`${kernel.name}: start`);
      for (let i = 0; i < START_RUNS; i++) {
        const s = await start(kernel, dir);
        starts.push(s.startMs);
        await stop(s);
      }
      const s = await start(kernel, dir);
      debug(`${kernel.name}: warm up`);
      for (let i = 0; i < WARMUP; i++) {
        await s.client.execute(kernel.noop);
      }
      const trips: number[] = [];
      for (let i = 0; i < ROUND_TRIPS; i++) {
        const t0 = performance.now();
        const reply = await s.client.execute(kernel.noop);
        trips.push(performance.now() - t0);
        if (reply.content.status !== 'ok') {
          throw new Error(
            `${kernel.name}: ${kernel.noop} failed: ${JSON.stringify(reply.content)}`
          );
        }
      }
      const r: { [metric: string]: number } = {
        startMedianMs: median(starts),
        noopMedianMs: median(trips),
        noopP95Ms: percentile(trips, 95)
      };
      if (kernel.name === 'cluster-bridge') {
        debug('remote cells');
        await s.client.execute('%%cluster local\npass'); // first cell builds/reuses envs
        const remote: number[] = [];
        for (let i = 0; i < REMOTE_TRIPS; i++) {
          const t0 = performance.now();
          await s.client.execute('%%cluster local\npass');
          remote.push(performance.now() - t0);
        }
        r.remoteCellMedianMs = median(remote);
      }
      await sleep(1000);
      r.idleRssMiB = rssMiB(s.child.pid!);
      results[kernel.name] = r;
      await stop(s);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const b = results['cluster-bridge'];
  const f = results['ipykernel'];
  const row = (label: string, key: string, unit: string) =>
    `| ${label} | ${fmt(b[key])} ${unit} | ${fmt(f[key])} ${unit} | ${(b[key] / f[key]).toFixed(2)}x |`;
  const lines = [
    `# Bridge kernel vs ipykernel (${os.cpus().length} cores, node ${process.version})`,
    '',
    '| metric | cluster-bridge | ipykernel (floor) | ratio |',
    '|---|---|---|---|',
    row(`start to ready (median of ${START_RUNS})`, 'startMedianMs', 'ms'),
    row(
      `no-op round trip, median of ${ROUND_TRIPS} (\`%cluster help\` vs \`pass\`)`,
      'noopMedianMs',
      'ms'
    ),
    row('no-op round trip, p95', 'noopP95Ms', 'ms'),
    row('idle RSS', 'idleRssMiB', 'MiB'),
    `| warm trivial remote cell \`%%cluster local\` + \`pass\` (median of ${REMOTE_TRIPS}) | ${fmt(b.remoteCellMedianMs)} ms | - | - |`
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const out = path.join(ROOT, 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'kernel.json'),
    JSON.stringify(
      { date: new Date().toISOString(), cores: os.cpus().length, results },
      null,
      2
    ) + '\n'
  );
}

function ensureBridgeBuilt(): void {
  const entry = path.join(ROOT, 'lib', 'node', 'bridge', 'cli', 'kernel.js');
  const src = path.join(ROOT, 'src', 'bridge', 'kernel', 'core.ts');
  if (
    !fs.existsSync(entry) ||
    fs.statSync(entry).mtimeMs < fs.statSync(src).mtimeMs
  ) {
    try {
      execFileSync(
        path.join(ROOT, 'node_modules', '.bin', 'tsc'),
        ['-p', 'tsconfig.bridge.json'],
        { cwd: ROOT }
      );
    } catch {
      // emitted despite type errors elsewhere; checked below
    }
  }
  if (!fs.existsSync(entry)) {
    throw new Error(
      'lib/node is missing: build the bridge first (npx tsc -p tsconfig.bridge.json)'
    );
  }
}

function debug(text: string): void {
  if (process.env.BENCH_DEBUG) {
    process.stderr.write(`[bench] ${text}\n`);
  }
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = parseInt(/VmRSS:\s+(\d+)/.exec(status)![1], 10);
  return kb / 1024;
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function median(values: number[]): number {
  return percentile(values, 50);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(
    sorted.length - 1,
    Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)
  );
  return sorted[i];
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v.toFixed(2);
}

main().then(
  () => process.exit(0),
  err => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    for (const child of CHILDREN) {
      child.kill('SIGKILL');
    }
    process.exit(1);
  }
);
