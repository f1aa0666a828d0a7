import type { IJobInfo } from '../../shared/jobs';
import { eventLine, fakeJobContext } from '../../../tests/support/jobs';
import type { IJobContext, ITiming } from './context';
import { JobFollower, type IFollowerDeps } from './follower';
import { Venv2Cache } from './venv2Cache';
import { JobWatcher } from './watch';

const JOB_DIR = '/w/jobs/cb-test-1';

/** A direct job being followed over a FakeTransport; every record kept. */
function setup(
  over: Partial<IFollowerDeps> = {},
  timing: Partial<ITiming> = {}
) {
  const { ctx, transport, sink, job } = fakeJobContext();
  const fullTiming: ITiming = {
    cancelWaitMs: 5000,
    endedGraceMs: 50,
    directProbeMs: 60000,
    nodeSilentMs: 120000,
    reconnectMs: 1000,
    ...timing
  };
  const records: IJobInfo[] = [];
  const venv2 = new Venv2Cache();
  const forgotten: string[] = [];
  const deps: IFollowerDeps = {
    timing: fullTiming,
    records: { put: j => void records.push({ ...j }) },
    watcher: new JobWatcher(fullTiming),
    venv2,
    reconnect: c => c.transport.connect(),
    forgetRemote: c => void forgotten.push(c.cluster.name),
    disposed: () => false,
    gpuCard: true,
    ...over
  };
  const follower = new JobFollower(ctx, deps);
  return { transport, sink, job, ctx, records, venv2, forgotten, follower };
}

/** A SLURM job with no state poller: only the end of its follow asks the scheduler. */
function batchJobSetup(schedulerId: string) {
  const made = setup({
    watcher: {
      watch: () => () => undefined,
      poke: () => undefined
    } as unknown as JobWatcher
  });
  made.job.scheduler = 'slurm';
  made.job.schedulerId = schedulerId;
  return made;
}

const stdout = (text: string) =>
  eventLine({ type: 'stream', name: 'stdout', text });
const done = (state: string, more: object = {}) =>
  eventLine({ type: 'done', state, ...more });

describe('JobFollower', () => {
  it("streams the agent's follow into the cell and ends with the log's done", async () => {
    const { transport, sink, job, follower, records } = setup();
    const outcome = follower.run({ offset: 0 });
    const stream = await transport.nextStream(0);
    expect(stream.command).toBe(
      `PYTHONDONTWRITEBYTECODE= /w/venv1/bin/python -I -u /w/runtime/h/agent.py follow ${JOB_DIR} --offset 0`
    );
    stream.emit(stdout('hello\n') + done('completed', { exitCode: 0 }));
    expect(await outcome).toEqual({
      status: 'ok',
      job: expect.objectContaining({ phase: 'done', endState: 'completed' })
    });
    expect(sink.text('stdout')).toBe('hello\n');
    expect(job.phase).toBe('done');
    // Output moved the job to running before it ended; both were recorded.
    expect(records.map(r => r.phase)).toEqual(['running', 'done']);
  });

  it('resumes from the byte offset after a dropped connection: every output once', async () => {
    const { transport, sink, follower } = setup();
    const outcome = follower.run({ offset: 0 });
    const first = await transport.nextStream(0);
    const a = stdout('a\n');
    const b = stdout('b\n');
    // The drop cuts line b in half: only whole lines count.
    first.emit(a + b.slice(0, 10));
    first.drop();
    const second = await transport.nextStream(1);
    expect(transport.connects).toBe(1);
    expect(second.command).toMatch(
      new RegExp(` --offset ${Buffer.byteLength(a)}$`)
    );
    second.emit(b + done('completed'));
    expect((await outcome).status).toBe('ok');
    expect(sink.text('stdout')).toBe('a\nb\n');
  });

  it('calls a job lost when the connection does not come back', async () => {
    const { transport, sink, follower, job } = setup({
      reconnect: async () => {
        throw new Error('host unreachable');
      }
    });
    const outcome = follower.run({ offset: 0 });
    (await transport.nextStream(0)).drop();
    expect((await outcome).status).toBe('error');
    expect(job.endState).toBe('lost');
    expect(job.detail).toBe(
      'connection lost: host unreachable. The job may still be running: %cluster attach cb-test-1'
    );
    const error = sink.calls.find(c => c[0] === 'error');
    expect(error?.[1]).toBe('JobLost');
  });

  it('calls a job lost when the agent saw it die without a done (exit 3)', async () => {
    const { transport, follower, job } = setup();
    const outcome = follower.run({ offset: 0 });
    const stream = await transport.nextStream(0);
    stream.emit(stdout('x\n'));
    stream.exit(3, 'the job process was killed\n');
    expect((await outcome).status).toBe('error');
    expect(job.endState).toBe('lost');
    expect(job.detail).toBe('the job process was killed');
  });

  it("asks a batch job's scheduler why it died without a done: a kill at its time limit is timeout", async () => {
    const { transport, follower, job, ctx } = batchJobSetup('42');
    const asked: string[][] = [];
    ctx.scheduler = {
      // Still finishing (COMPLETING) on the first ask, then TIMEOUT.
      states: async (_t: unknown, ids: string[]) => {
        asked.push(ids);
        return new Map([
          [
            '42',
            asked.length < 2
              ? { state: 'running' }
              : {
                  state: 'ended',
                  end: 'timeout',
                  reason: 'TIMEOUT',
                  exitCode: null
                }
          ]
        ]);
      }
    } as unknown as IJobContext['scheduler'];
    const outcome = follower.run({ offset: 0 });
    const stream = await transport.nextStream(0);
    stream.emit(stdout('started\n'));
    stream.exit(3, 'the job process was killed\n');
    expect((await outcome).status).toBe('error');
    expect(asked).toEqual([['42'], ['42']]);
    expect(job.endState).toBe('timeout');
    expect(job.detail).toBe('TIMEOUT');
  });

  it('keeps a silent death lost when its scheduler says the job completed', async () => {
    const { transport, follower, job, ctx } = batchJobSetup('43');
    ctx.scheduler = {
      states: async () =>
        new Map([['43', { state: 'ended', end: 'completed', exitCode: 0 }]])
    } as unknown as IJobContext['scheduler'];
    const outcome = follower.run({ offset: 0 });
    (await transport.nextStream(0)).exit(3, 'gone\n');
    expect((await outcome).status).toBe('error');
    expect(job.endState).toBe('lost');
  });

  it('calls a batch job that died silently after our cancel cancelled (scancel signals every process at once)', async () => {
    const { transport, follower, job } = batchJobSetup('44');
    const abort = new AbortController();
    const outcome = follower.run({ offset: 0, signal: abort.signal });
    const stream = await transport.nextStream(0);
    stream.emit(stdout('sleeping\n'));
    abort.abort();
    stream.exit(3, 'gone\n');
    expect((await outcome).status).toBe('aborted');
    expect(job.endState).toBe('cancelled');
  });

  it('gives up after three follows in a row that make no progress', async () => {
    const { transport, follower, job } = setup();
    const outcome = follower.run({ offset: 0 });
    (await transport.nextStream(0)).emit(stdout('x\n'));
    for (let i = 0; i < 4; i++) {
      (await transport.nextStream(i)).exit(1, 'follow: broken\n');
    }
    expect((await outcome).status).toBe('error');
    expect(transport.streams).toHaveLength(4);
    expect(job.endState).toBe('lost');
    expect(job.detail).toBe("following the job's log failed: follow: broken");
  });

  it("falls back from VENV2's go to VENV1's, then fails the job if that cannot start either", async () => {
    const { transport, follower, venv2, forgotten, job, records } = setup();
    const key = Venv2Cache.key('/w', 'h1');
    venv2.learn(transport, key, '/w/envs/h1/bin/python');
    const outcome = follower.run({
      offset: 0,
      first: {
        command: 'warm go',
        stdin: '{}',
        venv2Key: key,
        fallback: { command: 'cold go', stdin: '{}' }
      }
    });
    (await transport.nextStream(0)).exit(127, 'no such file\n');
    const cold = await transport.nextStream(1);
    expect(cold.command).toBe('cold go');
    expect(venv2.get(transport, key)).toBeUndefined();
    cold.exit(1, 'bad bundle\n');
    await expect(outcome).rejects.toThrow(
      'cluster "fake": starting the job failed (exit 1): bad bundle'
    );
    expect(forgotten).toEqual(['fake']);
    expect(job.endState).toBe('failed');
    expect(records[records.length - 1].phase).toBe('failed');
  });

  it('learns VENV2 from the running status of a warm-capable job', async () => {
    const { transport, follower, venv2, ctx } = setup();
    ctx.venv2Key = Venv2Cache.key('/w', 'h2');
    const outcome = follower.run({ offset: 0 });
    (await transport.nextStream(0)).emit(
      eventLine({
        type: 'status',
        phase: 'running',
        python: '/w/envs/h2/bin/python'
      }) + done('completed')
    );
    await outcome;
    expect(venv2.get(transport, ctx.venv2Key)).toBe('/w/envs/h2/bin/python');
  });

  it('retries a cancel until the job confirms it, and says once that one failed', async () => {
    const { transport, sink, follower } = setup();
    let cancels = 0;
    transport.answer = command => {
      if (!/ cancel /.test(command)) {
        return {};
      }
      cancels += 1;
      // The first cancels land before the job has a pid: the agent cannot cancel yet.
      return cancels <= 2 ? { code: 1, stderr: 'no pid yet' } : { code: 0 };
    };
    const abort = new AbortController();
    const outcome = follower.run({ offset: 0, signal: abort.signal });
    const stream = await transport.nextStream(0);
    abort.abort();
    while (cancels < 3) {
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    expect(transport.execs[0].command).toBe(
      `PYTHONDONTWRITEBYTECODE= /w/venv1/bin/python -I -u /w/runtime/h/agent.py cancel ${JOB_DIR} --grace 5`
    );
    stream.emit(done('cancelled'));
    expect((await outcome).status).toBe('aborted');
    expect(sink.text('stderr').match(/cancel failed/g)).toHaveLength(1);
    expect(sink.text('stderr')).toContain('[cluster-bridge] job cancelled');
  });

  it('ends a cancelled job that never confirms, and closes its stream', async () => {
    const { transport, follower, job } = setup({}, { cancelWaitMs: 200 });
    const abort = new AbortController();
    abort.abort();
    const outcome = follower.run({ offset: 0, signal: abort.signal });
    const stream = await transport.nextStream(0);
    expect((await outcome).status).toBe('aborted');
    expect(stream.closed).toBe(true);
    expect(job.endState).toBe('cancelled');
    expect(job.detail).toBe('the job did not confirm the cancel in time');
  });

  // `preparing`: the node died while the job built its env (it beats from the build on).
  it.each(['running', 'preparing'])(
    'ends a %s job whose other login node stopped beating, never one that beats',
    async state => {
      const { transport, follower, job } = setup(
        {},
        { directProbeMs: 20, nodeSilentMs: 60000 }
      );
      let beatAge = 5;
      transport.answer = command =>
        / status /.test(command)
          ? {
              stdout: JSON.stringify({
                state,
                pid: 42,
                node: 'login-2',
                here: 'login-1',
                beatAge,
                done: false
              })
            }
          : {};
      const outcome = follower.run({ offset: 0 });
      await transport.nextStream(0);
      // A job that beats is alive however long it is silent.
      await new Promise(resolve => setTimeout(resolve, 150));
      expect(job.endState).toBeUndefined();
      beatAge = 300;
      expect((await outcome).status).toBe('error');
      expect(job.endState).toBe('lost');
      expect(job.detail).toMatch(
        /node login-2 has not been heard from for 300 s \(this login node is login-1\)/
      );
    }
  );

  it("ends a direct job whose process died silently (the agent's status, twice)", async () => {
    const { transport, follower, job } = setup({}, { directProbeMs: 20 });
    transport.answer = command =>
      / status /.test(command)
        ? { stdout: '{"alive": false, "pid": 42, "state": "failed"}\n' }
        : {};
    const outcome = follower.run({ offset: 0 });
    await transport.nextStream(0);
    expect((await outcome).status).toBe('error');
    expect(job.schedulerId).toBe('42');
    expect(job.endState).toBe('failed');
    expect(job.detail).toBe('the job process ended without writing its end');
    expect(
      transport.execs.filter(e => / status /.test(e.command))
    ).toHaveLength(2);
  });
});
