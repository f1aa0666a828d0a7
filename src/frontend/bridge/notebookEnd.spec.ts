import { Signal } from '@lumino/signaling';
import { NotebookEndWatcher } from './notebookEnd';

/** The server's session list as the session manager reports it. */
class FakeSessions {
  models: any[] = [];
  runningChanged = new Signal<any, any[]>(this);
  running() {
    return this.models[Symbol.iterator]() as IterableIterator<any>;
  }
  set(models: any[]) {
    this.models = models;
    this.runningChanged.emit(models);
  }
}

/** A notebook's session context: its path and kernel status. */
class FakeContext {
  path = 'work/a.ipynb';
  statusChanged = new Signal<any, string>(this);
  disposed = new Signal<any, void>(this);
}

function notebook(id: string, path: string, kernelId: string | null) {
  return {
    id,
    path,
    name: path,
    type: 'notebook',
    kernel: kernelId ? { id: kernelId, name: 'python3' } : null
  };
}

const BRIDGE = {
  id: 'b',
  path: '.cluster-bridge/bridge',
  name: 'Cluster Bridge',
  type: 'cluster-bridge',
  kernel: { id: 'kb', name: 'cluster-bridge' }
};

describe('NotebookEndWatcher', () => {
  let sessions: FakeSessions;
  let bridge: {
    notebookClosed: jest.Mock;
    notebookKey: (path: string) => string;
  };
  let watcher: NotebookEndWatcher;

  beforeEach(() => {
    sessions = new FakeSessions();
    sessions.models = [
      notebook('s1', 'work/a.ipynb', 'k1'),
      notebook('s2', 'work/b.ipynb', 'k2'),
      BRIDGE
    ];
    bridge = {
      notebookClosed: jest.fn(async () => undefined),
      notebookKey: (path: string) => `/srv/${path}`
    };
    watcher = new NotebookEndWatcher({ bridge, sessions: sessions as any });
  });

  afterEach(() => watcher.dispose());

  const closed = () => bridge.notebookClosed.mock.calls.map(c => c[0]);

  it('reports a notebook whose session was shut down, by its last path', () => {
    // Renamed first, then shut down: the bridge knows the new path.
    sessions.set([
      notebook('s1', 'work/renamed.ipynb', 'k1'),
      notebook('s2', 'work/b.ipynb', 'k2'),
      BRIDGE
    ]);
    expect(closed()).toEqual([]);
    sessions.set([notebook('s2', 'work/b.ipynb', 'k2'), BRIDGE]);
    expect(closed()).toEqual(['/srv/work/renamed.ipynb']);
  });

  it('reports a kernel change and a kernel shut down behind a kept session', () => {
    sessions.set([
      notebook('s1', 'work/a.ipynb', 'k9'),
      notebook('s2', 'work/b.ipynb', null),
      BRIDGE
    ]);
    expect(closed()).toEqual(['/srv/work/a.ipynb', '/srv/work/b.ipynb']);
  });

  it('ignores new notebooks, an unchanged list and the bridge session itself', () => {
    sessions.set([
      notebook('s1', 'work/a.ipynb', 'k1'),
      notebook('s2', 'work/b.ipynb', 'k2'),
      notebook('s3', 'work/c.ipynb', 'k3')
    ]);
    sessions.set([
      notebook('s1', 'work/a.ipynb', 'k1'),
      notebook('s2', 'work/b.ipynb', 'k2'),
      notebook('s3', 'work/c.ipynb', 'k3')
    ]);
    expect(closed()).toEqual([]);
  });

  it('reports a deliberate restart, not a crash, and stops watching a disposed context', () => {
    const context = new FakeContext();
    watcher.watchNotebook(context as any);
    context.statusChanged.emit('autorestarting');
    context.statusChanged.emit('busy');
    expect(closed()).toEqual([]);
    context.statusChanged.emit('restarting');
    context.statusChanged.emit('restarting');
    expect(closed()).toEqual(['/srv/work/a.ipynb']);
    context.statusChanged.emit('idle');
    context.path = 'work/renamed.ipynb';
    context.statusChanged.emit('restarting');
    expect(closed()).toEqual(['/srv/work/a.ipynb', '/srv/work/renamed.ipynb']);
    context.disposed.emit();
    context.statusChanged.emit('idle');
    context.statusChanged.emit('restarting');
    expect(closed()).toEqual(['/srv/work/a.ipynb', '/srv/work/renamed.ipynb']);
  });

  it('warns, and goes on, when the bridge cannot be told', async () => {
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    bridge.notebookClosed.mockRejectedValueOnce(new Error('comm closed'));
    sessions.set([BRIDGE]);
    await new Promise(r => setTimeout(r, 0));
    expect(closed()).toEqual(['/srv/work/a.ipynb', '/srv/work/b.ipynb']);
    expect(warn).toHaveBeenCalledWith(
      'cluster-bridge: could not stop the sessions of work/a.ipynb',
      expect.any(Error)
    );
    warn.mockRestore();
  });
});
