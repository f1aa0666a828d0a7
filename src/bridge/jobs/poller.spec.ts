import type { IScheduler, SchedulerState } from '../schedulers/types';
import type { ITransport } from '../transport/types';
import { StatePoller } from './poller';

/** A scheduler whose states() answers from a table and counts its calls. */
function fakeScheduler(table: Map<string, SchedulerState>) {
  const calls: string[][] = [];
  const scheduler = {
    kind: 'slurm',
    script: () => '',
    submit: async () => ({ schedulerId: '1' }),
    cancel: async () => undefined,
    states: async (_t: ITransport, ids: string[]) => {
      calls.push([...ids]);
      return new Map(
        ids.map(
          id =>
            [id, table.get(id) ?? { state: 'unknown' }] as [
              string,
              SchedulerState
            ]
        )
      );
    }
  } as unknown as IScheduler;
  return { scheduler, calls };
}

const flush = () =>
  new Promise(resolve =>
    jest.requireActual<typeof import('timers')>('timers').setImmediate(resolve)
  );

describe('StatePoller', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks about every watched job in one call, and reports changes only', async () => {
    const table = new Map<string, SchedulerState>([
      ['1', { state: 'pending', reason: 'Resources' }],
      ['2', { state: 'running', node: 'n1' }]
    ]);
    const { scheduler, calls } = fakeScheduler(table);
    const poller = new StatePoller({} as ITransport, scheduler, {
      fast: 100,
      slow: 800
    });
    const seen: string[] = [];
    poller.watch('1', s => seen.push(`1:${s.state}`));
    poller.watch('2', s => seen.push(`2:${s.state}`));
    await jest.advanceTimersByTimeAsync(0);
    await flush();
    expect(calls).toEqual([['1', '2']]);
    expect(seen).toEqual(['1:pending', '2:running']);
    await jest.advanceTimersByTimeAsync(100);
    expect(calls).toHaveLength(2);
    expect(seen).toHaveLength(2);
    table.set('1', { state: 'running', node: 'n2' });
    await jest.advanceTimersByTimeAsync(1000);
    expect(seen).toEqual(['1:pending', '2:running', '1:running']);
  });

  it('backs off while nothing changes and stops when nobody watches', async () => {
    const { scheduler, calls } = fakeScheduler(
      new Map([['7', { state: 'pending' }]])
    );
    const poller = new StatePoller({} as ITransport, scheduler, {
      fast: 100,
      slow: 800
    });
    const stop = poller.watch('7', () => undefined);
    await jest.advanceTimersByTimeAsync(10000);
    // 0, 100, 300, 700, 1500, then every 800 ms: far fewer than one call per 100 ms.
    expect(calls.length).toBeLessThan(20);
    expect(calls.length).toBeGreaterThan(8);
    stop();
    const before = calls.length;
    await jest.advanceTimersByTimeAsync(10000);
    expect(calls.length).toBe(before);
  });
});
