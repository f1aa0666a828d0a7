import { ChannelLimiter, isChannelRefusal, retryDelay } from './limiter';

describe('ChannelLimiter', () => {
  it('never grants more than max - 1 ordinary slots and serves waiters in order', async () => {
    const l = new ChannelLimiter(3);
    const order: number[] = [];
    const releases = await Promise.all([l.acquire(), l.acquire()]);
    expect(l.active).toBe(2);
    const waiting = [3, 4].map(n => l.acquire().then(r => (order.push(n), r)));
    await new Promise(r => setTimeout(r, 10));
    expect(l.waiting).toBe(2);
    releases[0]();
    releases[0](); // a second call must not free another slot
    const r3 = await waiting[0];
    expect(order).toEqual([3]);
    expect(l.active).toBe(2);
    releases[1]();
    const r4 = await waiting[1];
    expect(order).toEqual([3, 4]);
    r3();
    r4();
    expect(l.active).toBe(0);
  });

  it('keeps one slot for priority commands when ordinary ones fill the rest', async () => {
    const l = new ChannelLimiter(10);
    const follows = await Promise.all(
      Array.from({ length: 9 }, () => l.acquire())
    );
    let queuedGranted = false;
    const queued = l.acquire().then(r => ((queuedGranted = true), r));
    const cancel = await l.acquire(true);
    expect(l.active).toBe(10);
    expect(queuedGranted).toBe(false);
    cancel();
    await new Promise(r => setTimeout(r, 10));
    expect(queuedGranted).toBe(false); // the reserved slot stays reserved
    follows[0]();
    (await queued)();
    follows.slice(1).forEach(r => r());
    expect(l.active).toBe(0);
  });

  it('serves priority waiters before ordinary ones', async () => {
    const l = new ChannelLimiter(2);
    const first = await l.acquire();
    const second = await l.acquire(true);
    const order: string[] = [];
    const ordinary = l.acquire().then(r => (order.push('ordinary'), r));
    const priority = l.acquire(true).then(r => (order.push('priority'), r));
    first();
    (await priority)();
    second();
    (await ordinary)();
    expect(order).toEqual(['priority', 'ordinary']);
  });

  it('reserves nothing when the limit is one', async () => {
    const l = new ChannelLimiter(1);
    const only = await l.acquire();
    expect(l.active).toBe(1);
    only();
  });

  it('classifies refusals and backs off', () => {
    expect(
      isChannelRefusal(new Error('(SSH) Channel open failure: open failed'))
    ).toBe(true);
    expect(isChannelRefusal(new Error('No response from server'))).toBe(false);
    for (let i = 0; i < 10; i++) {
      expect(retryDelay(i)).toBeGreaterThan(0);
      expect(retryDelay(i)).toBeLessThanOrEqual(1000);
    }
  });
});
