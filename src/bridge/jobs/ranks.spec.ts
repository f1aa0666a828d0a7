import type { IJobEvent, IRankEvent } from '../../shared/events';
import { GPU_MIME, RANKS_MIME, type IRanksPayload } from '../../shared/mime';
import { recordingSink } from '../../../tests/support/jobs';
import { EventMapper } from './outputs';
import { RANK_BOUNDS, RanksView } from './ranks';

const start: IJobEvent = {
  seq: 0,
  t: 0,
  type: 'ranks',
  worldSize: 3,
  nodes: 1,
  tasksPerNode: 3,
  gpusPerNode: 0,
  launch: 'srun',
  masterAddr: 'n1',
  masterPort: 29500
};

const rank = (r: number, event: IRankEvent['event']): IRankEvent => ({
  seq: 0,
  t: 0,
  type: 'rank',
  rank: r,
  event
});

const out = (r: number, text: string) =>
  rank(r, { seq: 0, t: 0, type: 'stream', name: 'stdout', text });

describe('RanksView', () => {
  afterEach(() => jest.useRealTimers());

  it('keeps every rank but 0 in one display kept current in place, lines tagged [rank N]', () => {
    jest.useFakeTimers();
    const sink = recordingSink();
    const mapper = new EventMapper({ jobId: 'cb-1', sink });
    mapper.handle(start);
    mapper.handle(
      rank(0, { type: 'rank-start', rank: 0, localRank: 0, node: 'n1' })
    );
    mapper.handle({
      seq: 1,
      t: 0,
      type: 'stream',
      name: 'stdout',
      text: 'zero\n'
    });
    mapper.handle(
      rank(1, { type: 'rank-start', rank: 1, localRank: 1, node: 'n1' })
    );
    mapper.handle(out(1, 'one\n'));
    mapper.handle(out(2, 'two\n'));
    // rank 0's output is the cell's own; the ranks display appeared once, updates wait.
    expect(sink.text('stdout')).toBe('zero\n');
    expect(sink.calls.filter(c => c[0] === 'display')).toHaveLength(1);
    expect(sink.calls.filter(c => c[0] === 'update')).toHaveLength(0);
    jest.advanceTimersByTime(300);
    const updates = sink.calls.filter(c => c[0] === 'update');
    expect(updates).toHaveLength(1);
    expect(updates[0][3]).toBe('cb-ranks-cb-1');
    const data = updates[0][1] as { [mime: string]: unknown };
    const payload = data[RANKS_MIME] as IRanksPayload;
    expect(payload.ranks.map(r => [r.rank, r.node, r.state])).toEqual([
      [1, 'n1', 'running'],
      [2, '', 'running']
    ]);
    expect(payload.launch).toBe('srun');
    expect(data['text/plain']).toContain('[rank 1] one');
    expect(data['text/plain']).toContain('[rank 2] two');
    expect(data['text/plain']).not.toContain('zero');
  });

  it('names the failing rank and sends the end at once with done', () => {
    jest.useFakeTimers();
    const sink = recordingSink();
    const mapper = new EventMapper({ jobId: 'cb-2', sink });
    mapper.handle(start);
    mapper.handle(
      rank(2, {
        seq: 3,
        t: 0,
        type: 'error',
        ename: 'ValueError',
        evalue: 'bad',
        traceback: ['tb']
      })
    );
    mapper.handle(rank(2, { type: 'rank-end', state: 'error', failed: true }));
    mapper.handle(rank(1, { type: 'rank-end', state: 'cancelled' }));
    mapper.handle({ seq: 9, t: 0, type: 'done', state: 'failed' });
    const last = sink.calls[sink.calls.length - 1];
    expect(last[0]).toBe('update');
    const payload = (last[1] as { [m: string]: unknown })[
      RANKS_MIME
    ] as IRanksPayload;
    expect(payload.failedRank).toBe(2);
    expect(payload.ranks.map(r => r.state)).toEqual(['cancelled', 'error']);
    expect(payload.ranks[1].outputs[0]).toMatchObject({
      type: 'error',
      ename: 'ValueError'
    });
  });

  it("bounds each rank's outputs and counts what it dropped", () => {
    const view = new RanksView({ jobId: 'cb-3', sink: recordingSink() });
    view.handle(start);
    for (let i = 0; i < RANK_BOUNDS.outputs + 5; i++) {
      view.handle(
        rank(1, {
          seq: i,
          t: 0,
          type: 'display',
          data: { 'text/plain': `${i}` }
        })
      );
    }
    view.handle(out(1, 'x'.repeat(RANK_BOUNDS.text * 2)));
    const one = view.payload.ranks[0];
    expect(one.outputs).toHaveLength(RANK_BOUNDS.outputs);
    expect(one.dropped).toBe(6);
    const last = one.outputs[one.outputs.length - 1];
    expect(last.type === 'stream' && last.text.length).toBe(RANK_BOUNDS.text);
    view.finish();
  });

  it('puts every node on the GPU card', () => {
    const sink = recordingSink();
    const mapper = new EventMapper({ jobId: 'cb-4', sink });
    mapper.handle({
      seq: 0,
      t: 0,
      type: 'gpu',
      source: 'env',
      devices: [{ index: 0, name: 'GPU 0' }],
      nodes: [
        { host: 'n1', ranks: [0, 1], cudaVisibleDevices: '0,1', devices: [] },
        { host: 'n2', ranks: [2, 3], cudaVisibleDevices: '0,1', devices: [] }
      ]
    });
    const data = sink.calls[0][1] as { [mime: string]: unknown };
    expect((data[GPU_MIME] as { nodes: unknown[] }).nodes).toHaveLength(2);
    expect(data['text/plain']).toContain('node n2 (ranks 2, 3)');
  });
});
