/**
 * bench/soak.ts: CELLS `%%cluster` cells in a row through one real bridge
 * kernel (bin/cluster-bridge kernel, built lib/), driven by jupyter_client
 * (Debian python3-jupyter-client) as Jupyter drives it, each cell on the test
 * user over the real sshd. At cell 20 and at the last cell the kernel is
 * measured while idle: RSS, its child processes, its TCP connections to
 * sshd, the processes under the sshd serving it (open exec channels) and the
 * test user's processes in the soak's work dir. Goal: RSS flat within 10%
 * from cell 20 to the last, and nothing more left over at the end than at 20.
 *
 * Plain RSS grows while V8 lets garbage pile up before a major GC (measured
 * here: +15% from cell 20 to 200, back down later); --gc measures after a
 * full GC, where RSS and the live heap are the figures to compare.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/soak.js [--quick] [--gc] [--cells=N] [--heap=DIR]
 */
import { type ChildProcess, execFileSync, spawn } from 'child_process';
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import WebSocket from 'ws';

import { writeConnectionFile } from '../tests/integration/kernel/connection';
import {
  childrenOf,
  ROOT,
  rssMiB,
  sshdCluster,
  sshdServing,
  sshdService,
  tcpConnections,
  writeResult
} from './support';

const QUICK = process.argv.includes('--quick');
const CELLS = Number(
  process.argv.find(a => a.startsWith('--cells='))?.slice(8) ??
    (QUICK ? 40 : 200)
);
const FIRST_SAMPLE = 20;
/** --heap=DIR: V8 heap snapshots of the kernel at cell 20 and at the last cell, into DIR. */
const HEAP_DIR = process.argv.find(a => a.startsWith('--heap='))?.slice(7);
/**
 * --gc: each sample after a full garbage collection, with the JS heap in use
 * (through the kernel's inspector): tells a leak (live heap grows) from V8
 * growing its heap lazily (RSS grows, live heap flat).
 */
const AFTER_GC = process.argv.includes('--gc');

/** Runs the cells one by one; at each sample it prints `at N` and waits for a line on stdin. */
const DRIVER = `
import json, sys
from jupyter_client import BlockingKernelClient
conn, cells, samples = sys.argv[1], int(sys.argv[2]), set(json.loads(sys.argv[3]))
kc = BlockingKernelClient(connection_file=conn)
kc.load_connection_file()
kc.start_channels()
kc.wait_for_ready(timeout=120)
failures = []
for i in range(1, cells + 1):
    out = []
    def keep(msg):
        kind = msg['header']['msg_type']
        if kind == 'stream' and msg['content']['name'] == 'stdout':
            out.append(msg['content']['text'])
        elif kind == 'error':
            out.append('%s: %s' % (msg['content']['ename'], msg['content']['evalue']))
    reply = kc.execute_interactive('%%cluster soak\\nprint("cell ' + str(i) + '")', timeout=300,
                                   output_hook=keep)
    if reply['content']['status'] != 'ok' or ''.join(out) != 'cell %d\\n' % i:
        failures.append({'cell': i, 'status': reply['content']['status'], 'out': ''.join(out)[:200]})
    if i in samples:
        print('at %d' % i, flush=True)
        sys.stdin.readline()
print('failures ' + json.dumps(failures), flush=True)
# Shut the kernel down on purpose, as Jupyter does: its sessions end with it.
kc.shutdown()
kc.stop_channels()
`;

interface ISample {
  cell: number;
  /** JS heap in use after a full GC (--gc only). */
  heapUsedMiB?: number;
  rssMiB: number;
  kernelChildren: string[];
  connectionsToSshd: number;
  processesUnderSshd: string[];
  remoteProcesses: string[];
}

function remoteProcesses(user: string, workDirName: string): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-u', user, '-f', workDirName], {
      encoding: 'utf8'
    })
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep: none
  }
}

async function main(): Promise<void> {
  const entry = path.join(ROOT, 'lib', 'node', 'bridge', 'cli', 'main.js');
  if (!fs.existsSync(entry)) {
    throw new Error('lib/ is missing: npm run build:bridge first');
  }
  const facts = sshdService();
  const port = Number(facts.SSHD_PORT);
  const dir = fs.mkdtempSync(path.join(ROOT, '.cache', 'bench-soak-'));
  const workDirName = `.cb-bench-soak-${process.pid}`;
  const clusters = path.join(dir, 'clusters.json');
  fs.writeFileSync(
    clusters,
    JSON.stringify({
      clusters: { soak: sshdCluster(facts, `~/${workDirName}`) }
    })
  );
  const connectionFile = path.join(dir, 'kernel.json');
  await writeConnectionFile(connectionFile, randomUUID());
  const kernel = spawn(
    process.execPath,
    [
      ...(AFTER_GC ? ['--inspect=127.0.0.1:0'] : []),
      path.join(ROOT, 'bin', 'cluster-bridge'),
      'kernel',
      '-f',
      connectionFile
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        CLUSTER_BRIDGE_CONFIG: clusters,
        CLUSTER_BRIDGE_STATE_DIR: path.join(dir, 'state'),
        ...(HEAP_DIR
          ? {
              NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${path.resolve(HEAP_DIR)}`
            }
          : {}),
        HOME: dir // no ~/.ssh/config or settings of this machine
      }
    }
  );
  let kernelLog = '';
  kernel.stderr!.on('data', d => (kernelLog = (kernelLog + d).slice(-4000)));
  const pid = kernel.pid!;
  let inspector: Private.Inspector | undefined;

  const sample = async (cell: number): Promise<ISample> => ({
    cell,
    ...(await Private.collect(
      (inspector ??= AFTER_GC
        ? await Private.Inspector.open(() => kernelLog)
        : undefined)
    )),
    rssMiB: rssMiB(pid),
    kernelChildren: childrenOf(pid).map(c => c.command),
    connectionsToSshd: tcpConnections().filter(
      c => c.peerPort === port && c.pids.includes(pid)
    ).length,
    processesUnderSshd: Private.underSshd(sshdServing(pid, port)),
    remoteProcesses: remoteProcesses(facts.SSHD_USER, workDirName)
  });

  const samples: ISample[] = [];
  let failures: unknown[] = [];
  const t0 = performance.now();
  try {
    const driver = spawn(
      '/usr/bin/python3',
      [
        '-c',
        DRIVER,
        connectionFile,
        String(CELLS),
        JSON.stringify(Private.sampleAt(CELLS))
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] }
    );
    const lines = readline.createInterface({ input: driver.stdout! });
    for await (const line of lines) {
      const at = /^at (\d+)$/.exec(line);
      if (at) {
        // Idle a moment, as between a person's cells, so the sample is the kernel at rest.
        await new Promise(resolve => setTimeout(resolve, 1000));
        samples.push(await sample(Number(at[1])));
        if (HEAP_DIR && [FIRST_SAMPLE, CELLS].includes(Number(at[1]))) {
          kernel.kill('SIGUSR2');
          await new Promise(resolve => setTimeout(resolve, 5000));
        }
        const x = samples[samples.length - 1];
        process.stderr.write(
          `cell ${x.cell}: RSS ${x.rssMiB} MiB${x.heapUsedMiB !== undefined ? `, heap ${x.heapUsedMiB} MiB` : ''}, ${x.remoteProcesses.length} remote process(es)\n`
        );
        driver.stdin!.write('\n');
      } else if (line.startsWith('failures ')) {
        failures = JSON.parse(line.slice('failures '.length));
      }
    }
    const code = await new Promise(resolve => driver.once('close', resolve));
    if (code !== 0) {
      throw new Error(`driver exited ${code}; kernel said: ${kernelLog}`);
    }
    await Private.exited(kernel, 30_000);
  } finally {
    inspector?.close();
    if (kernel.exitCode === null) {
      kernel.kill('SIGKILL');
      await Private.exited(kernel, 5000);
    }
  }
  // A session's process ends shortly after the kernel's shutdown reached it.
  const afterExit = await Private.settled(() =>
    remoteProcesses(facts.SSHD_USER, workDirName)
  );
  // Whatever is left is this bench's own: end it before removing the work dir.
  for (const line of afterExit) {
    try {
      process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  execFileSync('rm', ['-rf', path.join(facts.SSHD_HOME, workDirName)]);
  fs.rmSync(dir, { recursive: true, force: true });

  const first = samples.find(x => x.cell === FIRST_SAMPLE)!;
  const last = samples[samples.length - 1];
  const growth = (last.rssMiB - first.rssMiB) / first.rssMiB;
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    [
      `| ${CELLS} cells through one kernel (real sshd, jupyter_client) | at cell ${first.cell} | at cell ${last.cell} |`,
      '|---|---:|---:|',
      `| kernel RSS (MiB${AFTER_GC ? ', after a full GC' : ''}) | ${first.rssMiB} | ${last.rssMiB} (${(growth * 100).toFixed(1)}%) |`,
      `| kernel RSS along the run (MiB) | | ${samples.map(x => `${x.cell}: ${x.rssMiB}`).join(', ')} |`,
      ...(AFTER_GC
        ? [
            `| JS heap in use after a full GC (MiB) | ${first.heapUsedMiB} | ${last.heapUsedMiB} (${(((last.heapUsedMiB! - first.heapUsedMiB!) / first.heapUsedMiB!) * 100).toFixed(1)}%) |`
          ]
        : []),
      `| kernel child processes | ${first.kernelChildren.length} | ${last.kernelChildren.length} |`,
      `| kernel TCP connections to sshd | ${first.connectionsToSshd} | ${last.connectionsToSshd} |`,
      `| processes under the serving sshd (open exec channels, sftp) | ${first.processesUnderSshd.length} | ${last.processesUnderSshd.length} |`,
      `| test user's processes in the work dir | ${first.remoteProcesses.length} | ${last.remoteProcesses.length} |`,
      `| cells failed or with wrong output | | ${failures.length} |`,
      `| test user's processes in the work dir after the kernel exited | | ${afterExit.length} |`,
      `| wall time | | ${seconds.toFixed(1)} s (${((seconds * 1000) / CELLS).toFixed(0)} ms/cell with the samples) |`
    ].join('\n')
  );
  writeResult('soak', {
    quick: QUICK,
    cells: CELLS,
    rssGrowth: growth,
    failures,
    samples,
    remoteProcessesAfterExit: afterExit
  });
  if (Math.abs(growth) > 0.1 || failures.length > 0) {
    process.exitCode = 1;
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});

namespace Private {
  /** The kernel's inspector (Chrome DevTools protocol over a WebSocket). */
  export class Inspector {
    private constructor(private readonly _ws: WebSocket) {
      _ws.on('message', data => {
        const msg = JSON.parse(String(data)) as {
          id?: number;
          result?: unknown;
        };
        if (msg.id !== undefined) {
          this._pending.get(msg.id)?.(msg.result);
          this._pending.delete(msg.id);
        }
      });
    }

    static async open(log: () => string): Promise<Inspector> {
      const url = /ws:\/\/\S+/.exec(log())?.[0];
      if (!url) {
        throw new Error(
          `no inspector address in the kernel's output: ${log()}`
        );
      }
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) =>
        ws.once('open', resolve).once('error', reject)
      );
      return new Inspector(ws);
    }

    call(method: string, params: object = {}): Promise<unknown> {
      const id = ++this._id;
      this._ws.send(JSON.stringify({ id, method, params }));
      return new Promise(resolve => this._pending.set(id, resolve));
    }

    close(): void {
      this._ws.close();
    }

    private _id = 0;
    private _pending = new Map<number, (result: unknown) => void>();
  }

  /** A full GC, then the heap in use; nothing without an inspector. */
  export async function collect(
    inspector: Inspector | undefined
  ): Promise<{ heapUsedMiB?: number }> {
    if (!inspector) {
      return {};
    }
    await inspector.call('HeapProfiler.collectGarbage');
    const r = (await inspector.call('Runtime.evaluate', {
      expression: 'process.memoryUsage().heapUsed',
      returnByValue: true
    })) as { result: { value: number } };
    return { heapUsedMiB: Math.round((r.result.value / 2 ** 20) * 10) / 10 };
  }

  /** Cell 20, then every tenth of the run: a leak shows as a slope, V8's warm-up as a plateau. */
  export function sampleAt(cells: number): number[] {
    const at = new Set([FIRST_SAMPLE, cells]);
    for (let i = 1; i <= 10; i++) {
      at.add(Math.max(FIRST_SAMPLE, Math.round((cells * i) / 10)));
    }
    return [...at].sort((a, b) => a - b);
  }

  /** Children of the serving sshd processes that are not themselves serving (the privsep child). */
  export function underSshd(serving: number[]): string[] {
    return serving
      .flatMap(p => childrenOf(p))
      .filter(c => !serving.includes(c.pid))
      .map(c => c.command);
  }

  export function exited(child: ChildProcess, ms: number): Promise<void> {
    return new Promise(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) {
        return resolve();
      }
      const timer = setTimeout(resolve, ms);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** What `probe` finds once it stops finding anything, or after 15 s. */
  export async function settled<T>(probe: () => T[]): Promise<T[]> {
    const deadline = Date.now() + 15_000;
    let found = probe();
    while (found.length > 0 && Date.now() < deadline) {
      await new Promise(resolve => setTimeout(resolve, 250));
      found = probe();
    }
    return found;
  }
}
