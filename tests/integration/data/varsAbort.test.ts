/**
 * An interrupt while `--in` or `--out` values travel (uploadVars and
 * downloadVars over the test sshd): a large value goes on an SFTP channel of
 * its own, which the abort ends mid-file; the half-sent folder is removed,
 * and the connection's shared SFTP channel carries the next transfer as
 * before.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  downloadVars,
  uploadVars,
  VarsInterrupted
} from '../../../src/bridge/data/varsTransfer';
import type { IOpenCluster } from '../../../src/bridge/jobs/context';
import type { IResolvedCluster } from '../../../src/shared/config';
import type { IVarsManifest } from '../../../src/shared/data';
import type { SshTransport } from '../../../src/bridge/transport/ssh';
import { loadSshdEnv, targetTransport } from '../transport/sshdEnv';

const BIG = 256 << 20;

function manifestOf(file: string, bytes: number): IVarsManifest {
  return {
    python: '3.11.2',
    libraries: {},
    pickleProtocol: 4,
    vars: [{ name: 'x', format: 'pickle', file, bytes, type: 'bytes' }]
  };
}

describe('an interrupt while values travel', () => {
  const env = loadSshdEnv();
  let transport: SshTransport;
  let open: IOpenCluster;
  let local: string;
  let remoteBase: string;

  beforeAll(async () => {
    transport = targetTransport(env);
    await transport.connect();
    remoteBase = `/tmp/cb-upload-abort-${process.pid}`;
    open = {
      cluster: { name: 'itest', config: {} } as unknown as IResolvedCluster,
      transport,
      runtime: {} as IOpenCluster['runtime'],
      agent: {} as IOpenCluster['agent']
    };
    local = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-upload-abort-'));
    // Random bytes: no deflate, one fastPut of the whole file.
    const out = fs.openSync(path.join(local, 'big.bin'), 'w');
    for (let at = 0; at < BIG; at += 16 << 20) {
      fs.writeSync(out, randomBytes(16 << 20));
    }
    fs.closeSync(out);
    fs.writeFileSync(path.join(local, 'small.bin'), 'hello');
  });

  afterAll(async () => {
    await transport.exec(`rm -rf ${remoteBase}-*`);
    await transport.close();
    fs.rmSync(local, { recursive: true, force: true });
  });

  const remoteSize = async (file: string): Promise<number> => {
    const r = await transport.exec(`stat -c %s ${file} 2>/dev/null || echo -1`);
    return Number(r.stdout.trim());
  };

  it('stops mid-file, removes the folder, and leaves the shared channel working', async () => {
    const dir = `${remoteBase}-a`;
    const abort = new AbortController();
    const upload = uploadVars(
      open,
      local,
      manifestOf('big.bin', BIG),
      dir,
      abort.signal
    );
    const settled = upload.then(
      () => 'resolved',
      err => err
    );
    // Abort once the file has begun to arrive; then watch how far it gets.
    while ((await remoteSize(`${dir}/big.bin`)) <= 0) {
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    abort.abort();
    let most = 0;
    let done = false;
    void settled.then(() => (done = true));
    while (!done) {
      most = Math.max(most, await remoteSize(`${dir}/big.bin`));
    }
    const outcome = await settled;
    expect(outcome).toBeInstanceOf(VarsInterrupted);
    expect((outcome as Error).message).toBe(
      'interrupted while sending the values'
    );
    // Cut mid-file: the whole value never arrived.
    expect(most).toBeLessThan(BIG);
    expect(await remoteSize(dir)).toBe(-1);

    // The connection's shared channel was not the one ended: the next upload works.
    const next = `${remoteBase}-b`;
    await uploadVars(open, local, manifestOf('small.bin', 5), next);
    const sent = await transport.exec(`cat ${next}/small.bin`);
    expect(sent.stdout).toBe('hello');
    expect(
      JSON.parse((await transport.exec(`cat ${next}/manifest.json`)).stdout)
        .vars[0].name
    ).toBe('x');
  }, 120000);

  it('stops an --out fetch mid-file, leaving the shared channel working', async () => {
    const dir = `${remoteBase}-c`;
    await uploadVars(open, local, manifestOf('big.bin', BIG), dir);
    const into = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-fetch-abort-'));
    try {
      const abort = new AbortController();
      const fetched = path.join(into, 'big.bin');
      const settled = downloadVars(open, dir, into, abort.signal).then(
        () => 'resolved',
        err => err
      );
      while (!fs.existsSync(fetched) || fs.statSync(fetched).size === 0) {
        await new Promise(resolve => setTimeout(resolve, 5));
      }
      abort.abort();
      const outcome = await settled;
      expect(outcome).toBeInstanceOf(VarsInterrupted);
      expect((outcome as Error).message).toBe(
        'interrupted while fetching the --out values: nothing was set'
      );
      // Cut mid-file, and never marked complete.
      expect(fs.statSync(fetched).size).toBeLessThan(BIG);
      expect(fs.existsSync(path.join(into, 'manifest.json'))).toBe(false);
      // The shared channel still fetches.
      const again = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-fetch-again-'));
      try {
        const small = `${remoteBase}-d`;
        await uploadVars(open, local, manifestOf('small.bin', 5), small);
        await downloadVars(open, small, again);
        expect(fs.readFileSync(path.join(again, 'small.bin'), 'utf8')).toBe(
          'hello'
        );
      } finally {
        fs.rmSync(again, { recursive: true, force: true });
      }
    } finally {
      fs.rmSync(into, { recursive: true, force: true });
    }
  }, 120000);
});
