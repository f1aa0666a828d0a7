/**
 * Distributed cells end to end: the JobManager, the real sshd (as the test
 * user), the real single-node SLURM (2 CPUs, one fake GPU) and the real agent,
 * rank launcher and runners. Two ranks in one allocation meet over TCP at
 * MASTER_ADDR:MASTER_PORT (an all-reduce in pure Python); rank 0's output is
 * the cell's, rank 1's is in the ranks display; a failing rank ends the cell
 * with its traceback; interrupt leaves no process behind. A direct host runs
 * several local ranks and refuses --nodes.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { GPU_MIME, type IGpuPayload } from '../../../src/shared/mime';
import {
  eventually,
  ITestBed,
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
  ranksOf
} from './helpers';

mkCacheDir();

function ranksPlain(sink: RecordingSink): string {
  const all = sink.calls
    .filter(
      c =>
        (c.kind === 'display' || c.kind === 'update') &&
        c.displayId?.startsWith('cb-ranks-')
    )
    .map(c =>
      String((c as { data: { [m: string]: unknown } }).data['text/plain'])
    );
  return all.pop() ?? '';
}

describe('distributed cells', () => {
  let bed: ITestBed;
  const workDir = `~/.cb-ranks-${process.pid}`;
  const home = () => sshd().home;

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      slurm: sshCluster(sshd(), { scheduler: 'slurm', workDir }),
      host: sshCluster(sshd(), { workDir })
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(path.join(home(), workDir.slice(2)), {
      recursive: true,
      force: true
    });
  });

  const run = (
    cluster: string,
    code: string,
    request: object,
    sink = new RecordingSink(),
    signal?: AbortSignal
  ) =>
    bed.manager.runCell({
      request: { cluster, ...request },
      code,
      lineOffset: 1,
      sink,
      signal
    });

  it('SLURM: two ranks of one node meet at MASTER_ADDR:MASTER_PORT; rank 1 is in the ranks display', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'slurm',
      ALLREDUCE,
      { tasksPerNode: 2, gpusPerNode: 1 },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(
      /^rank 0\/2 local 0 on \S+: allreduce 3 cvd=0\n$/
    );
    const ranks = ranksOf(sink)!;
    expect(ranks.worldSize).toBe(2);
    expect(ranks.launch).toBe('srun');
    expect(ranks.ranks).toHaveLength(1);
    expect(ranks.ranks[0]).toMatchObject({
      rank: 1,
      localRank: 1,
      state: 'done'
    });
    expect(ranks.failedRank).toBeUndefined();
    expect(ranksPlain(sink)).toMatch(
      /\[rank 1\] rank 1\/2 local 1 on \S+: allreduce 3 cvd=0/
    );
    // The job asked SLURM for the tasks, and the GPU card lists the node with both ranks.
    const jobDir = path.join(home(), workDir.slice(2), 'jobs', outcome.job!.id);
    const script = fs.readFileSync(path.join(jobDir, 'job.sh'), 'utf8');
    expect(script).toContain('#SBATCH --ntasks-per-node=2');
    expect(script).toContain('#SBATCH --gres=gpu:1');
    const gpu = sink.calls
      .filter(c => c.kind === 'display' || c.kind === 'update')
      .map(c => (c as { data: { [m: string]: unknown } }).data[GPU_MIME])
      .filter(Boolean)
      .pop() as IGpuPayload;
    expect(gpu.nodes).toEqual([
      expect.objectContaining({ ranks: [0, 1], cudaVisibleDevices: '0' })
    ]);
  });

  it('SLURM: a failing rank ends the cell with its traceback and names it', async () => {
    const sink = new RecordingSink();
    const outcome = await run('slurm', FAIL_RANK_1, { tasksPerNode: 2 }, sink);
    expectRankOneFailed(outcome, sink);
    expect(sink.text('stderr')).toContain('Rank 1 of 2');
  });

  it('SLURM: interrupt ends every rank and their children, and the job', async () => {
    const marks = fs.mkdtempSync(path.join(home(), '.cb-ranks-marks-'));
    fs.chmodSync(marks, 0o777);
    const sink = new RecordingSink();
    const abort = new AbortController();
    const code = [
      'import os, subprocess, time',
      'p = subprocess.Popen(["sleep", "300"])',
      `open(os.path.join(${JSON.stringify(marks)}, "pids-" + os.environ["RANK"]), "w").write("%d %d" % (os.getpid(), p.pid))`,
      'print("rank", os.environ["RANK"], "sleeping", flush=True)',
      'time.sleep(300)'
    ].join('\n');
    const pending = run('slurm', code, { tasksPerNode: 2 }, sink, abort.signal);
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
    const pids = [0, 1].flatMap(r =>
      fs.readFileSync(pidFile(r), 'utf8').split(' ').map(Number)
    );
    expect(pids.every(alive)).toBe(true);
    abort.abort();
    const outcome = await pending;
    expect(outcome.status).toBe('aborted');
    expect(sink.statuses().pop()).toMatchObject({ phase: 'cancelled' });
    expect(await eventually(() => !pids.some(alive), 30000)).toBe(true);
    const id = outcome.job!.schedulerId!;
    const listed = () =>
      execFileSync('squeue', ['-h', '-j', id, '-o', '%T'], {
        encoding: 'utf8'
      }).trim();
    expect(
      await eventually(() => ['', 'CANCELLED'].includes(listed()), 20000)
    ).toBe(true);
    // ps on the node: nothing of the job's cell is left.
    const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
    expect(ps).not.toContain(marks);
    fs.rmSync(marks, { recursive: true, force: true });
  });

  it('a direct host runs --tasks-per-node ranks side by side and refuses --nodes', async () => {
    const sink = new RecordingSink();
    const outcome = await run('host', ALLREDUCE, { tasksPerNode: 2 }, sink);
    expectAllReducedOnOneNode(outcome, sink, 'local');
    await expect(run('host', 'print(1)', { nodes: 2 })).rejects.toThrow(
      /--nodes 2 needs a scheduler: a direct host is one machine/
    );
  });
});
