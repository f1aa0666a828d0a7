import type { IJobEvent } from '../../shared/events';
import { GPU_MIME } from '../../shared/mime';
import { recordingSink } from '../../../tests/support/jobs';
import { EventMapper, gpuSummary } from './outputs';

describe('EventMapper', () => {
  it('in the kernel, an env build is the status detail, not an output', () => {
    const sink = { ...recordingSink(), cellStatus: () => false };
    const statuses: [string, string | undefined][] = [];
    const mapper = new EventMapper({
      jobId: 'cb-1',
      sink,
      onStatus: e => statuses.push([e.phase, e.message])
    });
    mapper.handle({ seq: 0, t: 0, type: 'env', text: 'Collecting rich\n\n' });
    mapper.handle({ seq: 1, t: 0, type: 'env', text: '\r  Downloading ' });
    mapper.handle({ seq: 2, t: 0, type: 'status', phase: 'running' });
    mapper.handle({ seq: 3, t: 0, type: 'stream', name: 'stdout', text: 'x' });
    expect(sink.calls.map(c => c[0])).toEqual(['stream']);
    expect(statuses).toEqual([
      ['preparing', 'Collecting rich'],
      ['preparing', 'Downloading'],
      ['running', undefined]
    ]);
  });

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
