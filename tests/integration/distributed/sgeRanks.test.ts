/**
 * Distributed cells on the real Grid Engine (scripts/services/sge.sh: one
 * host, 2 slots, parallel environment `cbpe` in all.q's pe_list), reached
 * through the real sshd. `--tasks-per-node 2` asks for `-pe cbpe 2`; the
 * local launcher starts both ranks inside that allocation and they meet over
 * TCP at MASTER_ADDR:MASTER_PORT. A failing rank is named; interrupt leaves
 * no process and no job; requests the queue cannot meet are refused by qsub's
 * own words; --nodes 2 on a one-host allocation is a clear error.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IJobRequest } from '../../../src/shared/magic';
import {
  ITestBed,
  eventually,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed
} from '../jobs/helpers';
import { service } from '../schedulers/helpers';
import {
  ALLREDUCE,
  alive,
  expectAllReducedOnOneNode,
  expectRankOneFailed,
  FAIL_RANK_1,
  PidMarks,
  ranksOf
} from './helpers';

mkCacheDir();

describe('distributed cells on Grid Engine', () => {
  let bed: ITestBed;
  let facts: { [key: string]: string };
  const workDir = `~/.cb-sge-ranks-${process.pid}`;
  const home = () => sshd().home;

  beforeAll(() => {
    facts = service('sge');
    const sge = (parallelEnvironment: string) =>
      sshCluster(sshd(), {
        scheduler: 'sge',
        workDir,
        defaults: { parallelEnvironment }
      });
    bed = testBed({ sge: sge(facts.SGE_PE), nope: sge('cb-no-such-pe') });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(home(), workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  const run = (
    code: string,
    request: Partial<IJobRequest>,
    sink = new RecordingSink(),
    signal?: AbortSignal,
    cluster = 'sge'
  ) =>
    bed.manager.runCell({
      request: { cluster, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  /** Whether Grid Engine still lists the job as pending, running or suspended. */
  const listed = (id: string) =>
    execFileSync('qstat', ['-u', '*', '-s', 'prs'], {
      encoding: 'utf8'
    })
      .split('\n')
      .some(line => line.trim().split(/\s+/)[0] === id);

  it('two ranks in the parallel environment meet at MASTER_ADDR:MASTER_PORT', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      `${ALLREDUCE}\nimport os\nprint("NSLOTS", os.environ.get("NSLOTS"), "PE", os.environ.get("PE"))`,
      { nodes: 1, tasksPerNode: 2 },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(
      /^rank 0\/2 local 0 on \S+: allreduce 3 cvd=None\nNSLOTS 2 PE cbpe\n$/
    );
    const ranks = ranksOf(sink)!;
    expect(ranks.worldSize).toBe(2);
    expect(ranks.launch).toBe('local');
    expect(ranks.ranks).toEqual([
      expect.objectContaining({ rank: 1, localRank: 1, state: 'done' })
    ]);
    // Rank 1's own output is in the ranks display.
    expect(JSON.stringify(ranks.ranks[0].outputs)).toMatch(
      /rank 1\/2 local 1 on \S+: allreduce 3 cvd=None\\nNSLOTS 2 PE cbpe/
    );
    const jobDir = path.join(home(), workDir.slice(2), 'jobs', outcome.job!.id);
    const script = fs.readFileSync(path.join(jobDir, 'job.sh'), 'utf8');
    expect(script).toContain('#$ -pe cbpe 2\n');
  });

  it('mpirun in the parallel environment: Open MPI reads the allocation, ranks meet', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      ALLREDUCE,
      { tasksPerNode: 2, launch: 'mpirun' },
      sink
    );
    expectAllReducedOnOneNode(outcome, sink, 'mpirun');
  });

  it('torchrun in the parallel environment: one node, its ranks meet', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      ALLREDUCE,
      { tasksPerNode: 2, launch: 'torchrun' },
      sink
    );
    expectAllReducedOnOneNode(outcome, sink, 'torchrun');
  });

  it('a failing rank ends the cell with its traceback and names it', async () => {
    const sink = new RecordingSink();
    const outcome = await run(FAIL_RANK_1, { tasksPerNode: 2 }, sink);
    expectRankOneFailed(outcome, sink);
  });

  it('interrupt ends both ranks and their children, and the job', async () => {
    const marks = new PidMarks(home(), '.cb-sge-ranks-marks-');
    const sink = new RecordingSink();
    const abort = new AbortController();
    const pending = run(marks.code, { tasksPerNode: 2 }, sink, abort.signal);
    expect(await marks.noted([0, 1])).toBe(true);
    const pids = [...marks.pidsOf(0), ...marks.pidsOf(1)];
    expect(pids.every(alive)).toBe(true);
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()).toMatchObject({ phase: 'cancelled' });
    expect(await eventually(() => !pids.some(alive), 30000)).toBe(true);
    const id = outcome.job!.schedulerId!;
    expect(await eventually(() => !listed(id), 20000)).toBe(true);
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    expect(ps).not.toContain(marks.dir);
    marks.dispose();
  });

  it("more slots than the queue has: qsub's own refusal, no job left", async () => {
    const sink = new RecordingSink();
    const outcome = await run('print("never")', { tasksPerNode: 64 }, sink);
    expect(outcome.status).toBe('error');
    const [error] = sink.errors();
    expect(error.ename).toBe('JobRejected');
    expect(error.evalue).toMatch(/no suitable queues/);
    expect(outcome.job?.schedulerId).toBeUndefined();
    // The next cell runs.
    const next = new RecordingSink();
    expect((await run('print("next")', { tasksPerNode: 2 }, next)).status).toBe(
      'ok'
    );
    expect(next.text('stdout')).toBe('next\n');
  });

  it("an unknown parallel environment: qsub's own refusal", async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'print("never")',
      { tasksPerNode: 2 },
      sink,
      undefined,
      'nope'
    );
    expect(outcome.status).toBe('error');
    const [error] = sink.errors();
    expect(error.ename).toBe('JobRejected');
    expect(error.evalue).toMatch(
      /parallel environment "cb-no-such-pe" does not exist/
    );
  });

  it('--nodes 2 on a one-host allocation is a clear error, not two ranks on one node', async () => {
    await expect(run('print(1)', { nodes: 2 })).rejects.toThrow(
      /over --nodes 2 on Grid Engine needs --launch mpirun/
    );
    const sink = new RecordingSink();
    const outcome = await run(
      'print("never")',
      { nodes: 2, tasksPerNode: 1, launch: 'mpirun' },
      sink
    );
    expect(outcome.status).toBe('error');
    const errors = sink.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0].ename).toBe('LaunchError');
    expect(errors[0].evalue).toMatch(
      /--nodes 2 needs 2 hosts, and Grid Engine gave this job 1 \(\S+: 2 slots\)/
    );
    expect(sink.text('stdout')).toBe('');
  });
});
