import { STATUS_MIME } from '../../shared/mime';
import { recordingSink } from '../../../tests/support/jobs';
import type { IStatusPayload } from '../../shared/mime';
import { ICellStatusSink, StatusLine } from './status';

/** A kernel sink: records outputs and what went beside the cell. */
function kernelSink(
  watched: () => boolean
): ReturnType<typeof recordingSink> &
  ICellStatusSink & { pushed: IStatusPayload[] } {
  const pushed: IStatusPayload[] = [];
  return {
    ...recordingSink(),
    pushed,
    cellStatus: payload => {
      pushed.push(payload);
      return watched();
    }
  };
}

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

  it('words its text/plain fallback as the JupyterLab renderer does', () => {
    const sink = recordingSink();
    const started = Date.now();
    const status = new StatusLine(sink, {
      jobId: 'cb-1',
      cluster: 'hpc',
      phase: 'queued',
      scheduler: 'slurm',
      schedulerId: '42',
      detail: 'Resources',
      startedAt: started
    });
    status.flush();
    status.set({
      phase: 'failed',
      endState: 'timeout',
      endedAt: started + 75000,
      node: 'g17',
      detail: undefined
    });
    const plain = sink.calls.map(
      c => (c[1] as { [mime: string]: string })['text/plain']
    );
    expect(plain).toEqual([
      'Queued on hpc as SLURM job 42 (reason: Resources) · 0:00 · job cb-1 · SLURM 42',
      'Time limit reached on hpc, node g17 · 1:15 · job cb-1 · SLURM 42'
    ]);
  });

  it('in the kernel, a watched cell gets no status output: it all goes beside the cell', () => {
    const sink = kernelSink(() => true);
    const status = new StatusLine(
      sink,
      { jobId: 'cb-1', cluster: 'c', phase: 'connecting', startedAt: 1 },
      200
    );
    status.flush();
    status.set({ phase: 'queued', detail: 'Resources' });
    jest.advanceTimersByTime(250);
    status.set({ phase: 'failed', endState: 'failed', endedAt: 2 });
    expect(sink.calls).toEqual([]);
    expect(sink.pushed.map(p => p.phase)).toEqual([
      'connecting',
      'queued',
      'failed'
    ]);
  });

  it('in the kernel with no frontend, only a queued reason becomes an output, then one line kept current', () => {
    const sink = kernelSink(() => false);
    const status = new StatusLine(
      sink,
      { jobId: 'cb-2', cluster: 'hpc', phase: 'connecting', startedAt: 1 },
      0
    );
    status.flush();
    status.set({ phase: 'submitted' });
    status.set({ phase: 'queued' });
    expect(sink.calls).toEqual([]);
    status.set({ phase: 'queued', detail: 'Priority' });
    status.set({ phase: 'running', detail: undefined, node: 'n1' });
    status.set({ phase: 'done', endState: 'completed', endedAt: 5 });
    expect(sink.calls.map(c => [c[0], c[3]])).toEqual([
      ['display', 'cb-status-cb-2'],
      ['update', 'cb-status-cb-2'],
      ['update', 'cb-status-cb-2']
    ]);
    expect(sink.pushed).toHaveLength(6);
  });

  it('in the kernel with no frontend, a direct cell shows nothing but its own outputs', () => {
    const sink = kernelSink(() => false);
    const status = new StatusLine(sink, {
      jobId: 'cb-3',
      cluster: 'local',
      phase: 'connecting',
      startedAt: 1
    });
    status.flush();
    status.set({ phase: 'starting' });
    status.set({ phase: 'failed', endState: 'failed', endedAt: 2 });
    expect(sink.calls).toEqual([]);
  });
});
