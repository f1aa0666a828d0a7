/**
 * input_request through the kernel, end to end: a cell on the real sshd of
 * scripts/services/sshd.sh whose host key is not yet known and whose identity
 * file is encrypted. The kernel asks on stdin (parented to the cell) for the
 * host key confirmation and then the passphrase; after the answers the cell runs.
 */
import * as fs from 'fs';
import * as path from 'path';

import {
  HERE,
  IKernelEnv,
  kernelEnv,
  PYTHON,
  requirePython,
  run
} from './helpers';
import { loadSshdEnv } from '../transport/sshdEnv';

describe('input_request for SSH prompts', () => {
  let k: IKernelEnv;
  let workDir = '';
  let home = '';

  beforeAll(() => {
    requirePython(['jupyter_client']);
    k = kernelEnv();
  });
  afterAll(() => {
    if (home && workDir) {
      fs.rmSync(path.join(home, workDir), { recursive: true, force: true });
    }
    k?.dispose();
  });

  it('asks for the unknown host key and the key passphrase, then runs the cell', async () => {
    const sshd = loadSshdEnv();
    home = sshd.SSHD_HOME;
    workDir = `.cb-it-kernel-${process.pid}`;
    const knownHosts = path.join(k.dir, 'known_hosts');
    fs.writeFileSync(knownHosts, ''); // nothing known yet: the kernel must ask
    const config = path.join(k.dir, 'clusters.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        clusters: {
          lab: {
            type: 'ssh',
            host: sshd.SSHD_HOST,
            port: Number(sshd.SSHD_PORT),
            user: sshd.SSHD_USER,
            identityFile: sshd.SSHD_KEY_ENCRYPTED,
            knownHostsFile: knownHosts,
            workDir: `~/${workDir}`
          }
        }
      })
    );
    const result = await run(
      PYTHON,
      [path.join(HERE, 'prompt_check.py'), 'lab', sshd.SSHD_KEY_PASSPHRASE],
      {
        env: { ...k.env, CLUSTER_BRIDGE_CONFIG: config },
        timeoutMs: 240000
      }
    );
    if (result.code !== 0) {
      throw new Error(
        `prompt_check.py failed (exit ${result.code}):\n${result.stderr}`
      );
    }
    const report = JSON.parse(result.stdout);
    const prompts = report.prompts as {
      prompt: string;
      password: boolean;
      parent: boolean;
    }[];
    expect(prompts.length).toBeGreaterThanOrEqual(2);
    const hostKey = prompts.find(p => /SHA256:/.test(p.prompt));
    expect(hostKey).toMatchObject({ password: false, parent: true });
    const pass = prompts.find(p => /assphrase/.test(p.prompt));
    expect(pass).toMatchObject({ password: true, parent: true });
    expect(prompts.indexOf(hostKey!)).toBeLessThan(prompts.indexOf(pass!));
    expect(report.reply).toMatchObject({ status: 'ok' });
    const out = (report.iopub as { type: string; content: any }[])
      .filter(m => m.type === 'stream' && m.content.name === 'stdout')
      .map(m => m.content.text)
      .join('');
    expect(out).toBe(`via ssh as ${sshd.SSHD_USER}\n`);
    // The answer was recorded: the key is now known.
    expect(fs.readFileSync(knownHosts, 'utf8')).toMatch(
      /ssh-ed25519|ecdsa|ssh-rsa/
    );
    // The passphrase never reached the kernel's log or the outputs.
    expect(result.stdout).not.toContain(sshd.SSHD_KEY_PASSPHRASE);
  }, 260000);
});
