/**
 * The SLURM and Grid Engine schedulers against the real single-node
 * services, as the test user over the real sshd: submit, live states
 * (running on the node, pending with the scheduler's reason), end states
 * with exit codes, cancel, a time limit hit, rejected submits that leave
 * nothing behind, and several jobs polled with one call.
 */
import { createScheduler } from '../../../src/bridge/schedulers';
import {
  SchedulerError,
  type IScheduler,
  type SchedulerState
} from '../../../src/bridge/schedulers/types';
import type { SshTransport } from '../../../src/bridge/transport/ssh';
import {
  CountingTransport,
  ended,
  gpuCount,
  JobDirs,
  Kind,
  service,
  sshTransport,
  watch
} from './helpers';

const KINDS: Kind[] = ['slurm', 'sge'];

describe.each(KINDS)('%s scheduler on the real service', kind => {
  let facts: { [key: string]: string };
  let transport: SshTransport;
  let dirs: JobDirs;
  let scheduler: IScheduler;
  const node = () => (kind === 'slurm' ? facts.SLURM_NODE : facts.SGE_HOST);

  beforeAll(async () => {
    facts = service(kind);
    transport = await sshTransport(`${kind}-it`);
    dirs = await JobDirs.create(transport, kind);
  });

  beforeEach(() => {
    scheduler = createScheduler(kind);
  });

  afterAll(async () => {
    await dirs?.cleanup();
    await transport?.close();
  });

  it('runs a job: running on the node, then completed; logs in the job dir', async () => {
    const spec = await dirs.spec(`sh -c 'sleep 2; echo ran-in-$(pwd)'`);
    const { schedulerId } = await scheduler.submit(transport, spec);
    expect(schedulerId).toMatch(/^\d+$/);
    const seen = await watch(scheduler, transport, schedulerId, ended);
    expect(seen).toContainEqual({ state: 'running', node: node() });
    expect(seen[seen.length - 1]).toEqual({
      state: 'ended',
      end: 'completed',
      exitCode: 0
    });
    expect(await dirs.read(`${spec.jobDir}/job.sh`)).toBe(
      scheduler.script(spec)
    );
    expect((await dirs.read(`${spec.jobDir}/scheduler.out`)).trim()).toBe(
      `ran-in-${spec.jobDir}`
    );
  });

  it('reports a failed job with its exit code', async () => {
    const spec = await dirs.spec(`sh -c 'echo failing >&2; exit 3'`);
    const { schedulerId } = await scheduler.submit(transport, spec);
    const seen = await watch(scheduler, transport, schedulerId, ended);
    expect(seen[seen.length - 1]).toEqual({
      state: 'ended',
      end: 'failed',
      exitCode: 3,
      reason: 'exit code 3'
    });
    expect(await dirs.read(`${spec.jobDir}/scheduler.err`)).toContain(
      'failing'
    );
  });

  it("shows the scheduler's pending reason (and SLURM's expected start) while the GPU is busy", async () => {
    // With time limits, SLURM's backfill can tell when the waiting job will start.
    const busy = await dirs.spec('sleep 60', {
      gpus: gpuCount(kind),
      time: '2'
    });
    const first = await scheduler.submit(transport, busy);
    await watch(
      scheduler,
      transport,
      first.schedulerId,
      s => s.state === 'running'
    );
    const waiting = await dirs.spec('true', { gpus: 1, time: '1' });
    const second = await scheduler.submit(transport, waiting);
    try {
      const seen = await watch(
        scheduler,
        transport,
        second.schedulerId,
        s =>
          s.state === 'pending' &&
          !!s.reason &&
          (kind !== 'slurm' || !!s.expectedStart)
      );
      const reason = (seen[seen.length - 1] as { reason: string }).reason;
      if (kind === 'slurm') {
        expect(['Resources', 'Priority']).toContain(reason);
        const start = (seen[seen.length - 1] as { expectedStart: string })
          .expectedStart;
        expect(start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
      } else {
        expect(reason).toMatch(/gpu/);
      }
    } finally {
      await scheduler.cancel(transport, first.schedulerId, busy.jobDir);
    }
    // Once the first job is gone, the second one runs to the end.
    const after = await watch(scheduler, transport, second.schedulerId, ended);
    expect(after[after.length - 1]).toMatchObject({
      state: 'ended',
      end: 'completed'
    });
  });

  it('cancels a running job', async () => {
    const spec = await dirs.spec('sleep 120');
    const { schedulerId } = await scheduler.submit(transport, spec);
    await watch(scheduler, transport, schedulerId, s => s.state === 'running');
    await scheduler.cancel(transport, schedulerId, spec.jobDir);
    const seen = await watch(scheduler, transport, schedulerId, ended);
    expect(seen[seen.length - 1]).toMatchObject({
      state: 'ended',
      end: 'cancelled'
    });
    // Cancelling again (already ended) is not an error.
    await scheduler.cancel(transport, schedulerId, spec.jobDir);
  });

  it('ends a job that hits its time limit as timeout', async () => {
    // SLURM counts limits in minutes (partition `gpu` has MaxTime 1); Grid Engine in seconds.
    const request =
      kind === 'slurm'
        ? { partition: facts.SLURM_SHORT_PARTITION, time: '1' }
        : { time: '0:05' };
    const spec = await dirs.spec('sleep 300', request);
    const { schedulerId } = await scheduler.submit(transport, spec);
    const seen = await watch(scheduler, transport, schedulerId, ended, 150000);
    expect(seen[seen.length - 1]).toMatchObject({
      state: 'ended',
      end: 'timeout'
    });
  }, 180000);

  it.each([
    [
      'an invalid partition',
      { partition: 'nosuch' },
      {
        slurm: /invalid partition specified: nosuch/,
        sge: /unknown queue "nosuch"/
      }
    ],
    [
      'too many GPUs',
      { gpus: 4 },
      {
        slurm: /Requested node configuration is not available/,
        sge: /no suitable queues/
      }
    ]
  ])(
    "rejects %s with the scheduler's own message, leaving nothing behind",
    async (_what, request, message) => {
      const spec = await dirs.spec('true', request);
      const err = await scheduler.submit(transport, spec).catch(e => e);
      expect(err).toBeInstanceOf(SchedulerError);
      expect(err.reason).toBe('rejected');
      expect(err.message).toMatch(message[kind]);
      expect(await dirs.exists(spec.jobDir)).toBe(false);
    }
  );

  it('runs two jobs at once and polls both with one call', async () => {
    const a = await dirs.spec(`sh -c 'sleep 3; exit 0'`);
    const b = await dirs.spec(`sh -c 'sleep 3; exit 5'`);
    const ids = [
      (await scheduler.submit(transport, a)).schedulerId,
      (await scheduler.submit(transport, b)).schedulerId
    ];
    const counting = new CountingTransport(transport);
    const t = counting.asTransport();
    let states = new Map<string, SchedulerState>();
    let polls = 0;
    let bothRan = false;
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline) {
      const before = counting.execs.length;
      states = await scheduler.states(t, ids);
      polls++;
      const running = ids.filter(
        id => states.get(id)?.state === 'running'
      ).length;
      bothRan ||= running === 2;
      if (ids.every(id => states.get(id)?.state === 'ended')) {
        break;
      }
      // While no job has ended, one poll is one remote command for all jobs.
      if (
        ids.every(
          id =>
            states.get(id)?.state !== 'ended' &&
            states.get(id)?.state !== 'unknown'
        )
      ) {
        expect(counting.execs.length - before).toBe(1);
      }
      await new Promise(r => setTimeout(r, 250));
    }
    expect(bothRan).toBe(true);
    expect(states.get(ids[0])).toEqual({
      state: 'ended',
      end: 'completed',
      exitCode: 0
    });
    expect(states.get(ids[1])).toMatchObject({
      state: 'ended',
      end: 'failed',
      exitCode: 5
    });
    expect(polls).toBeGreaterThan(1);
    // Ended jobs are remembered: the next poll asks the cluster nothing.
    const before = counting.execs.length;
    await scheduler.states(t, ids);
    expect(counting.execs.length).toBe(before);
  });

  it('explains exactly what it submits', async () => {
    const spec = await dirs.spec('true', {
      gpus: 1,
      time: '00:10:00',
      name: 'dry run'
    });
    const plan = scheduler.explain!(spec);
    expect(plan.script).toBe(scheduler.script(spec));
    expect(plan.scriptPath).toBe(`${spec.jobDir}/job.sh`);
    expect(plan.command).toContain(
      kind === 'slurm' ? 'sbatch --parsable' : 'qsub -terse -w e'
    );
    // The plan's command really submits the plan's script.
    await transport.writeFile(plan.scriptPath, plan.script, 0o700);
    const r = await transport.exec(plan.command);
    expect(r.code).toBe(0);
    const id = r.stdout.trim().split(';')[0];
    const seen = await watch(scheduler, transport, id, ended);
    expect(seen[seen.length - 1]).toMatchObject({ end: 'completed' });
  });
});
