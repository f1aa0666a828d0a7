/**
 * VENV2 for batch clusters is built on the login node before the job is
 * submitted (buildEnvOn 'login', the default), through the real sshd and the
 * real SLURM: the cell shows the build, the job itself builds nothing, and a
 * failed build ends the cell before anything is submitted. buildEnvOn
 * 'compute' keeps the build inside the job.
 */
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig, IEnvSpec } from '../../../src/shared/config';
import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { service } from './helpers';

mkCacheDir();

/** Its own env (a fresh hash), so every run of this file builds it once. */
const ENV: IEnvSpec = {
  manager: 'venv',
  python: '/usr/bin/python3',
  pip: [],
  setup: [`export CB_ENV_ON_LOGIN_TEST=${process.pid}`]
};

describe('VENV2 on the login node (SLURM)', () => {
  let bed: ITestBed;
  const workDirs: string[] = [];
  const cluster = (name: string, extra: Partial<IClusterConfig>) => {
    const workDir = `~/.cb-env-login-${name}-${process.pid}`;
    workDirs.push(workDir);
    return sshCluster(sshd(), {
      scheduler: 'slurm',
      workDir,
      env: ENV,
      ...extra
    });
  };

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      login: cluster('login', {}),
      compute: cluster('compute', { buildEnvOn: 'compute' }),
      broken: cluster('broken', {
        env: { ...ENV, python: '/nonexistent/python3' }
      })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    for (const dir of workDirs) {
      fs.rmSync(path.join(sshd().home, dir.slice(2)), {
        recursive: true,
        force: true
      });
    }
  });

  const run = (name: string, sink: RecordingSink) =>
    bed.manager.runCell({
      request: { cluster: name },
      code: 'import sys\nprint(sys.prefix)',
      lineOffset: 1,
      sink
    });

  /** The `env` text the job wrote into its own event log. */
  const jobEnvText = (remoteDir: string): string =>
    fs
      .readFileSync(path.join(remoteDir, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(line => line.trim())
      .map(line => JSON.parse(line))
      .filter(e => e.type === 'env')
      .map(e => e.text)
      .join('');

  const shownText = (sink: RecordingSink): string =>
    sink.calls
      .map(c =>
        c.kind === 'display' || c.kind === 'update'
          ? String(c.data['text/plain'] ?? '')
          : ''
      )
      .join('\n');

  it('builds on the login node before submitting; the job finds the env ready', async () => {
    const sink = new RecordingSink();
    const outcome = await run('login', sink);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(/\/envs\/[0-9a-f]+\n$/);
    expect(shownText(sink)).toContain('Environment kind: venv');
    expect(jobEnvText(outcome.job!.remoteDir)).toBe('');
  });

  it("with buildEnvOn 'compute' the job builds it", async () => {
    const sink = new RecordingSink();
    const outcome = await run('compute', sink);
    expect(outcome.status).toBe('ok');
    expect(jobEnvText(outcome.job!.remoteDir)).toContain(
      'Environment kind: venv'
    );
  });

  it('a failed build ends the cell in its own words and submits nothing', async () => {
    const sink = new RecordingSink();
    const outcome = await run('broken', sink);
    expect(outcome.status).toBe('error');
    const errors = sink.calls.filter(c => c.kind === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ ename: 'EnvironmentBuildError' });
    expect(JSON.stringify(errors[0])).toContain('no Python interpreter found');
    expect(outcome.job?.schedulerId).toBeUndefined();
    expect(fs.existsSync(outcome.job!.remoteDir)).toBe(false);
  });
});
