/**
 * The CLI commands that share the kernel's pipeline, as a user runs them:
 * `cluster-bridge run --cluster local FILE.py`, `doctor local`, `jobs`.
 */
import * as fs from 'fs';
import * as path from 'path';

import { IKernelEnv, kernelEnv, ROOT, run } from './helpers';

const BIN = path.join(ROOT, 'bin', 'cluster-bridge');

describe('cluster-bridge run / doctor / jobs', () => {
  let k: IKernelEnv;
  const cli = (...args: string[]) =>
    run(process.execPath, [BIN, ...args], { env: k.env, timeoutMs: 180000 });

  beforeAll(() => {
    k = kernelEnv();
  });
  afterAll(() => k?.dispose());

  it('runs a file the way a cell runs and exits 0', async () => {
    const file = path.join(k.dir, 'ok.py');
    fs.writeFileSync(
      file,
      'import sys\nprint("from a file")\nprint("warned", file=sys.stderr)\n{"answer": 42}\n'
    );
    const r = await cli('run', '--cluster', 'local', '--cpus', '1', file);
    expect(r.stderr).toContain('warned');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("from a file\n{'answer': 42}\n");
    // The status line goes to stderr, ending in the final state.
    expect(r.stderr).toMatch(/Done on local/);
  }, 200000);

  it('exits non-zero with the traceback when the code raises', async () => {
    const file = path.join(k.dir, 'bad.py');
    fs.writeFileSync(file, 'x = 1\nraise ValueError("bad value")\n');
    const r = await cli('run', '--cluster=local', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ValueError');
    expect(r.stderr).toContain('bad value');
  }, 200000);

  it('refuses unknown clusters and bad options before running anything', async () => {
    const file = path.join(k.dir, 'never.py');
    fs.writeFileSync(file, 'print("must not run")\n');
    const unknown = await cli('run', '--cluster', 'nowhere', file);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'unknown cluster "nowhere". Known clusters: local'
    );
    const bad = await cli('run', '--cluster', 'local', '--gpus', 'two', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--gpus expects a whole number');
    expect(unknown.stdout + bad.stdout).not.toContain('must not run');
    const missing = await cli(
      'run',
      '--cluster',
      'local',
      path.join(k.dir, 'missing.py')
    );
    expect(missing.code).toBe(2);
  }, 200000);

  it('doctor prints a checklist with a verdict per line', async () => {
    const r = await cli('doctor', 'local');
    expect(r.stdout).toMatch(/^\[ ok \] connection/m);
    expect(r.stdout).toMatch(/^\[ ok \] python\s+Python 3\./m);
    expect(r.stdout).toMatch(/^\[(ok |warn)\] ?conda/m);
    expect(r.stdout).toMatch(/^\[ ok \] scheduler\s+direct/m);
    expect(r.stdout).toMatch(/^\[(warn|skip| ok )\] gpus/m);
    expect(r.stdout).toMatch(/^local: ready/m);
    expect(r.code).toBe(0);
  }, 200000);

  it('jobs lists the jobs run so far', async () => {
    const r = await cli('jobs', '--json');
    expect(r.code).toBe(0);
    const jobs = JSON.parse(r.stdout) as {
      cluster: string;
      title: string;
      endState?: string;
    }[];
    expect(
      jobs.some(
        j => j.title.includes('import sys') && j.endState === 'completed'
      )
    ).toBe(true);
    expect(
      jobs.some(j => j.title.startsWith('x = 1') && j.endState === 'failed')
    ).toBe(true);
  }, 60000);
});
