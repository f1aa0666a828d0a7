/**
 * Variables bench: `--in` of a 1 GB float64 array to the test sshd and
 * `--out` of it back, end to end (export in a Python "notebook kernel", the
 * cell in a session, the import) and the transfer part alone
 * (src/bridge/data/varsTransfer.ts), side by side with `scp`, `scp -C` of
 * the same file and raw ssh2 fastPut/fastGet (library defaults) over the
 * same sshd, in one run. Two arrays: np.ones, which deflates (the bridge
 * sends it as zblocks), and uniform random floats, which do not (sent as
 * is). Needs scripts/services/sshd.sh.
 *   npx tsc -p bench/tsconfig.json && node bench/build/bench/vars.js
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  exportStep,
  readManifest,
  varsFolders
} from '../src/bridge/data/varsLocal';
import {
  downloadVars,
  makeRemoteDir,
  removeRemote,
  uploadVars
} from '../src/bridge/data/varsTransfer';
import {
  benchManager,
  scpArgs as scpOptions,
  sshdCluster,
  sshdService,
  ssh2Client,
  TextSink,
  writeResult
} from './support';
import { shellQuote } from '../src/bridge/util/quote';

const PYTHON = '/usr/bin/python3';
const RUNTIME = path.resolve(__dirname, '../../../src/runtime');
const ELEMENTS = 125_000_000; // 1 GB of float64

async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return [value, Number(process.hrtime.bigint() - t0) / 1e9];
}

/** Runs Python code in a fresh interpreter with `globals` prepared by `setup`. */
function python(setup: string, code: string): number {
  const script =
    `import time\n${setup}\nt0 = time.time()\n` +
    `exec(${JSON.stringify(code)}, globals())\nprint(time.time() - t0)\n`;
  const out = execFileSync(PYTHON, ['-c', script], {
    encoding: 'utf8',
    maxBuffer: 1 << 20
  });
  return Number(out.trim().split('\n').pop());
}

/** The arrays: one that deflates (the bridge sends it as zblocks), one that does not. */
const ARRAYS: { [label: string]: string } = {
  ones: `np.ones(${ELEMENTS})`,
  random: `np.random.default_rng(0).random(${ELEMENTS})`
};

/**
 * Transfer alone for one array, all peers over the same sshd, each way:
 * our module, scp, scp -C (zlib in ssh), raw ssh2 fastPut/fastGet.
 */
async function transferRows(
  label: string,
  expr: string,
  ctx: {
    manager: ReturnType<typeof benchManager>;
    folders: ReturnType<typeof varsFolders>;
    facts: { [key: string]: string };
    workDir: string;
    dir: string;
  }
): Promise<{ [name: string]: number }> {
  const { manager, folders, facts, workDir, dir } = ctx;
  const rows: { [name: string]: number } = {};
  const mbps = (seconds: number) => Math.round(1000 / seconds);
  const inDir = await folders.create();
  rows.exportSeconds = python(
    `import numpy as np\na = ${expr}`,
    exportStep(['a'], inDir).code
  );
  const file = path.join(inDir, readManifest(inDir).vars[0].file);

  const open = await manager.open(manager.registry.resolve('b'));
  const remote = `${workDir}/vars/bench-in`;
  const manifest = readManifest(inDir);
  // With a signal, as a cell sends: large values go on an SFTP channel of their own.
  const [, up] = await timed(() =>
    uploadVars(open, inDir, manifest, remote, new AbortController().signal)
  );
  await removeRemote(open.transport, remote);
  rows.bridgeUpMBps = mbps(up);
  // Without one, on the connection's shared channel: what the own channel costs.
  const [, upShared] = await timed(() =>
    uploadVars(open, inDir, manifest, remote)
  );
  await removeRemote(open.transport, remote);
  rows.bridgeUpSharedMBps = mbps(upShared);

  const scpArgs = scpOptions(facts);
  const target = `${facts.SSHD_USER}@${facts.SSHD_HOST}:${workDir}/scp.npy`;
  const [, scpUp] = await timed(() =>
    execFileSync('scp', [...scpArgs, file, target])
  );
  const [, scpDown] = await timed(() =>
    execFileSync('scp', [...scpArgs, target, path.join(dir, 'scp.npy')])
  );
  const [, scpCUp] = await timed(() =>
    execFileSync('scp', ['-C', ...scpArgs, file, target])
  );
  fs.rmSync(path.join(dir, 'scp.npy'));
  rows.scpUpMBps = mbps(scpUp);
  rows.scpDownMBps = mbps(scpDown);
  rows.scpCompressedUpMBps = mbps(scpCUp);

  // Raw ssh2 fastPut/fastGet with the library's defaults, own connection.
  const client = await ssh2Client(facts);
  const sftp = await new Promise<any>((resolve, reject) =>
    client.sftp((err, s) => (err ? reject(err) : resolve(s)))
  );
  // Into a folder laid out as the runtime writes --out values (raw .npy), for the download.
  const outDir = `${workDir}/vars/bench-out`;
  await makeRemoteDir(open.transport, outDir);
  const raw = `${outDir}/${path.basename(file)}`;
  const [, putS] = await timed(
    () =>
      new Promise<void>((resolve, reject) =>
        sftp.fastPut(file, raw, (e: Error) => (e ? reject(e) : resolve()))
      )
  );
  const [, getS] = await timed(
    () =>
      new Promise<void>((resolve, reject) =>
        sftp.fastGet(raw, path.join(dir, 'raw.npy'), (e: Error) =>
          e ? reject(e) : resolve()
        )
      )
  );
  await new Promise<void>((resolve, reject) =>
    sftp.fastPut(
      path.join(inDir, 'manifest.json'),
      `${outDir}/manifest.json`,
      (e: Error) => (e ? reject(e) : resolve())
    )
  );
  client.end();
  fs.rmSync(path.join(dir, 'raw.npy'));
  const back = await folders.create();
  const [, down] = await timed(() => downloadVars(open, outDir, back));
  await folders.remove(back);
  rows.bridgeDownMBps = mbps(down);
  await removeRemote(open.transport, outDir);
  await open.transport.exec(`rm -f ${workDir}/scp.npy`);
  await folders.remove(inDir);
  rows.fastPutMBps = mbps(putS);
  rows.fastGetMBps = mbps(getS);

  // --out as a whole: the runner's dump (deflated where it pays), the download,
  // the notebook's decode; against np.save there, scp back, np.load here.
  const remotePython = async (code: string): Promise<number> => {
    const script =
      `import sys, time\nsys.path.insert(0, ${JSON.stringify(open.runtime.runtimeDir)})\n` +
      `import numpy as np, _cb_vars\na = ${expr}\nt0 = time.time()\n${code}\n` +
      'print(time.time() - t0)\n';
    const r = await open.transport.exec(`${PYTHON} -c ${shellQuote(script)}`);
    if (r.code !== 0) {
      throw new Error(`remote python failed: ${r.stderr}`);
    }
    return Number(r.stdout.trim().split('\n').pop());
  };
  const dumped = `${workDir}/vars/bench-dump`;
  await makeRemoteDir(open.transport, dumped);
  const dumpS = await remotePython(
    `_cb_vars.dump({'a': a}, ['a'], ${JSON.stringify(dumped)}, deflate=True)`
  );
  const landed = await folders.create();
  // With a signal, as a cell fetches: large values on an SFTP channel of their own.
  const [, fetchS] = await timed(() =>
    downloadVars(open, dumped, landed, new AbortController().signal)
  );
  const decodeS = python(
    `import sys\nsys.path.insert(0, ${JSON.stringify(RUNTIME)})\nimport _cb_vars`,
    `_cb_vars.load(${JSON.stringify(landed)})`
  );
  await folders.remove(landed);
  await removeRemote(open.transport, dumped);
  const peerFile = `${workDir}/peer.npy`;
  const saveS = await remotePython(`np.save(${JSON.stringify(peerFile)}, a)`);
  const [, scpBackS] = await timed(() =>
    execFileSync('scp', [
      ...scpArgs,
      `${facts.SSHD_USER}@${facts.SSHD_HOST}:${peerFile}`,
      path.join(dir, 'peer.npy')
    ])
  );
  const loadS = python(
    'import numpy as np',
    `np.load(${JSON.stringify(path.join(dir, 'peer.npy'))})`
  );
  fs.rmSync(path.join(dir, 'peer.npy'));
  await open.transport.exec(`rm -f ${shellQuote(peerFile)}`);
  const round = (x: number) => Math.round(x * 100) / 100;
  rows.outSeconds = round(dumpS + fetchS + decodeS);
  rows.outDumpSeconds = round(dumpS);
  rows.outFetchSeconds = round(fetchS);
  rows.outDecodeSeconds = round(decodeS);
  rows.peerSaveSeconds = round(saveS);
  rows.peerScpSeconds = round(scpBackS);
  rows.peerLoadSeconds = round(loadS);
  rows.peerOutSeconds = round(saveS + scpBackS + loadS);
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  const result = {
    ...rows,
    upVsScp: ratio(rows.bridgeUpMBps, rows.scpUpMBps),
    upVsScpCompressed: ratio(rows.bridgeUpMBps, rows.scpCompressedUpMBps),
    downVsScp: ratio(rows.bridgeDownMBps, rows.scpDownMBps),
    upVsFastPut: ratio(rows.bridgeUpMBps, rows.fastPutMBps),
    downVsFastGet: ratio(rows.bridgeDownMBps, rows.fastGetMBps),
    outVsScp: ratio(rows.peerOutSeconds, rows.outSeconds)
  };
  console.log(label, JSON.stringify(result));
  return result;
}

async function main(): Promise<void> {
  const facts = sshdService();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bench-vars-'));
  process.env.CLUSTER_BRIDGE_STATE_DIR = path.join(dir, 'state');
  const workDir = `${facts.SSHD_HOME}/cb-bench-vars`;
  const manager = benchManager(dir, { b: sshdCluster(facts, workDir) });
  const folders = varsFolders();
  const rows: { [name: string]: number } = {};
  const transfers: { [label: string]: { [name: string]: number } } = {};
  try {
    const ctx = { manager, folders, facts, workDir, dir };
    for (const [label, expr] of Object.entries(ARRAYS)) {
      transfers[label] = await transferRows(label, expr, ctx);
    }
    rows.bytes = ELEMENTS * 8 + 128;

    // End to end: the cell with --in a --out a in a session (the folder is sent again).
    for (const [label, expr] of Object.entries(ARRAYS)) {
      const again = await folders.create();
      const exportSeconds = python(
        `import numpy as np\na = ${expr}`,
        exportStep(['a'], again).code
      );
      const sink = new TextSink();
      const [outcome, cell] = await timed(() =>
        manager.runCell({
          request: { cluster: 'b', inVars: ['a'], outVars: ['a'] },
          code: 'a[0] = 2.0',
          lineOffset: 1,
          sink,
          notebook: '/bench/vars.ipynb',
          vars: { inDir: again, out: ['a'] },
          signal: new AbortController().signal
        })
      );
      if (outcome.status !== 'ok' || !outcome.varsOut) {
        throw new Error(`the cell failed: ${sink.errors.join('; ')}`);
      }
      const importSeconds = python(
        'g = {}',
        outcome.varsOut.code.replace('globals()', 'g')
      );
      const round = (x: number) => Math.round(x * 100) / 100;
      rows[`${label}ExportSeconds`] = round(exportSeconds);
      rows[`${label}CellSeconds`] = round(cell);
      rows[`${label}ImportSeconds`] = round(importSeconds);
      rows[`${label}EndToEndSeconds`] = round(
        exportSeconds + cell + importSeconds
      );
    }
    await manager.sessions.stopNotebook('/bench/vars.ipynb');
    const result = { ...rows, transfers };
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${writeResult('vars', result)}`);
  } finally {
    await manager
      .open(manager.registry.resolve('b'))
      .then(o => o.transport.exec(`rm -rf ${workDir}`))
      .catch(() => undefined);
    await manager.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
