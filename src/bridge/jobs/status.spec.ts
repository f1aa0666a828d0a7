import { STATUS_MIME } from '../../shared/mime';
import { recordingSink } from '../../../tests/support/jobs';
import { StatusLine, statusText } from './status';

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
