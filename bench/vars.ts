/**
 * Variables bench: `--in` of a 1 GB float64 array (np.ones) to the test
 * sshd and `--out` of it back, end to end (export in a Python "notebook
 * kernel", the cell in a session, the import) and the transfer part alone
 * (src/bridge/data/varsTransfer.ts), side by side with `scp` of the same
 * file and raw ssh2 fastPut/fastGet (library defaults) over the same sshd,
 * in one run. Needs scripts/services/sshd.sh.
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
  removeRemote,
  uploadVars
} from '../src/bridge/data/varsTransfer';
import {
  benchManager,
  sshdCluster,
  sshdService,
  ssh2Client,
  TextSink,
  writeResult
} from './support';

const PYTHON = '/usr/bin/python3';
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

async function main(): Promise<void> {
  const facts = sshdService();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-bench-vars-'));
  process.env.CLUSTER_BRIDGE_STATE_DIR = path.join(dir, 'state');
  const workDir = `${facts.SSHD_HOME}/cb-bench-vars`;
  const manager = benchManager(dir, { b: sshdCluster(facts, workDir) });
  const folders = varsFolders();
  const rows: { [name: string]: number } = {};
  const mbps = (seconds: number) => Math.round(1000 / seconds);
  try {
    // The notebook kernel's export step (np.ones made before the clock starts).
    const inDir = await folders.create();
    const step = exportStep(['a'], inDir);
    rows.exportSeconds = python(
      `import numpy as np\na = np.ones(${ELEMENTS})`,
      step.code
    );
    const file = path.join(inDir, readManifest(inDir).vars[0].file);
    const bytes = fs.statSync(file).size;

    // Transfer alone: our module, up and down.
    const open = await manager.open(manager.registry.resolve('b'));
    const remote = `${workDir}/vars/bench-in`;
    const manifest = readManifest(inDir);
    const [, up] = await timed(() => uploadVars(open, inDir, manifest, remote));
    const back = await folders.create();
    const [, down] = await timed(() => downloadVars(open, remote, back));
    await removeRemote(open.transport, remote);
    await folders.remove(back);
    rows.bridgeUpMBps = mbps(up);
    rows.bridgeDownMBps = mbps(down);

    // scp of the same file, both ways.
    const scpArgs = [
      '-q',
      '-P',
      facts.SSHD_PORT,
      '-i',
      facts.SSHD_KEY,
      '-o',
      `UserKnownHostsFile=${facts.SSHD_KNOWN_HOSTS}`,
      '-o',
      'BatchMode=yes'
    ];
    const target = `${facts.SSHD_USER}@${facts.SSHD_HOST}:${workDir}/scp.npy`;
    const [, scpUp] = await timed(() =>
      execFileSync('scp', [...scpArgs, file, target])
    );
    const [, scpDown] = await timed(() =>
      execFileSync('scp', [...scpArgs, target, path.join(dir, 'scp.npy')])
    );
    fs.rmSync(path.join(dir, 'scp.npy'));
    rows.scpUpMBps = mbps(scpUp);
    rows.scpDownMBps = mbps(scpDown);

    // Raw ssh2 fastPut/fastGet with the library's defaults, own connection.
    const client = await ssh2Client(facts);
    const sftp = await new Promise<any>((resolve, reject) =>
      client.sftp((err, s) => (err ? reject(err) : resolve(s)))
    );
    const raw = `${workDir}/raw.npy`;
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
    client.end();
    fs.rmSync(path.join(dir, 'raw.npy'));
    await open.transport.exec(`rm -f ${workDir}/raw.npy ${workDir}/scp.npy`);
    rows.fastPutMBps = mbps(putS);
    rows.fastGetMBps = mbps(getS);

    // End to end: the cell with --in a --out a in a session (the folder is sent again).
    const again = await folders.create();
    python(
      `import numpy as np\na = np.ones(${ELEMENTS})`,
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
        vars: { inDir: again, out: ['a'] }
      })
    );
    if (outcome.status !== 'ok' || !outcome.varsOut) {
      throw new Error(`the cell failed: ${sink.errors.join('; ')}`);
    }
    rows.cellSeconds = Math.round(cell * 100) / 100;
    rows.importSeconds = python(
      'g = {}',
      outcome.varsOut.code.replace('globals()', 'g')
    );
    rows.endToEndSeconds =
      Math.round(
        (rows.exportSeconds + rows.cellSeconds + rows.importSeconds) * 100
      ) / 100;
    await manager.sessions.stopNotebook('/bench/vars.ipynb');
    const result = {
      bytes,
      ...rows,
      upVsScp: Math.round((rows.bridgeUpMBps / rows.scpUpMBps) * 100) / 100,
      downVsScp:
        Math.round((rows.bridgeDownMBps / rows.scpDownMBps) * 100) / 100,
      upVsFastPut:
        Math.round((rows.bridgeUpMBps / rows.fastPutMBps) * 100) / 100,
      downVsFastGet:
        Math.round((rows.bridgeDownMBps / rows.fastGetMBps) * 100) / 100
    };
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
