/**
 * An interrupt while `--in` values travel (uploadVars over the test sshd):
 * a large value goes on an SFTP channel of its own, which the abort ends
 * mid-file; the half-sent folder is removed, and the connection's shared
 * SFTP channel carries the next upload as before.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  uploadVars,
  UploadInterrupted
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

describe('an interrupt during an --in upload', () => {
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
    expect(outcome).toBeInstanceOf(UploadInterrupted);
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
});
