/**
 * `--launch torchrun` and `--launch mpirun` for real: Debian's PyTorch 1.13
 * (torchrun, gloo) and Open MPI 4.1 on the real single-node SLURM, the real
 * two-node SLURM (slurm2.sh) and a direct host, through the real sshd as the
 * test user. VENV2 is a venv that sees the system site-packages (where apt's
 * torch lives) and has no torchrun of its own. The torch cell calls
 * `init_process_group('gloo')` with no arguments: the variables torchrun sets
 * must be enough. The MPI cell meets over TCP (allreduce.py) with the rank
 * taken from OMPI_COMM_WORLD_*.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import type { IClusterConfig } from '../../../src/shared/config';
import type { IRunOutcome } from '../../../src/bridge/jobs';
import type { IJobRequest } from '../../../src/shared/magic';
import {
  ITestBed,
  mkCacheDir,
  RecordingSink,
  sshCluster,
  sshd,
  testBed,
  eventually
} from '../jobs/helpers';
import { ROOT, service } from '../schedulers/helpers';
import {
  ALLREDUCE,
  alive,
  expectAllReducedOnOneNode,
  expectRankOneFailed,
  FAIL_RANK_1,
  PidMarks,
  ranksOf,
  shareClientKeys,
  twoNodeService
} from './helpers';

mkCacheDir();

/** Torch's own all-reduce over gloo; each rank prints what it saw. */
const TORCH_ALLREDUCE = [
  'import os, socket',
  'import torch, torch.distributed as dist',
  "dist.init_process_group('gloo')",
  't = torch.tensor([float(dist.get_rank() + 1)])',
  'dist.all_reduce(t)',
  "names = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')",
  "print(' '.join('%s=%s' % (n, os.environ[n]) for n in names), 'host=' + socket.gethostname(),",
  "      'group=%d/%d' % (dist.get_rank(), dist.get_world_size()), 'sum=%g' % t.item())",
  'dist.destroy_process_group()'
].join('\n');

/** VENV2: a venv of Debian's python3 that sees apt's torch (and has no torchrun script). */
function venvCluster(extra: Partial<IClusterConfig>): IClusterConfig {
  return sshCluster(sshd(), {
    envKind: 'venv',
    env: { python: '/usr/bin/python3', systemSitePackages: true },
    ...extra
  });
}

/** Every output line of the ranks display, tagged `[rank r]`. */
function ranksText(sink: RecordingSink): string {
  return (ranksOf(sink)?.ranks ?? [])
    .flatMap(r =>
      r.outputs.map(o =>
        o.type === 'stream' ? `[rank ${r.rank}] ${o.text}` : ''
      )
    )
    .join('');
}

/** `NAME=value` pairs of one printed line. */
function fields(line: string): { [name: string]: string } {
  return Object.fromEntries(
    line
      .trim()
      .split(' ')
      .filter(w => w.includes('='))
      .map(w => w.split('=', 2) as [string, string])
  );
}

function psArgs(): string {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
}

/**
 * Starts two ranks that sleep (each with a child), interrupts them, and
 * expects nothing of the job left: no rank, no child, no launcher (ps; one
 * pid namespace for the emulated nodes too). `whileRunning` sees ps first.
 */
async function expectInterruptLeavesNothing(
  home: string,
  start: (code: string, signal: AbortSignal) => Promise<IRunOutcome>,
  whileRunning: (ps: string) => void = () => undefined
): Promise<void> {
  const marks = new PidMarks(home, '.cb-launchers-marks-');
  const abort = new AbortController();
  const pending = start(marks.code, abort.signal);
  expect(await marks.noted([0, 1])).toBe(true);
  const pids = [...marks.pidsOf(0), ...marks.pidsOf(1)];
  expect(pids.every(alive)).toBe(true);
  whileRunning(psArgs());
  abort.abort();
  const outcome = await pending;
  expect(outcome.status).toBe('aborted');
  expect(await eventually(() => !pids.some(alive), 30000)).toBe(true);
  const left = () => {
    const ps = psArgs();
    return ps.includes(marks.dir) || ps.includes(outcome.job!.id);
  };
  expect(await eventually(() => !left(), 30000)).toBe(true);
  marks.dispose();
}

describe('torchrun and mpirun launchers', () => {
  let bed: ITestBed;
  const workDir = `~/.cb-launchers-${process.pid}`;
  const home = () => sshd().home;

  beforeAll(() => {
    service('slurm');
    bed = testBed({
      slurm: venvCluster({ scheduler: 'slurm', workDir }),
      host: venvCluster({ workDir })
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
    request: Partial<IJobRequest>,
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

  const jobDirOf = (id: string) =>
    path.join(home(), workDir.slice(2), 'jobs', id);

  it('torchrun on SLURM: init_process_group("gloo") unchanged, all_reduce over two ranks', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'slurm',
      TORCH_ALLREDUCE,
      { tasksPerNode: 2, launch: 'torchrun' },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    const out0 = fields(sink.text('stdout'));
    expect(out0).toMatchObject({
      RANK: '0',
      LOCAL_RANK: '0',
      WORLD_SIZE: '2',
      group: '0/2',
      sum: '3'
    });
    const ranks = ranksOf(sink)!;
    expect(ranks.launch).toBe('torchrun');
    expect(ranks.ranks).toEqual([
      expect.objectContaining({ rank: 1, localRank: 1, state: 'done' })
    ]);
    const line1 = ranksText(sink).split('\n')[0];
    expect(line1.startsWith('[rank 1] RANK=1 ')).toBe(true);
    const out1 = fields(line1);
    expect(out1).toMatchObject({
      LOCAL_RANK: '1',
      WORLD_SIZE: '2',
      group: '1/2',
      sum: '3'
    });
    // Both ranks were told the same master: this node, a real port.
    expect(out1.MASTER_ADDR).toBe(out0.MASTER_ADDR);
    expect(out1.MASTER_PORT).toBe(out0.MASTER_PORT);
    expect(Number(out0.MASTER_PORT)).toBeGreaterThan(0);
    expect([out0.host, 'localhost', '127.0.0.1']).toContain(
      out0.MASTER_ADDR.split('.')[0]
    );
    const script = fs.readFileSync(
      path.join(jobDirOf(outcome.job!.id), 'job.sh'),
      'utf8'
    );
    expect(script).toContain('#SBATCH --ntasks-per-node=2');
  });

  it('torchrun on SLURM: a failing rank 1 ends the cell with its traceback', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'slurm',
      FAIL_RANK_1,
      { tasksPerNode: 2, launch: 'torchrun' },
      sink
    );
    expectRankOneFailed(outcome, sink, { launch: 'torchrun' });
  });

  it('torchrun on SLURM: interrupt leaves no torchrun and no rank behind', async () => {
    await expectInterruptLeavesNothing(
      home(),
      (code, signal) =>
        run(
          'slurm',
          code,
          { tasksPerNode: 2, launch: 'torchrun' },
          new RecordingSink(),
          signal
        ),
      // VENV2 has no torchrun script: its python runs torch.distributed.run.
      ps => expect(ps).toMatch(/ -m torch\.distributed\.run /)
    );
  });

  it('mpirun on SLURM: ranks from OMPI_COMM_WORLD_*, the TCP rendezvous, tagged output', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'slurm',
      ALLREDUCE,
      { tasksPerNode: 2, launch: 'mpirun' },
      sink
    );
    expectAllReducedOnOneNode(outcome, sink, 'mpirun');
    expect(ranksText(sink)).toMatch(
      /^\[rank 1\] rank 1\/2 local 1 on \S+: allreduce 3 cvd=None\n$/
    );
  });

  it('mpirun on SLURM: a failing rank is named', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'slurm',
      FAIL_RANK_1,
      { tasksPerNode: 2, launch: 'mpirun' },
      sink
    );
    expectRankOneFailed(outcome, sink, { launch: 'mpirun' });
  });

  it('mpirun on SLURM: interrupt leaves no mpirun and no rank behind', async () => {
    await expectInterruptLeavesNothing(
      home(),
      (code, signal) =>
        run(
          'slurm',
          code,
          { tasksPerNode: 2, launch: 'mpirun' },
          new RecordingSink(),
          signal
        ),
      ps => expect(ps).toMatch(/(orterun|mpirun) -np 2 /)
    );
  });

  it('torchrun on a direct host: its own c10d rendezvous, no srun', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'host',
      TORCH_ALLREDUCE,
      { tasksPerNode: 2, launch: 'torchrun' },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(fields(sink.text('stdout'))).toMatchObject({
      RANK: '0',
      WORLD_SIZE: '2',
      sum: '3'
    });
    expect(fields(ranksText(sink))).toMatchObject({ RANK: '1', sum: '3' });
  });

  it('mpirun on a direct host: two ranks side by side', async () => {
    const sink = new RecordingSink();
    const outcome = await run(
      'host',
      ALLREDUCE,
      { tasksPerNode: 2, launch: 'mpirun' },
      sink
    );
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(
      /^rank 0\/2 local 0 on \S+: allreduce 3/
    );
    expect(ranksOf(sink)).toMatchObject({
      launch: 'mpirun',
      ranks: [expect.objectContaining({ rank: 1, state: 'done' })]
    });
  });
});

describe('mpirun as root', () => {
  let bed: ITestBed;
  const allowed = fs.mkdtempSync(path.join(ROOT, '.cache', 'it-mpi-root-'));

  beforeAll(() => {
    bed = testBed({
      allowed: {
        type: 'local',
        workDir: allowed,
        env: {
          setup: [
            'export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1'
          ]
        }
      }
    });
  });

  afterAll(async () => {
    await bed?.dispose();
    fs.rmSync(allowed, { recursive: true, force: true });
  });

  it('is refused with how to allow it (Open MPI refuses root unless told)', async () => {
    expect(process.getuid?.()).toBe(0);
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'local', tasksPerNode: 2, launch: 'mpirun' },
      code: 'print(1)',
      lineOffset: 1,
      sink
    });
    expect(outcome.status).toBe('error');
    const errors = sink.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0].ename).toBe('LaunchError');
    expect(errors[0].evalue).toMatch(
      /Open MPI refuses to run as root.*export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1$/
    );
  });

  it("runs where the env's setup lines allow it", async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'allowed', tasksPerNode: 2, launch: 'mpirun' },
      code: ALLREDUCE,
      lineOffset: 1,
      sink
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toMatch(
      /^rank 0\/2 local 0 on \S+: allreduce 3/
    );
    expect(ranksOf(sink)).toMatchObject({ launch: 'mpirun' });
  });
});

describe('torchrun and mpirun on two nodes', () => {
  let bed: ITestBed;
  let home: string;
  const workDir = `~/.cb-launchers2-${process.pid}`;

  beforeAll(() => {
    const facts = twoNodeService();
    home = shareClientKeys(facts.SLURM_TEST_USER);
    bed = testBed({
      two: venvCluster({
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

  it('mpirun reaches both nodes through the allocation', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: { cluster: 'two', nodes: 2, tasksPerNode: 1, launch: 'mpirun' },
      code: ALLREDUCE,
      lineOffset: 1,
      sink
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(sink.text('stdout')).toBe(
      'rank 0/2 local 0 on cbn1: allreduce 3 cvd=None\n'
    );
    expect(ranksText(sink)).toBe(
      '[rank 1] rank 1/2 local 0 on cbn2: allreduce 3 cvd=None\n'
    );
  });

  it('torchrun on two nodes: interrupt leaves nothing of the job on either node', async () => {
    await expectInterruptLeavesNothing(home, (code, signal) =>
      bed.manager.runCell({
        request: {
          cluster: 'two',
          nodes: 2,
          tasksPerNode: 1,
          launch: 'torchrun'
        },
        code,
        lineOffset: 1,
        sink: new RecordingSink(),
        signal
      })
    );
  });

  it('one torchrun per node, a c10d rendezvous on the first node', async () => {
    const sink = new RecordingSink();
    const outcome = await bed.manager.runCell({
      request: {
        cluster: 'two',
        nodes: 2,
        tasksPerNode: 1,
        launch: 'torchrun'
      },
      code: TORCH_ALLREDUCE,
      lineOffset: 1,
      sink
    });
    expect(sink.errors()).toEqual([]);
    expect(outcome.status).toBe('ok');
    expect(fields(sink.text('stdout'))).toMatchObject({
      RANK: '0',
      LOCAL_RANK: '0',
      WORLD_SIZE: '2',
      host: 'cbn1',
      sum: '3'
    });
    expect(fields(ranksText(sink))).toMatchObject({
      RANK: '1',
      LOCAL_RANK: '0',
      host: 'cbn2',
      group: '1/2',
      sum: '3'
    });
  });
});
