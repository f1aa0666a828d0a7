/**
 * Distributed cells across two nodes: the real two-node SLURM of
 * scripts/services/slurm2.sh (slurmd cbn1 and cbn2, each in its own network
 * and UTS namespace), reached through the real sshd as its submit user, whose
 * login shell sets SLURM_CONF. `--nodes 2 --tasks-per-node 1 --launch srun`
 * puts rank 0 on cbn1 and rank 1 on cbn2; they meet over TCP at MASTER_ADDR
 * (cbn1's name) across the namespaces. A failing rank on the second node ends
 * the cell; interrupt leaves no process of the job on either node (the pid
 * namespace is shared, so the host's /proc sees both nodes' processes).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IJobRequest } from '../../../src/shared/magic';
import {
  eventually,
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import {
  ALLREDUCE,
  alive,
  ranksOf,
  shareClientKeys,
  twoNodeService
} from './helpers';

mkCacheDir();

/** The hostname a process sees (its UTS namespace: the emulated node). */
function nodeOf(pid: number): string {
  return execFileSync('nsenter', ['-t', String(pid), '-u', 'hostname'], {
    encoding: 'utf8'
  }).trim();
}

describe('distributed cells on two nodes', () => {
  let bed: ITestBed;
  let facts: { [key: string]: string };
  let home: string;
  const workDir = `~/.cb-two-nodes-${process.pid}`;
  const twoNodes: Partial<IJobRequest> = {
    nodes: 2,
    tasksPerNode: 1,
    launch: 'srun'
  };

  beforeAll(() => {
    facts = twoNodeService();
    home = shareClientKeys(facts.SLURM_TEST_USER);
    bed = testBed({
      two: sshCluster(sshd(), {
        user: facts.SLURM_TEST_USER,
        scheduler: 'slurm',
        workDir
      })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    if (home) {
      fs.rmSync(path.join(home, workDir.slice(2)), {
        recursive: true,
        force: true
      });
    }
  });

  const run = (
    code: string,
    sink = new RecordingSink(),
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster: 'two', ...twoNodes },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  it('ranks 0 and 1 run on cbn1 and cbn2 and all-reduce over TCP between them', async () => {
    const sink = new RecordingSink();
    const outcome = await run(ALLREDUCE, sink);
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe(
      'rank 0/2 local 0 on cbn1: allreduce 3 cvd=None\n'
    );
    const ranks = ranksOf(sink)!;
    expect(ranks.worldSize).toBe(2);
    expect(ranks.launch).toBe('srun');
    expect(ranks.ranks).toEqual([
      expect.objectContaining({ rank: 1, localRank: 0, state: 'done' })
    ]);
    const jobDir = path.join(home, workDir.slice(2), 'jobs', outcome.job!.id);
    const script = fs.readFileSync(path.join(jobDir, 'job.sh'), 'utf8');
    expect(script).toContain('#SBATCH --nodes=2');
    expect(script).toContain('#SBATCH --ntasks-per-node=1');
  });

  it('a failing rank on the second node ends the cell with its traceback', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'import os, time\nif os.environ["RANK"] == "1":\n    raise ValueError("cbn2 broke")\ntime.sleep(120)',
      sink
    );
    expect(outcome.status).toBe('error');
    const errors = sink.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0].evalue).toBe('cbn2 broke');
    expect(errors[0].traceback[0]).toBe('Rank 1 of 2 (on cbn2) failed:');
    expect(ranksOf(sink)).toMatchObject({
      failedRank: 1,
      ranks: [expect.objectContaining({ rank: 1, state: 'error' })]
    });
  });

  it('interrupt leaves no process of the job on either node', async () => {
    const marks = fs.mkdtempSync(path.join(home, '.cb-two-nodes-marks-'));
    fs.chmodSync(marks, 0o777);
    const sink = new RecordingSink();
    const abort = new AbortController();
    const code = [
      'import os, subprocess, time',
      'p = subprocess.Popen(["sleep", "300"])',
      `open(os.path.join(${JSON.stringify(marks)}, "pids-" + os.environ["RANK"]), "w").write("%d %d" % (os.getpid(), p.pid))`,
      'time.sleep(300)'
    ].join('\n');
    const pending = run(code, sink, abort.signal);
    const pidFile = (r: number) => path.join(marks, `pids-${r}`);
    expect(
      await eventually(
        () =>
          [0, 1].every(
            r => fs.existsSync(pidFile(r)) && fs.statSync(pidFile(r)).size > 0
          ),
        90000
      )
    ).toBe(true);
    const pidsOf = (r: number) =>
      fs.readFileSync(pidFile(r), 'utf8').split(' ').map(Number);
    // Each rank and its child live on their own node.
    expect(pidsOf(0).map(nodeOf)).toEqual(['cbn1', 'cbn1']);
    expect(pidsOf(1).map(nodeOf)).toEqual(['cbn2', 'cbn2']);
    const pids = [...pidsOf(0), ...pidsOf(1)];
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()).toMatchObject({ phase: 'cancelled' });
    expect(await eventually(() => !pids.some(alive), 30000)).toBe(true);
    const id = outcome.job!.schedulerId!;
    const listed = () =>
      execFileSync('squeue', ['-h', '-j', id, '-o', '%T'], {
        encoding: 'utf8',
        env: { ...process.env, SLURM_CONF: facts.SLURM_CONF }
      }).trim();
    expect(
      await eventually(() => ['', 'CANCELLED'].includes(listed()), 20000)
    ).toBe(true);
    // ps inside each node's network namespace: nothing of the cell is left.
    for (const netns of facts.SLURM_NETNS.split(',')) {
      const ps = execFileSync(
        'ip',
        ['netns', 'exec', netns, 'ps', '-eo', 'pid,args'],
        {
          encoding: 'utf8'
        }
      );
      expect(ps).not.toContain(marks);
    }
    fs.rmSync(marks, { recursive: true, force: true });
  });
});
