import { ChannelLimiter, isChannelRefusal, retryDelay } from './limiter';

describe('ChannelLimiter', () => {
  it('never grants more than max slots and serves waiters in order', async () => {
    const l = new ChannelLimiter(2);
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
