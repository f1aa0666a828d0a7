// Over 500 lines: cells, line magics, the comm and completion all run through one CellRunner set-up.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { ClusterRegistry, UnknownClusterError } from '../clusters/registry';
import type { IJobInfo } from '../../shared/jobs';
import type { IPrompter } from '../transport/types';
import type {
  IJobManager,
  IOutputSink,
  IRunCellOptions,
  IRunOutcome
} from '../jobs/types';
import { doctorReport, type IDoctorLine } from '../../shared/doctor';
import { CellRunner } from './cellRunner';
import type { IKernelServices } from './services';
import { KernelCore } from './core';
import { FakeClient } from '../../../tests/support/fakeKernelClient';
import { IMessage, newSession } from './wire';

/** A job manager that records what it was asked and plays a script. */
class FakeJobs implements IJobManager {
  calls: IRunCellOptions[] = [];
  cancelled: string[] = [];
  attached: string[] = [];
  prompters: (IPrompter | undefined)[] = [];
  list: IJobInfo[] = [];
  listeners = new Set<(job: IJobInfo) => void>();
  script: (o: IRunCellOptions) => Promise<IRunOutcome> = async o => {
    o.sink.stream('stdout', `remote: ${o.code}\n`);
    o.sink.result({ 'text/plain': '42' });
    return { status: 'ok' };
  };

  runCell(o: IRunCellOptions): Promise<IRunOutcome> {
    this.calls.push(o);
    return this.script(o);
  }
  async attach(
    jobId: string,
    sink: IOutputSink,
    _signal?: AbortSignal,
    prompter?: IPrompter
  ): Promise<IRunOutcome> {
    this.attached.push(jobId);
    this.prompters.push(prompter);
    if (!this.list.some(j => j.id === jobId)) {
      throw new Error(`unknown job ${jobId}`);
    }
    sink.stream('stdout', 'replayed\n');
    return { status: 'ok' };
  }
  async cancel(jobId: string, prompter?: IPrompter): Promise<void> {
    this.cancelled.push(jobId);
    this.prompters.push(prompter);
  }
  jobs(): IJobInfo[] {
    return this.list;
  }
  onChange(listener: (job: IJobInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const JOB: IJobInfo = {
  id: 'cb-abc123',
  cluster: 'local',
  scheduler: 'direct',
  schedulerId: '4242',
  remoteDir: '/home/u/.cluster-bridge/jobs/cb-abc123',
  phase: 'running',
  detached: true,
  submittedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  title: 'import torch',
  offset: 0
};

let tmp: string;

function setup(extra: Partial<IKernelServices> = {}) {
  const file = path.join(tmp, 'clusters.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      default: 'local',
      clusters: {
        gpu: {
          type: 'ssh',
          host: 'gpu.example',
          scheduler: 'slurm',
          envs: { torch: { pip: ['torch'] } }
        },
        sge: { type: 'ssh', host: 'sge.example', scheduler: 'sge' }
      }
    })
  );
  const clusters = new ClusterRegistry({
    configFile: file,
    sshConfigPath: null
  });
  const jobs = new FakeJobs();
  let disposed = 0;
  const services: IKernelServices = {
    clusters,
    jobs,
    dispose: async () => {
      disposed++;
    },
    ...extra
  };
  const session = new CellRunner(services);
  const client = new FakeClient();
  const core = new KernelCore({
    handler: session,
    send: client.send,
    session: newSession(),
    implementationVersion: '0'
  });
  const run = async (code: string, content: Record<string, unknown> = {}) => {
    const req = client.request('execute_request', { code, ...content });
    await core.handleMessage('shell', req);
    await core.idle();
    const out = client
      .children(req, 'iopub')
      .filter(m => !['status', 'execute_input'].includes(m.header.msg_type));
    return { req, out, reply: client.reply(req)!, text: Private.text(out) };
  };
  return {
    clusters,
    jobs,
    session,
    client,
    core,
    run,
    disposed: () => disposed
  };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-cell-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('CellRunner: cells', () => {
  it('sends a %%cluster cell to the job manager with its request, body and line offset', async () => {
    const { run, jobs } = setup();
    const { out, reply } = await run(
      '%%cluster gpu --gpus 2 --time 00:10:00\nprint(1)\n1+1'
    );
    expect(jobs.calls).toHaveLength(1);
    expect(jobs.calls[0]).toMatchObject({
      request: { cluster: 'gpu', gpus: 2, time: '00:10:00' },
      code: 'print(1)\n1+1',
      lineOffset: 1,
      executionCount: 1
    });
    expect(jobs.calls[0].signal).toBeDefined();
    expect(jobs.calls[0].prompter).toBeDefined();
    expect(out.map(m => m.header.msg_type)).toEqual([
      'stream',
      'execute_result'
    ]);
    expect(out[1].content).toMatchObject({
      data: { 'text/plain': '42' },
      execution_count: 1
    });
    expect(reply.content).toMatchObject({ status: 'ok' });
  });

  it('runs a bare %%cluster and plain code on the default cluster', async () => {
    const { run, jobs } = setup();
    await run('%%cluster\nx');
    await run('print("plain")');
    expect(
      jobs.calls.map(c => [c.request.cluster, c.code, c.lineOffset])
    ).toEqual([
      ['local', 'x', 1],
      ['local', 'print("plain")', 0]
    ]);
  });

  it('does nothing for an empty cell', async () => {
    const { run, jobs } = setup();
    const { reply, out } = await run('  \n');
    expect(jobs.calls).toEqual([]);
    expect(out).toEqual([]);
    expect(reply.content).toMatchObject({ status: 'ok' });
  });

  it('a malformed magic gives a usage error and starts nothing', async () => {
    const { run, jobs } = setup();
    const { reply, out } = await run('%%cluster gpu --gpu 1\nprint(1)');
    expect(jobs.calls).toEqual([]);
    expect(out.map(m => m.header.msg_type)).toEqual(['error']);
    expect(out[0].content).toMatchObject({
      ename: 'UsageError',
      evalue: 'unknown option "--gpu" (did you mean --gpus?)'
    });
    expect((out[0].content.traceback as string[]).join('\n')).toContain(
      'Usage: %%cluster [NAME] [options]'
    );
    expect(reply.content).toMatchObject({
      status: 'error',
      ename: 'UsageError'
    });
  });

  it('an unknown cluster lists the known ones and starts nothing', async () => {
    const { run, jobs } = setup();
    const { reply } = await run('%%cluster nowhere\nprint(1)');
    expect(jobs.calls).toEqual([]);
    expect(reply.content).toMatchObject({
      status: 'error',
      ename: 'UnknownCluster',
      evalue: 'unknown cluster "nowhere". Known clusters: local, gpu, sge'
    });
    expect(reply.content.traceback).toEqual([
      'UnknownCluster: unknown cluster "nowhere". Known clusters: local, gpu, sge',
      'Add clusters to ~/.ssh/config, the file named by CLUSTER_BRIDGE_CONFIG, or the settings.'
    ]);
  });

  it('a job manager that meets an unknown cluster says the same', async () => {
    const { run, jobs } = setup();
    jobs.script = async () => {
      throw new UnknownClusterError('gone', ['local']);
    };
    const { reply } = await run('%%cluster gpu\nx');
    expect(reply.content).toMatchObject({
      status: 'error',
      ename: 'UnknownCluster',
      evalue: 'unknown cluster "gone". Known clusters: local'
    });
  });

  it('reports a job manager failure as an error output', async () => {
    const { run, jobs } = setup();
    jobs.script = async () => {
      throw new Error('connection refused by gpu.example:22');
    };
    const { reply, out } = await run('%%cluster gpu\nx');
    expect(out[0].content).toMatchObject({
      ename: 'ClusterBridgeError',
      evalue: 'connection refused by gpu.example:22'
    });
    expect(reply.content).toMatchObject({ status: 'error' });
  });

  it('an interrupt aborts the signal given to the job manager', async () => {
    const { client, core, jobs } = setup();
    jobs.script = o =>
      new Promise(resolve =>
        o.signal!.addEventListener('abort', () => {
          o.sink.error('KeyboardInterrupt', '', ['KeyboardInterrupt']);
          resolve({ status: 'aborted' });
        })
      );
    const req = client.request('execute_request', {
      code: '%%cluster gpu\nimport time; time.sleep(100)'
    });
    await core.handleMessage('shell', req);
    await client.until(() => jobs.calls.length === 1);
    await core.handleMessage('control', client.request('interrupt_request'));
    await core.idle();
    expect(jobs.calls[0].signal!.aborted).toBe(true);
    expect(client.reply(req)!.content).toMatchObject({
      status: 'error',
      ename: 'KeyboardInterrupt'
    });
  });

  it('several remote cells run at once, outputs to their own cell', async () => {
    const { client, core, jobs } = setup();
    const release: (() => void)[] = [];
    jobs.script = o =>
      new Promise(resolve => {
        o.sink.stream('stdout', `started ${o.code}\n`);
        release.push(() => {
          o.sink.stream('stdout', `finished ${o.code}\n`);
          resolve({ status: 'ok' });
        });
      });
    const a = client.request('execute_request', { code: '%%cluster gpu\nA' });
    const b = client.request('execute_request', { code: '%%cluster sge\nB' });
    await core.handleMessage('shell', a);
    await core.handleMessage('shell', b);
    await client.until(() => release.length === 2);
    release[1]();
    release[0]();
    await core.idle();
    const texts = (m: IMessage) => Private.text(client.children(m, 'iopub'));
    expect(texts(a)).toBe('started A\nfinished A\n');
    expect(texts(b)).toBe('started B\nfinished B\n');
  });
});

describe('CellRunner: line magics', () => {
  it('%cluster list shows clusters, default marked', async () => {
    const { run } = setup();
    const { text, reply } = await run('%cluster list');
    expect(text).toMatch(
      /^\*\s+local\s+local\s+direct\s+disconnected\s+builtin$/m
    );
    expect(text).toMatch(/^\s+gpu\s+ssh\s+slurm\s+disconnected\s+file$/m);
    expect(reply.content).toMatchObject({ status: 'ok' });
  });

  it('%cluster use changes the default for later cells', async () => {
    const { run, jobs, clusters } = setup();
    const { text } = await run('%cluster use gpu');
    expect(text).toContain('Default cluster of this kernel: gpu');
    expect(clusters.defaultCluster).toBe('gpu');
    await run('%%cluster\nx');
    expect(jobs.calls[0].request.cluster).toBe('gpu');
    const bad = await run('%cluster use nowhere');
    expect(bad.reply.content).toMatchObject({
      ename: 'UnknownCluster',
      evalue: expect.stringContaining('local, gpu, sge')
    });
  });

  it('%cluster jobs, attach and cancel', async () => {
    const { run, jobs } = setup();
    expect((await run('%cluster jobs')).text).toContain('No jobs.');
    jobs.list = [JOB];
    const listed = (await run('%cluster jobs')).text;
    expect(listed).toMatch(
      /cb-abc123\s+local\s+direct 4242\s+running\s+2026-01-02 03:04:05\s+detached\s+import torch/
    );
    expect((await run('%cluster attach cb-abc123')).text).toBe('replayed\n');
    const missing = await run('%cluster attach cb-nope');
    expect(missing.reply.content).toMatchObject({
      status: 'error',
      evalue: 'unknown job cb-nope'
    });
    expect((await run('%cluster cancel cb-abc123')).text).toContain(
      'Cancelled job cb-abc123'
    );
    expect(jobs.cancelled).toEqual(['cb-abc123']);
    // attach and cancel can ask for a passphrase through the kernel's stdin.
    expect(jobs.prompters).toHaveLength(3);
    for (const prompter of jobs.prompters) {
      expect(prompter).toBeDefined();
    }
  });

  it('%cluster help prints the usage', async () => {
    const { run } = setup();
    expect((await run('%cluster help')).text).toContain('--gpus N');
  });

  it('%cluster doctor prints a checklist with a verdict per line', async () => {
    const lines: IDoctorLine[] = [
      { check: 'connection', verdict: 'ok', detail: 'connected in 120 ms' },
      { check: 'python', verdict: 'ok', detail: 'Python 3.11.2' },
      {
        check: 'conda',
        verdict: 'warn',
        detail: 'not found; venv will be used'
      },
      { check: 'scheduler', verdict: 'fail', detail: 'sbatch not found' }
    ];
    const doctor = jest.fn(async () => lines);
    const { run } = setup({ doctor });
    const { text, reply } = await run('%cluster doctor gpu');
    expect(doctor).toHaveBeenCalledWith(
      expect.objectContaining({ name: 'gpu' }),
      expect.anything(),
      expect.anything()
    );
    expect(text).toContain('[ ok ] connection');
    expect(text).toContain('[warn] conda');
    expect(text).toContain('[FAIL] scheduler');
    expect(text).toContain('gpu: NOT READY (1 failed, 1 warning)');
    expect(reply.content).toMatchObject({ status: 'error' });
  });

  it('%cluster clean --dry-run asks for a dry run on the named cluster and prints the report', async () => {
    const clean = jest.fn(async () => ({
      workDir: '/w',
      dryRun: true,
      retention: { jobsDays: 7, runtimesDays: 7, envsDays: 30 },
      remove: [
        {
          kind: 'jobs' as const,
          name: 'cb-old',
          bytes: 2048,
          ageDays: 9,
          why: 'ended (completed), last written 9.0 days ago'
        }
      ],
      keep: [],
      sizes: {},
      freed: 0,
      failed: []
    }));
    const { run } = setup({ clean });
    const { text, reply } = await run('%cluster clean gpu --dry-run');
    expect(clean).toHaveBeenCalledWith(
      expect.objectContaining({ name: 'gpu' }),
      expect.objectContaining({ dryRun: true })
    );
    expect(text).toContain('Dry run: would remove on gpu');
    expect(text).toContain('cb-old');
    expect(reply.content).toMatchObject({ status: 'ok' });
  });

  it('%cluster doctor without a doctor says so', async () => {
    const { run } = setup();
    const { reply } = await run('%cluster doctor');
    expect(reply.content).toMatchObject({
      status: 'error',
      evalue: expect.stringMatching(/doctor is not available/)
    });
  });
});

describe('doctorReport', () => {
  it('says ready when all lines pass', () => {
    expect(
      doctorReport('x', [{ check: 'python', verdict: 'ok', detail: '3.6' }])
    ).toMatch(/x: ready$/);
    expect(
      doctorReport('x', [{ check: 'gpus', verdict: 'warn', detail: 'none' }])
    ).toMatch(/x: ready, with 1 warning$/);
  });
});

describe('CellRunner: cluster_bridge comm', () => {
  async function openComm(s: ReturnType<typeof setup>) {
    const open = s.client.request('comm_open', {
      comm_id: 'c1',
      target_name: 'cluster_bridge',
      data: {}
    });
    await s.core.handleMessage('shell', open);
    const data = () =>
      s.client.sent
        .filter(x => x.message.header.msg_type === 'comm_msg')
        .map(x => x.message.content.data as Record<string, unknown>);
    const ask = async (payload: Record<string, unknown>) => {
      await s.core.handleMessage(
        'shell',
        s.client.request('comm_msg', { comm_id: 'c1', data: payload })
      );
      return data().find(d => d.id === payload.id);
    };
    return { data, ask };
  }

  it('pushes clusters and jobs on open and answers requests', async () => {
    const s = setup();
    s.jobs.list = [JOB];
    const { data, ask } = await openComm(s);
    expect(data()[0]).toMatchObject({
      event: 'clusters',
      defaultCluster: 'local'
    });
    expect((data()[0].clusters as { name: string }[]).map(c => c.name)).toEqual(
      ['local', 'gpu', 'sge']
    );
    expect(data()[1]).toEqual({ event: 'jobs', jobs: [JOB] });
    expect(await ask({ id: '1', op: 'jobs' })).toEqual({
      id: '1',
      ok: true,
      result: [JOB]
    });
    expect(await ask({ id: '2', op: 'cancel', jobId: 'cb-abc123' })).toEqual({
      id: '2',
      ok: true,
      result: null
    });
    expect(s.jobs.cancelled).toEqual(['cb-abc123']);
    expect(
      await ask({ id: '3', op: 'test', cluster: 'nowhere' })
    ).toMatchObject({
      ok: false,
      error: expect.stringMatching(/unknown cluster/)
    });
    expect(await ask({ id: '4', op: 'bogus' })).toMatchObject({
      ok: false,
      error: 'unknown op "bogus"'
    });
  });

  it('applies settings from the frontend and pushes the new clusters', async () => {
    const gpuCard: boolean[] = [];
    const s2 = setup({ setGpuCard: on => gpuCard.push(on) });
    const { data, ask } = await openComm(s2);
    const before = data().length;
    const reply = await ask({
      id: 's',
      op: 'settings',
      clusters: { lab: { type: 'ssh', host: 'lab.example' } },
      defaultCluster: 'lab',
      gpuCard: false
    });
    expect(reply).toMatchObject({
      ok: true,
      result: { defaultCluster: 'lab' }
    });
    expect(gpuCard).toEqual([false]);
    const pushes = data()
      .slice(before)
      .filter(d => d.event === 'clusters');
    expect(pushes.length).toBeGreaterThan(0);
    expect(s2.clusters.defaultCluster).toBe('lab');
    const bad = await ask({
      id: 'b',
      op: 'settings',
      clusters: { x: { type: 'nope' } }
    });
    expect(bad).toMatchObject({
      ok: false,
      error: expect.stringMatching(/invalid cluster settings/)
    });
  });

  it('pushes job changes (coalesced) and stops after close and dispose', async () => {
    const s = setup();
    const { data } = await openComm(s);
    s.jobs.list = [JOB];
    for (const l of s.jobs.listeners) {
      l(JOB);
      l(JOB);
    }
    await s.client.until(
      () => data().filter(d => d.event === 'jobs').length === 2
    );
    await new Promise(r => setTimeout(r, 80));
    expect(data().filter(d => d.event === 'jobs')).toHaveLength(2);
    await s.core.handleMessage(
      'shell',
      s.client.request('comm_close', { comm_id: 'c1', data: {} })
    );
    expect(s.jobs.listeners.size).toBe(0);
    await s.session.dispose();
    expect(s.disposed()).toBe(1);
  });
});

describe('CellRunner: completion', () => {
  it('completes options, scheduler kinds, envs, cluster names and job ids', () => {
    const s = setup();
    s.jobs.list = [JOB];
    const m = (code: string, pos = code.length) =>
      s.session.complete(code, pos).matches;
    expect(m('%%cluster --g')).toEqual(['--gpus', '--gpus-per-node']);
    expect(m('%%cluster --gpus 1 --')).not.toContain('--gpus');
    expect(m('%%cluster --scheduler s')).toEqual(['sge', 'slurm']);
    expect(m('%%cluster gpu --env ')).toEqual(['torch']);
    expect(m('%%cluster g')).toEqual(['gpu']);
    expect(m('%%cluster ')).toEqual(['gpu', 'local', 'sge']);
    expect(m('%%cluster gpu ')).toEqual([]);
    expect(m('%cluster ')).toEqual([
      'attach',
      'cancel',
      'clean',
      'doctor',
      'get',
      'help',
      'jobs',
      'list',
      'pull',
      'push',
      'put',
      'rerun',
      'restart',
      'session',
      'sessions',
      'stop',
      'use'
    ]);
    expect(m('%cluster restart l')).toEqual(['local']);
    expect(m('%cluster use l')).toEqual(['local']);
    expect(m('%cluster attach ')).toEqual(['cb-abc123']);
    expect(m('%%cl')).toEqual(['%%cluster']);
    expect(m('print(1)')).toEqual([]);
    const r = s.session.complete('%%cluster --par\nx', 15);
    expect(r).toMatchObject({
      matches: ['--partition'],
      cursor_start: 10,
      cursor_end: 15
    });
  });
});

describe('CellRunner: the picked cluster in the execute metadata', () => {
  const runWith = async (
    s: ReturnType<typeof setup>,
    code: string,
    metadata: Record<string, unknown>
  ) => {
    const req = s.client.request('execute_request', { code });
    req.metadata = metadata as IMessage['metadata'];
    await s.core.handleMessage('shell', req);
    await s.core.idle();
    return {
      reply: s.client.reply(req)!,
      errors: s.client
        .children(req, 'iopub')
        .filter(m => m.header.msg_type === 'error')
    };
  };

  it('runs a bare %%cluster on it, and never overrides a named cluster', async () => {
    const s = setup();
    await runWith(s, '%%cluster --gpus 1\nx', {
      cluster_bridge_cluster: 'gpu'
    });
    await runWith(s, '%%cluster sge\ny', { cluster_bridge_cluster: 'gpu' });
    await runWith(s, '%%cluster\nz', {});
    expect(s.jobs.calls.map(c => [c.request.cluster, c.code])).toEqual([
      ['gpu', 'x'],
      ['sge', 'y'],
      ['local', 'z']
    ]);
    expect(s.jobs.calls[0].request.gpus).toBe(1);
  });

  it.each([["local\nprint('INJECTED')"], ['-oProxyCommand=x'], [42]])(
    'runs nothing when it is %j',
    async value => {
      const s = setup();
      const { reply, errors } = await runWith(s, '%%cluster\nprint(1)', {
        cluster_bridge_cluster: value
      });
      expect(s.jobs.calls).toEqual([]);
      expect(reply.content).toMatchObject({ status: 'error' });
      expect(errors).toHaveLength(1);
      expect(String(errors[0].content.evalue)).toMatch(
        /cluster_bridge_cluster metadata: invalid cluster name.*nothing was run/
      );
    }
  );

  it("labels the remote traceback with the notebook's count, and refuses a bad one", async () => {
    const s = setup();
    await runWith(s, '%%cluster\nx', { cluster_bridge_count: 3 });
    await runWith(s, '%%cluster\ny', {});
    expect(s.jobs.calls.map(c => c.executionCount)).toEqual([3, 2]);
    const { errors } = await runWith(s, '%%cluster\nz', {
      cluster_bridge_count: '3; rm -rf ~'
    });
    expect(s.jobs.calls).toHaveLength(2);
    expect(String(errors[0].content.evalue)).toMatch(
      /cluster_bridge_count metadata is not a positive whole number/
    );
  });

  it('says so when it names no known cluster', async () => {
    const s = setup();
    const { errors } = await runWith(s, '%%cluster\nx', {
      cluster_bridge_cluster: 'nowhere'
    });
    expect(s.jobs.calls).toEqual([]);
    expect(errors[0].content).toMatchObject({ ename: 'UnknownCluster' });
  });
});

namespace Private {
  export function text(messages: IMessage[]): string {
    return messages
      .map(m =>
        m.header.msg_type === 'stream'
          ? (m.content.text as string)
          : m.header.msg_type === 'display_data' ||
              m.header.msg_type === 'execute_result'
            ? ((m.content.data as Record<string, string>)['text/plain'] ?? '')
            : ''
      )
      .join('');
  }
}
