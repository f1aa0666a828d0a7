/**
 * Ranks a cluster cannot provide are refused by SLURM itself, in its own
 * words, shown in the cell: the real single-node SLURM (2 CPUs, one GPU) and
 * the real two-node SLURM, both with EnforcePartLimits=ALL as real clusters
 * commonly set (scripts/services/slurm.sh, slurm2.sh). No job is left queued,
 * and the next cell runs.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IJobRequest } from '../../../src/shared/magic';
import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { service } from '../schedulers/helpers';
import { shareClientKeys, twoNodeService } from './helpers';

mkCacheDir();

describe('ranks SLURM cannot provide', () => {
  let bed: ITestBed;
  let one: { [key: string]: string };
  let two: { [key: string]: string };
  const homes: string[] = [];
  const workDir = `~/.cb-refused-${process.pid}`;

  beforeAll(() => {
    one = service('slurm');
    two = twoNodeService();
    homes.push(sshd().home, shareClientKeys(two.SLURM_TEST_USER));
    bed = testBed({
      one: sshCluster(sshd(), { scheduler: 'slurm', workDir }),
      two: sshCluster(sshd(), {
        user: two.SLURM_TEST_USER,
        scheduler: 'slurm',
        workDir
      })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    for (const home of homes) {
      fs.rmSync(path.join(home, workDir.slice(2)), {
        recursive: true,
        force: true
      });
    }
  });

  const run = (
    cluster: string,
    request: Partial<IJobRequest>,
    sink = new RecordingSink()
  ) =>
    bed.manager.runCell({
      request: { cluster, ...request },
      code: 'print("ran")',
      lineOffset: 1,
      sink
    });

  /** The jobs squeue lists for `user` on the cluster of `conf`: id, name, state, reason. */
  const queued = (conf: string, user: string) =>
    execFileSync('squeue', ['-h', '-u', user, '-o', '%i %.100j %T %r'], {
      encoding: 'utf8',
      env: { ...process.env, SLURM_CONF: conf }
    }).trim();

  it.each([
    [
      'two',
      '--nodes 3 on two nodes',
      { nodes: 3, tasksPerNode: 1, launch: 'srun' as const },
      /Node count specification invalid/
    ],
    [
      'one',
      '--tasks-per-node 64 on a 2-CPU node',
      { tasksPerNode: 64 },
      /More processors requested than permitted/
    ],
    [
      'one',
      '--gpus-per-node 9 on a 1-GPU node',
      { gpusPerNode: 9, tasksPerNode: 1 },
      /Requested node configuration is not available/
    ]
  ])(
    "%s: %s is sbatch's own refusal in the cell, nothing queued, the next cell runs",
    async (cluster, _what, request, message) => {
      const facts = cluster === 'two' ? two : one;
      const sink = new RecordingSink();
      const outcome = await run(cluster, request, sink);
      expect(outcome.status).toBe('error');
      const errors = sink.errors();
      expect(errors).toHaveLength(1);
      expect(errors[0].ename).toBe('JobRejected');
      expect(errors[0].evalue).toMatch(message);
      expect(errors[0].traceback.join('\n')).toMatch(message);
      expect(sink.statuses().pop()).toMatchObject({
        phase: 'failed',
        endState: 'rejected'
      });
      expect(outcome.job?.schedulerId).toBeUndefined();
      expect(queued(facts.SLURM_CONF, facts.SLURM_TEST_USER)).not.toContain(
        outcome.job!.id
      );
      expect(sink.text('stdout')).toBe('');

      const next = new RecordingSink();
      const ok = await run(cluster, { tasksPerNode: 1 }, next);
      expect(next.errors()).toEqual([]);
      expect(ok.status).toBe('ok');
      expect(next.text('stdout')).toBe('ran\n');
    }
  );
});
