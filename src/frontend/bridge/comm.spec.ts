import { CommClient, CommError, type ICommTransport } from './comm';
import type { CommPush } from '../../shared/comm';

/** An in-memory comm: records what the client sends, lets the test answer. */
class FakeComm implements ICommTransport {
  sent: any[] = [];
  closedByClient = false;
  private handlers!: { onMessage: (d: unknown) => void; onClose: () => void };

  send(data: unknown): void {
    this.sent.push(data);
  }
  setHandlers(h: { onMessage: (d: unknown) => void; onClose: () => void }) {
    this.handlers = h;
  }
  close(): void {
    this.closedByClient = true;
  }
  deliver(data: unknown): void {
    this.handlers.onMessage(data);
  }
  kernelCloses(): void {
    this.handlers.onClose();
  }
}

describe('CommClient', () => {
  let comm: FakeComm;
  let client: CommClient;

  beforeEach(() => {
    comm = new FakeComm();
    client = new CommClient(comm, { idPrefix: 't', timeout: 1000 });
  });

  afterEach(() => client.dispose());

  /** A request whose outcome the test does not look at. */
  const fire = (body: Parameters<CommClient['request']>[0]) => {
    client.request(body).catch(() => undefined);
  };

  it('sends each request with a fresh id and the op fields', () => {
    fire({ op: 'clusters' });
    fire({ op: 'cancel', jobId: 'j1' });
    expect(comm.sent).toEqual([
      { op: 'clusters', id: 't-1' },
      { op: 'cancel', jobId: 'j1', id: 't-2' }
    ]);
  });

  it('matches replies to requests by id, in any order', async () => {
    const a = client.request({ op: 'clusters' });
    const b = client.request({ op: 'jobs' });
    const [ida, idb] = comm.sent.map(m => m.id);
    comm.deliver({ id: idb, ok: true, result: ['job'] });
    comm.deliver({ id: ida, ok: true, result: ['cluster'] });
    await expect(a).resolves.toEqual(['cluster']);
    await expect(b).resolves.toEqual(['job']);
    expect(client.pendingCount).toBe(0);
  });

  it('rejects with the bridge error on ok: false', async () => {
    const p = client.request({ op: 'test', cluster: 'nope' });
    const rejected = expect(p).rejects.toThrow('unknown cluster nope');
    comm.deliver({
      id: comm.sent[0].id,
      ok: false,
      error: 'unknown cluster nope'
    });
    await rejected;
    await expect(p).rejects.toBeInstanceOf(CommError);
  });

  it('ignores replies to unknown ids and malformed messages', async () => {
    const p = client.request({ op: 'jobs' });
    comm.deliver({ id: 'other-1', ok: true, result: 'not mine' });
    comm.deliver(null);
    comm.deliver('text');
    comm.deliver({ ok: true });
    expect(client.pendingCount).toBe(1);
    comm.deliver({ id: comm.sent[0].id, ok: true, result: 'mine' });
    await expect(p).resolves.toBe('mine');
  });

  it('emits pushes as a signal and does not treat them as replies', () => {
    const seen: CommPush[] = [];
    client.pushed.connect((_, push) => seen.push(push));
    fire({ op: 'jobs' });
    const push: CommPush = { event: 'jobs', jobs: [] };
    comm.deliver(push);
    expect(seen).toEqual([push]);
    expect(client.pendingCount).toBe(1);
  });

  it('rejects a request that gets no reply in time', async () => {
    jest.useFakeTimers();
    try {
      const p = client.request({ op: 'clusters' });
      const rejected = expect(p).rejects.toThrow(/no reply to 'clusters'/);
      jest.advanceTimersByTime(1001);
      await rejected;
      expect(client.pendingCount).toBe(0);
      // A late reply is dropped quietly.
      comm.deliver({ id: comm.sent[0].id, ok: true, result: 1 });
    } finally {
      jest.useRealTimers();
    }
  });

  it('rejects pending requests when the kernel closes the comm', async () => {
    let closed = 0;
    client.closed.connect(() => closed++);
    const p = client.request({ op: 'jobs' });
    const rejected = expect(p).rejects.toThrow('comm closed');
    comm.kernelCloses();
    await rejected;
    expect(client.isClosed).toBe(true);
    expect(closed).toBe(1);
    await expect(client.request({ op: 'jobs' })).rejects.toThrow(
      'comm is closed'
    );
  });

  it('closes the comm on dispose', async () => {
    const p = client.request({ op: 'jobs' });
    const rejected = expect(p).rejects.toThrow('comm closed');
    client.dispose();
    expect(comm.closedByClient).toBe(true);
    await rejected;
  });
});
