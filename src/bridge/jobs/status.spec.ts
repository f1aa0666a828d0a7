import { STATUS_MIME } from '../../shared/mime';
import { recordingSink } from '../../../tests/support/jobs';
import { StatusLine } from './status';

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
});
