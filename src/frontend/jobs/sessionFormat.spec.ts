import type { ISessionInfo } from '../../shared/sessions';
import { notebookName, sessionFacts, sessionSummary } from './sessionFormat';

const T0 = Date.UTC(2026, 10, 28, 12);

function session(over: Partial<ISessionInfo> = {}): ISessionInfo {
  return {
    id: 's1',
    cluster: 'hpc',
    notebook: 'work/train.ipynb',
    resources: '--gpus 1 --time 01:00:00',
    state: 'idle',
    scheduler: 'slurm',
    schedulerId: '42',
    startedAt: T0,
    idleSeconds: 30,
    memoryBytes: 1.5 * 1024 ** 3,
    gpus: '0',
    deadline: T0 + 3600_000,
    ...over
  };
}

describe('sessionFacts', () => {
  it('words every column of a live batch session', () => {
    const facts = sessionFacts(session(), T0 + 60_000);
    expect(facts).toMatchObject({
      resources: '--gpus 1 --time 01:00:00',
      state: 'idle',
      idle: '0:30',
      memory: '1.5 GiB',
      gpus: 'GPU 0',
      timeLeft: '59:00 left',
      endingSoon: false
    });
    expect(facts.started).toBe(new Date(T0).toLocaleString());
  });

  it('counts idle time on from when the record arrived, and time left down to the deadline', () => {
    const received = T0 + 60_000;
    const later = sessionFacts(session(), received + 15_000, received);
    expect(later.idle).toBe('0:45');
    expect(later.timeLeft).toBe('58:45 left');
    const soon = sessionFacts(session(), T0 + 3600_000 - 4 * 60_000);
    expect(soon).toMatchObject({ timeLeft: '4:00 left', endingSoon: true });
  });

  it('shows no idle time while busy, no limit without a deadline, nothing live once ended', () => {
    expect(sessionFacts(session({ state: 'busy' }), T0).idle).toBe('');
    const direct = sessionFacts(
      session({ deadline: undefined, gpus: '', resources: '' }),
      T0
    );
    expect(direct).toMatchObject({
      timeLeft: '',
      gpus: 'no GPU',
      resources: 'default resources',
      endingSoon: false
    });
    const ended = sessionFacts(
      session({ state: 'ended', reason: 'idle timeout (2h 0m)' }),
      T0
    );
    expect(ended).toMatchObject({
      state: 'ended — idle timeout (2h 0m)',
      idle: '',
      memory: '',
      timeLeft: ''
    });
  });

  it('names the notebook by its file and sums a session up in one line', () => {
    expect(notebookName('work/deep/train.ipynb')).toBe('train.ipynb');
    expect(notebookName('kernel-1234')).toBe('kernel-1234');
    expect(sessionSummary(session(), T0)).toBe(
      'Session on hpc (--gpus 1 --time 01:00:00): idle, 1:00:00 left'
    );
    expect(
      sessionSummary(
        session({ state: 'queued', reason: 'Priority', resources: '' }),
        T0 + 3600_000
      )
    ).toBe('Session on hpc: queued — Priority, 0:00 left');
  });
});
