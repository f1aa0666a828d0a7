import { Signal } from '@lumino/signaling';
import type { ISessionInfo } from '../../shared/sessions';
import type { IClusterBridge } from '../tokens';
import { SessionsView } from './sessionsView';

const T0 = Date.UTC(2026, 10, 28, 12);

function session(over: Partial<ISessionInfo>): ISessionInfo {
  return {
    id: 's',
    cluster: 'local',
    notebook: 'work/a.ipynb',
    resources: '',
    state: 'idle',
    scheduler: 'direct',
    startedAt: T0,
    ...over
  };
}

class FakeBridge {
  sessions: ISessionInfo[] = [];
  sessionsChanged = new Signal<any, any>(this);
  sessionAction = jest.fn(async (): Promise<null> => null);
  set(sessions: ISessionInfo[]) {
    this.sessions = sessions;
    this.sessionsChanged.emit(sessions);
  }
}

describe('SessionsView', () => {
  let bridge: FakeBridge;
  let errors: string[];
  let view: SessionsView;

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 + 60_000 });
    bridge = new FakeBridge();
    errors = [];
    view = new SessionsView({
      bridge: bridge as unknown as IClusterBridge,
      onError: m => errors.push(m),
      notebookPath: key => (key === 'kernel:k-1' ? 'work/plain.ipynb' : key)
    });
    document.body.appendChild(view.node);
  });

  afterEach(() => {
    view.dispose();
    view.node.remove();
    jest.useRealTimers();
  });

  const rows = () => [
    ...view.node.querySelectorAll<HTMLElement>('.jp-ClusterBridge-session')
  ];
  const text = (row: HTMLElement, fact: string) =>
    row.querySelector(`.jp-ClusterBridge-session-${fact}`)!.textContent;

  it('shows every session with cluster, notebook, resources, state and its facts', () => {
    expect(view.node.textContent).toContain('No sessions');
    bridge.set([
      session({
        id: 'gpu',
        cluster: 'hpc',
        notebook: 'work/train.ipynb',
        resources: '--gpus 1 --time 01:00:00',
        state: 'busy',
        scheduler: 'slurm',
        schedulerId: '4242',
        node: 'g17',
        memoryBytes: 2 * 1024 ** 3,
        gpus: '0',
        deadline: T0 + 3600_000
      }),
      session({ id: 'cpu', idleSeconds: 5, memoryBytes: 50 * 1024 ** 2 }),
      session({ id: 'old', state: 'ended', reason: 'stopped' }),
      session({ id: 'plain', notebook: 'kernel:k-1' })
    ]);
    const [gpu, cpu, old, plain] = rows();
    expect(rows().map(r => [r.dataset.sessionId, r.dataset.state])).toEqual([
      ['gpu', 'busy'],
      ['cpu', 'idle'],
      ['old', 'ended'],
      ['plain', 'idle']
    ]);
    expect(
      gpu.querySelector('.jp-ClusterBridge-job-cluster')!.textContent
    ).toBe('hpc');
    const notebook = gpu.querySelector<HTMLElement>(
      '.jp-ClusterBridge-session-notebook'
    )!;
    expect([notebook.textContent, notebook.title]).toEqual([
      'train.ipynb',
      'work/train.ipynb'
    ]);
    expect(text(gpu, 'resources')).toBe('--gpus 1 --time 01:00:00');
    expect(text(gpu, 'node')).toBe('node g17');
    expect(text(gpu, 'scheduler')).toBe('SLURM 4242');
    expect(text(cpu, 'scheduler')).toBe('');
    expect(text(gpu, 'memory')).toBe('2.0 GiB');
    expect(text(gpu, 'gpus')).toBe('GPU 0');
    expect(text(gpu, 'left')).toBe('59:00 left');
    expect(text(gpu, 'idle')).toBe('');
    expect(text(cpu, 'idle')).toBe('idle 0:05');
    expect(text(cpu, 'resources')).toBe('default resources');
    expect(text(cpu, 'left')).toBe('');
    expect(old.textContent).toContain('stopped');
    // A Cluster Bridge kernel notebook's session shows the notebook's path.
    expect(
      plain.querySelector<HTMLElement>('.jp-ClusterBridge-session-notebook')!
        .title
    ).toBe('work/plain.ipynb');
    expect(
      plain
        .querySelector('button[aria-label^="Stop"]')!
        .getAttribute('aria-label')
    ).toBe('Stop the session on local for plain.ipynb');
    expect(
      view.node.querySelector('.jp-ClusterBridge-sessions-status')!.textContent
    ).toBe('3 live, 1 ended');
  });

  it('ticks idle time and time left every second without rebuilding the rows', () => {
    bridge.set([
      session({
        id: 'a',
        idleSeconds: 10,
        deadline: T0 + 60_000 + 5 * 60_000 + 2_000
      })
    ]);
    const [row] = rows();
    const restart = row.querySelector('button')!;
    restart.focus();
    view.startTicking();
    jest.advanceTimersByTime(3000);
    expect(text(row, 'idle')).toBe('idle 0:13');
    expect(text(row, 'left')).toBe('4:59 left');
    expect(
      row.querySelector('.jp-ClusterBridge-session-left')!.classList
    ).toContain('jp-mod-warn');
    expect(rows()[0]).toBe(row);
    expect(document.activeElement).toBe(restart);
    view.stopTicking();
    jest.advanceTimersByTime(3000);
    expect(text(row, 'idle')).toBe('idle 0:13');
  });

  it('restarts and stops live sessions through the bridge; ended ones have no actions', async () => {
    bridge.set([session({ id: 'a' }), session({ id: 'b', state: 'ended' })]);
    const [live, ended] = rows();
    expect(ended.querySelectorAll('button')).toHaveLength(0);
    const restart = live.querySelector<HTMLButtonElement>(
      'button[aria-label="Restart the session on local for a.ipynb (its variables are lost)"]'
    )!;
    const stop = live.querySelector<HTMLButtonElement>(
      'button[aria-label="Stop the session on local for a.ipynb"]'
    )!;
    restart.click();
    expect(bridge.sessionAction).toHaveBeenLastCalledWith('a', 'restart');
    expect([restart.disabled, stop.disabled]).toEqual([true, true]);

    bridge.set([session({ id: 'a' })]);
    bridge.sessionAction.mockRejectedValueOnce(new Error('no such session'));
    rows()[0]
      .querySelector<HTMLButtonElement>('button[aria-label^="Stop"]')!
      .click();
    expect(bridge.sessionAction).toHaveBeenLastCalledWith('a', 'stop');
    await Promise.resolve();
    await Promise.resolve();
    expect(errors).toEqual(['Stop failed: no such session']);
    expect(
      rows()[0].querySelector<HTMLButtonElement>('button[aria-label^="Stop"]')!
        .disabled
    ).toBe(false);
  });
});
