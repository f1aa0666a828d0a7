/**
 * The CLI commands that share the kernel's pipeline, as a user runs them:
 * `cluster-bridge run --cluster local FILE.py`, `doctor local`, `jobs`,
 * `clean`.
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

  it('clean lists, then removes, ended job dirs past the retention, and refuses bad usage', async () => {
    const work = path.join(k.dir, 'tidy-work');
    const config = path.join(k.dir, 'tidy.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        clusters: {
          tidy: {
            type: 'local',
            workDir: work,
            retention: { jobsDays: 0.5 }
          }
        }
      })
    );
    const tidy = (...args: string[]) =>
      run(process.execPath, [BIN, ...args], {
        env: { ...k.env, CLUSTER_BRIDGE_CONFIG: config },
        timeoutMs: 180000
      });
    const file = path.join(k.dir, 'tidy.py');
    fs.writeFileSync(file, 'print("to be cleaned")\n');
    expect((await tidy('run', '--cluster', 'tidy', file)).code).toBe(0);
    const jobDirs = () => fs.readdirSync(path.join(work, 'jobs'));
    expect(jobDirs()).toHaveLength(1);
    const [job] = jobDirs();
    // As if it had ended yesterday (retention looks at the newest file of the job dir).
    const yesterday = new Date(Date.now() - 86400000);
    const jobDir = path.join(work, 'jobs', job);
    for (const name of ['.', ...fs.readdirSync(jobDir)]) {
      fs.utimesSync(path.join(jobDir, name), yesterday, yesterday);
    }

    const dry = await tidy('clean', 'tidy', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^Dry run: would remove on tidy/);
    expect(dry.stdout).toContain(job);
    expect(dry.stdout).toContain('Run cluster-bridge clean tidy to remove.');
    expect(jobDirs()).toEqual([job]);

    const real = await tidy('clean', 'tidy', '--json');
    expect(real.code).toBe(0);
    const report = JSON.parse(real.stdout);
    expect(report.dryRun).toBe(false);
    expect(report.remove.map((i: { name: string }) => i.name)).toContain(job);
    expect(jobDirs()).toEqual([]);

    expect((await tidy('clean')).code).toBe(2);
    const bad = await tidy('clean', 'tidy', '--force');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown option --force');
    const unknown = await tidy('clean', 'nowhere');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown cluster "nowhere"');
  }, 300000);
});
