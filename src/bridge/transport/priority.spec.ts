import { FakeTransport } from '../../../tests/support/jobs';
import { withPriority } from './priority';

describe('withPriority', () => {
  it('marks every exec as a priority command and leaves the rest as it was', async () => {
    const inner = new FakeTransport();
    const view = withPriority(inner);
    await view.exec('squeue', { stdin: 'x' });
    expect(inner.execs).toEqual([
      { command: 'squeue', stdin: 'x', priority: true }
    ]);
    expect(view.cluster).toBe(inner.cluster);
    expect(view.state).toBe('connected');
    await view.connect();
    expect(inner.connects).toBe(1);
  });
});
