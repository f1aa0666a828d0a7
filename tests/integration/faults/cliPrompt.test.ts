/**
 * `cluster-bridge jobs cancel` at a terminal (a real pty, pty_run.py) when
 * the cluster's key is encrypted: the CLI asks for the passphrase, the
 * answer is not echoed, and the job on the real sshd is cancelled.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  eventually,
  mkCacheDir,
  processesMatching,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { ensureBuilt, PYTHON, ROOT, run } from '../kernel/helpers';
import { loadSshdEnv } from '../transport/sshdEnv';

mkCacheDir();

const WORK = `.cb-cli-prompt-${process.pid}`;

describe('cluster-bridge jobs at a terminal', () => {
  afterAll(() => {
    fs.rmSync(path.join(sshd().home, WORK), { recursive: true, force: true });
  });

  it("asks for an encrypted key's passphrase on the terminal and cancels the job", async () => {
    const facts = sshd();
    const env = loadSshdEnv();
    // A detached job, submitted with the plain key.
    const bed = testBed({
      enc: sshCluster(facts, { workDir: `~/${WORK}` })
    });
    const submitted = await bed.manager.runCell({
      request: { cluster: 'enc', detach: true },
      code: 'import time\ntime.sleep(300)',
      lineOffset: 1,
      sink: {
        stream: () => undefined,
        display: () => undefined,
        updateDisplay: () => undefined,
        result: () => undefined,
        error: () => undefined
      }
    });
    const jobId = submitted.job!.id;
    await bed.dispose();
    expect(
      await eventually(() => processesMatching(jobId).length > 0, 20000)
    ).toBe(true);
    // The same cluster, now reached with the passphrase-protected key.
    const config = path.join(bed.dir, 'clusters-encrypted.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        clusters: {
          enc: sshCluster(facts, {
            workDir: `~/${WORK}`,
            identityFile: env.SSHD_KEY_ENCRYPTED
          })
        }
      })
    );
    ensureBuilt();
    const childEnv: NodeJS.ProcessEnv = {
      ...process.env,
      CLUSTER_BRIDGE_CONFIG: config,
      CLUSTER_BRIDGE_STATE_DIR: bed.stateDir
    };
    delete childEnv.SSH_AUTH_SOCK;
    const result = await run(
      PYTHON,
      [
        path.join(__dirname, 'pty_run.py'),
        'passphrase',
        env.SSHD_KEY_PASSPHRASE,
        '--',
        process.execPath,
        path.join(ROOT, 'bin', 'cluster-bridge'),
        'jobs',
        'cancel',
        jobId
      ],
      { env: childEnv, timeoutMs: 240000 }
    );
    const report = JSON.parse(result.stdout);
    expect(report.asked).toBe(true);
    expect(report.output).toContain(`Cancelled job ${jobId}`);
    expect(report.output).not.toContain(env.SSHD_KEY_PASSPHRASE);
    expect(report.code).toBe(0);
    expect(
      await eventually(() => processesMatching(jobId).length === 0, 20000)
    ).toBe(true);
  });
});
