/**
 * Files bench: `%cluster put` and `%cluster get` of a 1 GB file to and from
 * the test sshd through the real command (src/bridge/kernel/transferCommands.ts:
 * resumable, sidecar records, progress), side by side with `scp` of the same
 * file and raw ssh2 fastPut/fastGet (library defaults, and the copier's
 * chunk size and concurrency) over the same sshd, in one run: interleaved
 * rounds, the best of each kept (the machine is shared).
 * Needs scripts/services/sshd.sh.
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/transfer-files.js
 */
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { SFTPWrapper, TransferOptions } from 'ssh2';

import { CHUNK_SIZE, CONCURRENCY } from '../src/bridge/data/transferCopy';
import type { IExecuteContext } from '../src/bridge/kernel/handler';
import type { IKernelServices } from '../src/bridge/kernel/services';
import { transferCommand } from '../src/bridge/kernel/transferCommands';
import type { IMessage } from '../src/bridge/kernel/wire';
import {
  benchManager,
  scpArgs as scpOptions,
  sshdCluster,
  sshdService,
  ssh2Client,
  TextSink,
  writeResult
} from './support';

const BYTES = 1_000_000_000;
const ROUNDS = 2;

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const facts = sshdService();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bench-files-'));
  const workDir = `${facts.SSHD_HOME}/cb-bench-files`;
  const manager = benchManager(dir, { b: sshdCluster(facts, workDir) });
  const mbps = (seconds: number) => Math.round(BYTES / 1e6 / seconds);
  const rows: { [name: string]: number } = {};
  const file = path.join(dir, 'one.bin');
  try {
    // 1 GB of random bytes (nothing compresses), written in 64 MiB pieces.
    const fd = fs.openSync(file, 'w');
    for (let done = 0; done < BYTES;) {
      const n = Math.min(64 * 1024 * 1024, BYTES - done);
      fs.writeSync(fd, randomBytes(n));
      done += n;
    }
    fs.closeSync(fd);

    const services: IKernelServices = {
      clusters: manager.registry,
      jobs: {} as never,
      openCluster: name => manager.prepareCluster(name)
    };
    await services.openCluster!('b');
    const ctx = (sink: TextSink): IExecuteContext => ({
      code: '',
      executionCount: 1,
      silent: false,
      storeHistory: true,
      allowStdin: false,
      signal: new AbortController().signal,
      sink,
      prompter: { ask: () => Promise.reject(new Error('no prompts')) },
      request: { metadata: {} } as unknown as IMessage
    });
    const command = async (cmd: 'put' | 'get', args: string[]) => {
      const sink = new TextSink();
      const r = await transferCommand(
        services,
        ctx(sink),
        cmd,
        ['b', ...args],
        {
          notebook: path.join(dir, 'bench.ipynb')
        }
      );
      if (r.status !== 'ok') {
        throw new Error(`${cmd} failed: ${sink.errors.join('; ')}`);
      }
      return sink.stdout;
    };
    const back = path.join(dir, 'back.bin');
    const ours = {
      putMBps: () => command('put', ['one.bin']),
      getMBps: async () => {
        // A get over a complete copy would be skipped (same size and time).
        fs.rmSync(back, { force: true });
        await command('get', ['one.bin', back]);
        if (fs.statSync(back).size !== BYTES) {
          throw new Error('get brought back a different size');
        }
      }
    };
    const removeRemoteCopy = () =>
      manager
        .open(manager.registry.resolve('b'))
        .then(o => o.transport.exec(`rm -f '${workDir}/files/one.bin'`));

    // scp of the same file, both ways.
    const scpArgs = scpOptions(facts);
    const target = `${facts.SSHD_USER}@${facts.SSHD_HOST}:${workDir}/scp.bin`;

    // Raw ssh2 fastPut/fastGet on a connection of their own.
    const client = await ssh2Client(facts);
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((err, s) => (err ? reject(err) : resolve(s)))
    );
    const raw = `${workDir}/raw.bin`;
    const local = path.join(dir, 'raw.bin');
    const xfer = (
      op: 'fastPut' | 'fastGet',
      options: TransferOptions
    ): Promise<void> =>
      new Promise((resolve, reject) => {
        const [a, b] = op === 'fastPut' ? [file, raw] : [raw, local];
        sftp[op](a, b, options, (e: Error | null | undefined) =>
          e ? reject(e) : resolve()
        );
      });
    const same = { concurrency: CONCURRENCY, chunkSize: CHUNK_SIZE };
    const runs: { [name: string]: () => Promise<unknown> | unknown } = {
      putMBps: async () => {
        await removeRemoteCopy();
        return ours.putMBps();
      },
      getMBps: ours.getMBps,
      scpUpMBps: () => execFileSync('scp', [...scpArgs, file, target]),
      scpDownMBps: () =>
        execFileSync('scp', [...scpArgs, target, path.join(dir, 'scp.bin')]),
      fastPutDefaultMBps: () => xfer('fastPut', {}),
      fastGetDefaultMBps: () => xfer('fastGet', {}),
      fastPutSameChunksMBps: () => xfer('fastPut', same),
      fastGetSameChunksMBps: () => xfer('fastGet', same)
    };
    // The machine is shared: every measurement ROUNDS times, interleaved, the best kept.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of Object.entries(runs)) {
        const rate = mbps(await timed(run));
        rows[name] = Math.max(rows[name] ?? 0, rate);
        console.log(`round ${round + 1}: ${name} ${rate}`);
      }
    }
    client.end();
    fs.rmSync(local);
    fs.rmSync(path.join(dir, 'scp.bin'));
    const result = {
      bytes: BYTES,
      ...rows,
      putVsScp: Math.round((rows.putMBps / rows.scpUpMBps) * 100) / 100,
      getVsScp: Math.round((rows.getMBps / rows.scpDownMBps) * 100) / 100,
      putVsFastPut:
        Math.round((rows.putMBps / rows.fastPutSameChunksMBps) * 100) / 100,
      getVsFastGet:
        Math.round((rows.getMBps / rows.fastGetSameChunksMBps) * 100) / 100
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${writeResult('transfer-files', result)}`);
  } finally {
    await manager
      .open(manager.registry.resolve('b'))
      .then(o => o.transport.exec(`rm -rf '${workDir}'`))
      .catch(() => undefined);
    await manager.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
