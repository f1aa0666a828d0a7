import type { IJobEvent } from '../../shared/events';
import { GPU_MIME, STATUS_MIME } from '../../shared/mime';
import { envHash, envSpecFor, isJobId, newJobId } from './bundle';
import { EventLineParser } from './events';
import { EventMapper, gpuSummary } from './outputs';
import { StatusLine, statusText } from './status';
import type { IOutputSink } from './types';

/** Records every sink call in order. */
function recordingSink(): IOutputSink & { calls: [string, ...unknown[]][] } {
  const calls: [string, ...unknown[]][] = [];
  return {
    calls,
    stream: (name, text) => void calls.push(['stream', name, text]),
    display: (data, metadata, displayId) =>
      void calls.push(['display', data, metadata, displayId]),
    updateDisplay: (data, metadata, displayId) =>
      void calls.push(['update', data, metadata, displayId]),
    result: (data, metadata) => void calls.push(['result', data, metadata]),
    error: (ename, evalue, traceback) =>
      void calls.push(['error', ename, evalue, traceback])
  };
}

const line = (event: object) => JSON.stringify(event) + '\n';

describe('EventLineParser', () => {
  it('joins lines cut across chunks, at any byte, UTF-8 included', () => {
    const text =
      line({
        seq: 0,
        t: 1,
        type: 'stream',
        name: 'stdout',
        text: 'héllo ✓ 😀\n'
      }) + line({ seq: 1, t: 1, type: 'done', state: 'completed' });
    const bytes = Buffer.from(text, 'utf8');
    for (let cut = 0; cut <= bytes.length; cut++) {
      const parser = new EventLineParser();
      const a = parser.push(bytes.subarray(0, cut));
      const b = parser.push(bytes.subarray(cut));
      const events = [...a.events, ...b.events];
      expect(events.map(e => e.type)).toEqual(['stream', 'done']);
      expect((events[0] as { text: string }).text).toBe('héllo ✓ 😀\n');
      expect(parser.offset).toBe(bytes.length);
    }
  });

  it('tracks the byte offset of complete lines only', () => {
    const parser = new EventLineParser(100);
    const first = line({ seq: 0, t: 1, type: 'notice', text: 'x' });
    parser.push(Buffer.from(first + '{"seq":1,'));
    expect(parser.offset).toBe(100 + Buffer.byteLength(first));
    parser.dropPartial();
    // A resumed follow re-reads from the offset: the partial line arrives whole, once.
    const { events } = parser.push(
      Buffer.from(line({ seq: 1, t: 1, type: 'notice', text: 'y' }))
    );
    expect(events).toHaveLength(1);
  });

  it('reports junk lines without losing the events around them', () => {
    const parser = new EventLineParser();
    const a = line({ seq: 0, t: 1, type: 'notice', text: 'a' });
    const { events, bad } = parser.push(
      Buffer.from(
        a +
          'not json\n\n[1]\n' +
          line({ seq: 1, t: 1, type: 'notice', text: 'b' })
      )
    );
    expect(events.map(e => (e as { text: string }).text)).toEqual(['a', 'b']);
    expect(bad).toEqual(['not json', '[1]']);
    expect(parser.lastSeq).toBe(1);
  });
});

describe('EventMapper', () => {
  it('maps every event kind onto the sink', () => {
    const sink = recordingSink();
    const statuses: string[] = [];
    const mapper = new EventMapper({
      jobId: 'cb-1',
      sink,
      onStatus: e => statuses.push(e.phase)
    });
    const events: IJobEvent[] = [
      {
        seq: 0,
        t: 0,
        type: 'status',
        phase: 'preparing',
        message: 'building env'
      },
      { seq: 1, t: 0, type: 'env', text: 'Collecting rich\n' },
      { seq: 2, t: 0, type: 'status', phase: 'running', node: 'n1' },
      { seq: 3, t: 0, type: 'stream', name: 'stdout', text: 'hi\n' },
      { seq: 4, t: 0, type: 'stream', name: 'stderr', text: 'warn\n' },
      {
        seq: 5,
        t: 0,
        type: 'display',
        data: { 'text/html': '<b>x</b>' },
        displayId: 'd1'
      },
      {
        seq: 6,
        t: 0,
        type: 'display',
        data: { 'text/plain': 'y' },
        displayId: 'd1',
        update: true
      },
      {
        seq: 7,
        t: 0,
        type: 'result',
        data: { 'text/plain': '42' },
        metadata: {}
      },
      { seq: 8, t: 0, type: 'notice', text: 'output throttled' },
      {
        seq: 9,
        t: 0,
        type: 'gpu',
        devices: [
          { index: 0, name: 'H100', memoryTotal: 2 ** 34, memoryUsed: 2 ** 30 }
        ],
        source: 'torch',
        host: 'n1',
        cudaVisibleDevices: '0'
      },
      {
        seq: 10,
        t: 0,
        type: 'error',
        ename: 'ValueError',
        evalue: 'bad',
        traceback: ['tb']
      },
      {
        seq: 11,
        t: 0,
        type: 'done',
        state: 'failed',
        exitCode: 1,
        duration: 2.5
      }
    ];
    events.forEach(e => mapper.handle(e));
    expect(statuses).toEqual(['preparing', 'running']);
    expect(mapper.raised).toBe(true);
    expect(mapper.done?.state).toBe('failed');
    expect(sink.calls.map(c => c[0])).toEqual([
      'display',
      'update',
      'stream',
      'stream',
      'display',
      'update',
      'result',
      'stream',
      'display',
      'error',
      'update'
    ]);
    // The env build log is one display of its own, settled once the cell runs.
    expect(sink.calls[0]).toEqual([
      'display',
      { 'text/plain': 'Collecting rich\n' },
      {},
      'cb-env-cb-1'
    ]);
    expect(sink.calls[1][3]).toBe('cb-env-cb-1');
    sink.calls.splice(0, 1);
    expect(sink.calls[3]).toEqual([
      'display',
      { 'text/html': '<b>x</b>' },
      undefined,
      'd1'
    ]);
    expect(sink.calls[6]).toEqual([
      'stream',
      'stderr',
      '[cluster-bridge] output throttled\n'
    ]);
    const gpu = sink.calls[7][1] as { [mime: string]: unknown };
    expect(gpu[GPU_MIME]).toMatchObject({
      host: 'n1',
      cudaVisibleDevices: '0',
      source: 'torch'
    });
    expect(gpu['text/plain']).toContain('H100: 1.0 GiB used of 16.0 GiB');
    expect(sink.calls[7][3]).toBe('cb-gpu-cb-1');
    // The GPU card learns the run time from `done`.
    expect(
      (sink.calls[9][1] as { [mime: string]: { duration: number } })[GPU_MIME]
        .duration
    ).toBe(2.5);
  });

  it('skips GPU cards when turned off', () => {
    const sink = recordingSink();
    new EventMapper({ jobId: 'j', sink, gpuCard: false }).handle({
      seq: 0,
      t: 0,
      type: 'gpu',
      devices: [],
      source: 'env'
    });
    expect(sink.calls).toEqual([]);
  });

  it('summarizes no GPUs', () => {
    expect(gpuSummary({ devices: [], source: 'env' })).toBe(
      'GPUs: none visible'
    );
  });
});

describe('StatusLine', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('displays once, then updates in place, throttled, terminal state always sent', () => {
    const sink = recordingSink();
    const status = new StatusLine(
      sink,
      {
        jobId: 'cb-1',
        cluster: 'c',
        phase: 'connecting',
        startedAt: Date.now()
      },
      200
    );
    status.flush();
    status.set({ phase: 'preparing' });
    status.set({ phase: 'running', node: 'n1' });
    expect(sink.calls.map(c => c[0])).toEqual(['display']);
    jest.advanceTimersByTime(250);
    expect(sink.calls.map(c => c[0])).toEqual(['display', 'update']);
    for (let i = 0; i < 100; i++) {
      status.set({ detail: `tick ${i}` });
    }
    status.set({
      phase: 'done',
      endState: 'completed',
      endedAt: Date.now(),
      detail: undefined
    });
    expect(sink.calls.map(c => c[0])).toEqual(['display', 'update', 'update']);
    const last = sink.calls[2][1] as {
      [mime: string]: { phase: string; detail?: string };
    };
    expect(last[STATUS_MIME].phase).toBe('done');
    expect(last[STATUS_MIME].detail).toBeUndefined();
    expect(
      sink.calls.every(c => c[0] === 'stream' || c[3] === 'cb-status-cb-1')
    ).toBe(true);
    status.set({ phase: 'running' });
    jest.advanceTimersByTime(1000);
    expect(sink.calls).toHaveLength(3);
  });

  it('writes one plain line', () => {
    const p = { jobId: 'cb-1', cluster: 'hpc', startedAt: 0, endedAt: 1500 };
    expect(statusText({ ...p, phase: 'running', node: 'g17' })).toBe(
      'hpc: running on g17 (cb-1, 1.5 s)'
    );
    expect(
      statusText({
        ...p,
        phase: 'queued',
        detail: 'Resources',
        scheduler: 'slurm',
        schedulerId: '42'
      })
    ).toBe('hpc: queued: Resources (slurm job 42, cb-1, 1.5 s)');
    expect(statusText({ ...p, phase: 'failed', endState: 'timeout' })).toBe(
      'hpc: failed (timeout) (cb-1, 1.5 s)'
    );
  });
});

describe('bundle', () => {
  const cluster = {
    name: 'c',
    source: 'file' as const,
    config: {
      type: 'ssh' as const,
      env: { pip: ['numpy'] },
      envs: { torch: { conda: ['pytorch'] } }
    }
  };

  it('picks the default env, a named env, and adds --packages as pip packages', () => {
    expect(envSpecFor(cluster, {})).toEqual({ pip: ['numpy'] });
    expect(envSpecFor(cluster, { env: 'torch', packages: ['rich'] })).toEqual({
      conda: ['pytorch'],
      pip: ['rich']
    });
    expect(envSpecFor(cluster, { packages: ['numpy', 'rich'] })).toEqual({
      pip: ['numpy', 'rich']
    });
    expect(() => envSpecFor(cluster, { env: 'nope' })).toThrow(
      /no env "nope"\. Known envs: torch/
    );
  });

  it('hashes specs stably', () => {
    expect(envHash({ pip: ['a'], manager: 'auto' })).toBe(
      envHash({ pip: ['a'] })
    );
    expect(envHash({ pip: ['a'] })).not.toBe(envHash({ pip: ['b'] }));
  });

  it('makes safe unique job ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newJobId()));
    expect(ids.size).toBe(100);
    expect([...ids].every(isJobId)).toBe(true);
    expect(isJobId('../etc')).toBe(false);
  });
});
