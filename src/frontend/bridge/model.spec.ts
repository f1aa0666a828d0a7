import { Signal } from '@lumino/signaling';
import { BridgeModel } from './model';

/**
 * BridgeModel against an in-memory session manager and kernel whose
 * `cluster_bridge` comm answers like the bridge kernel does.
 */
class FakeComm {
  onMsg: (msg: any) => void = () => undefined;
  onClose: (msg: any) => void = () => undefined;
  isDisposed = false;
  opened = 0;
  sent: any[] = [];
  constructor(
    readonly targetName: string,
    private kernel: FakeKernel
  ) {}
  open() {
    this.opened++;
    return {} as any;
  }
  send(data: any) {
    this.sent.push(data);
    const reply = this.kernel.failing.has(data.op)
      ? { id: data.id, ok: false, error: `unknown op '${data.op}'` }
      : { id: data.id, ok: true, result: this.kernel.answer(data) };
    queueMicrotask(() => this.onMsg({ content: { data: reply } }));
    return {} as any;
  }
  close() {
    this.isDisposed = true;
  }
  push(data: any) {
    this.onMsg({ content: { data } });
  }
}

class FakeKernel {
  name = 'cluster-bridge';
  status = 'idle';
  isDisposed = false;
  statusChanged = new Signal<any, string>(this);
  comms: FakeComm[] = [];
  settings: any = null;
  /** Ops answered with `ok: false`, like an older bridge. */
  failing = new Set<string>();
  sessions = [
    { id: 's-ended', cluster: 'local', state: 'ended', startedAt: 3 },
    { id: 's-old', cluster: 'local', state: 'idle', startedAt: 1 },
    { id: 's-new', cluster: 'hpc', state: 'busy', startedAt: 2 }
  ];
  clusters = [
    {
      name: 'local',
      source: 'builtin',
      type: 'local',
      scheduler: 'direct',
      state: 'connected'
    }
  ];

  createComm(target: string) {
    const comm = new FakeComm(target, this);
    this.comms.push(comm);
    return comm;
  }

  answer(req: any): unknown {
    switch (req.op) {
      case 'clusters':
        return { clusters: this.clusters, defaultCluster: 'local' };
      case 'sessions':
        return this.sessions;
      case 'jobs':
        return [
          { id: 'old', submittedAt: 1, phase: 'done' },
          { id: 'new', submittedAt: 2, phase: 'running' }
        ];
      case 'settings':
        this.settings = req;
        for (const name of Object.keys(req.clusters)) {
          this.clusters.push({
            name,
            source: 'settings',
            type: 'local',
            scheduler: 'direct',
            state: 'disconnected'
          });
        }
        return {
          clusters: this.clusters,
          defaultCluster: req.defaultCluster ?? 'local'
        };
      default:
        return null;
    }
  }

  restart() {
    this.status = 'restarting';
    this.statusChanged.emit('restarting');
    for (const comm of this.comms) {
      comm.onClose({});
    }
    this.status = 'idle';
    this.statusChanged.emit('idle');
  }
}

class FakeSession {
  kernelChanged = new Signal<any, any>(this);
  disposed = new Signal<any, void>(this);
  constructor(
    readonly path: string,
    readonly kernel: FakeKernel
  ) {}
  dispose() {
    this.disposed.emit();
  }
}

class FakeSessions {
  existing: { path: string; kernel: { name: string } } | undefined;
  started: any[] = [];
  kernel = new FakeKernel();
  async findByPath(path: string) {
    return this.existing?.path === path ? this.existing : undefined;
  }
  async startNew(options: any) {
    this.started.push(options);
    this.existing = {
      path: options.path,
      kernel: { name: options.kernel.name }
    };
    return new FakeSession(options.path, this.kernel);
  }
  connectTo({ model }: any) {
    return new FakeSession(model.path, this.kernel);
  }
}

const settle = () => new Promise(r => setTimeout(r, 0));

describe('BridgeModel', () => {
  let sessions: FakeSessions;
  let model: BridgeModel;

  beforeEach(() => {
    sessions = new FakeSessions();
    model = new BridgeModel({ sessions: sessions as any });
  });

  afterEach(() => model.dispose());

  it('starts one bridge session on first use, at its fixed path, and reuses it', async () => {
    const [a, b] = await Promise.all([
      model.ensureStarted(),
      model.ensureStarted()
    ]);
    expect(a).toBe(b);
    expect(sessions.started).toEqual([
      {
        path: '.cluster-bridge/bridge',
        name: 'Cluster Bridge',
        type: 'cluster-bridge',
        kernel: { name: 'cluster-bridge' }
      }
    ]);
    await model.ensureStarted();
    expect(sessions.started).toHaveLength(1);
    expect(sessions.kernel.comms.map(c => c.targetName)).toEqual([
      'cluster_bridge'
    ]);
  });

  it('joins a running bridge session without starting one', async () => {
    expect(await model.connectIfRunning()).toBe(false);
    expect(sessions.started).toHaveLength(0);
    sessions.existing = {
      path: '.cluster-bridge/bridge',
      kernel: { name: 'cluster-bridge' }
    };
    expect(await model.connectIfRunning()).toBe(true);
    expect(sessions.started).toHaveLength(0);
    expect(model.isConnected).toBe(true);
  });

  it('fills clusters and jobs from the comm, newest job first', async () => {
    const changed: string[] = [];
    model.clustersChanged.connect(() => changed.push('clusters'));
    model.jobsChanged.connect(() => changed.push('jobs'));
    await model.ensureStarted();
    await settle();
    expect(model.clusters.map(c => c.name)).toEqual(['local']);
    expect(model.defaultCluster).toBe('local');
    expect(model.jobs.map(j => j.id)).toEqual(['new', 'old']);
    expect(changed).toEqual(expect.arrayContaining(['clusters', 'jobs']));
  });

  it('applies pushes from the kernel', async () => {
    await model.ensureStarted();
    await settle();
    const comm = sessions.kernel.comms[0];
    comm.push({
      event: 'jobs',
      jobs: [{ id: 'pushed', submittedAt: 3, phase: 'queued' }]
    });
    expect(model.jobs.map(j => j.id)).toEqual(['pushed']);
    comm.push({
      event: 'clusters',
      clusters: [{ name: 'hpc', state: 'error' }],
      defaultCluster: 'hpc'
    });
    expect(model.clusters.map(c => c.name)).toEqual(['hpc']);
    expect(model.defaultCluster).toBe('hpc');
  });

  it('sends settings at connection and again on every change', async () => {
    await model.setSettings({
      clusters: { local2: { type: 'local' } },
      gpuCard: false
    });
    expect(sessions.kernel.settings).toBeNull(); // not connected yet: nothing started
    await model.ensureStarted();
    await settle();
    expect(sessions.kernel.settings).toMatchObject({
      op: 'settings',
      clusters: { local2: { type: 'local' } },
      gpuCard: false
    });
    expect(model.clusters.map(c => c.name)).toContain('local2');

    await model.setSettings({
      clusters: { live3: { type: 'local' } },
      defaultCluster: 'live3',
      gpuCard: true
    });
    expect(sessions.kernel.settings).toMatchObject({
      clusters: { live3: { type: 'local' } },
      defaultCluster: 'live3',
      gpuCard: true
    });
    expect(model.clusters.map(c => c.name)).toContain('live3');
    expect(model.defaultCluster).toBe('live3');
  });

  it('reopens the comm after a kernel restart', async () => {
    await model.ensureStarted();
    await settle();
    expect(model.isConnected).toBe(true);
    sessions.kernel.restart();
    await settle();
    expect(sessions.kernel.comms).toHaveLength(2);
    expect(model.isConnected).toBe(true);
    await expect(model.refreshClusters()).resolves.toHaveLength(1);
  });

  it('forwards cancel and test requests', async () => {
    await model.ensureStarted();
    await settle();
    await model.cancelJob('j-1');
    await model.testCluster('local');
    const ops = sessions.kernel.comms[0].sent.map(m => [
      m.op,
      m.jobId ?? m.cluster
    ]);
    expect(ops).toEqual(
      expect.arrayContaining([
        ['cancel', 'j-1'],
        ['test', 'local']
      ])
    );
  });

  it('keeps the sessions list, live ones first, from the comm and its pushes', async () => {
    const seen: string[][] = [];
    model.sessionsChanged.connect((_, list) => seen.push(list.map(s => s.id)));
    await model.ensureStarted();
    await settle();
    expect(model.sessions.map(s => s.id)).toEqual([
      's-new',
      's-old',
      's-ended'
    ]);
    sessions.kernel.comms[0].push({
      event: 'sessions',
      sessions: [{ id: 's-pushed', state: 'starting', startedAt: 4 }]
    });
    expect(model.sessions.map(s => s.id)).toEqual(['s-pushed']);
    expect(seen).toEqual([['s-new', 's-old', 's-ended'], ['s-pushed']]);
  });

  it('still gets clusters and jobs from a bridge that has no sessions op', async () => {
    sessions.kernel.failing.add('sessions');
    const warn = jest
      .spyOn(console, 'warn')
      .mockImplementation(() => undefined);
    await model.ensureStarted();
    await settle();
    expect(model.clusters.map(c => c.name)).toEqual(['local']);
    expect(model.jobs.map(j => j.id)).toEqual(['new', 'old']);
    expect(model.sessions).toEqual([]);
    await expect(model.refreshSessions()).rejects.toThrow(
      "unknown op 'sessions'"
    );
    warn.mockRestore();
  });

  it('sends stop and restart of a session, then asks for the list again', async () => {
    await model.ensureStarted();
    await settle();
    await model.sessionAction('s-old', 'restart');
    await model.sessionAction('s-new', 'stop');
    await settle();
    const sent = sessions.kernel.comms[0].sent;
    expect(
      sent.filter(m => m.op === 'session').map(m => [m.action, m.sessionId])
    ).toEqual([
      ['restart', 's-old'],
      ['stop', 's-new']
    ]);
    // One at connection, one after each action.
    expect(sent.filter(m => m.op === 'sessions')).toHaveLength(3);
  });

  it('tells a running bridge that a notebook closed, and never starts one for it', async () => {
    await model.notebookClosed('work/a.ipynb');
    expect(sessions.started).toHaveLength(0);
    expect(sessions.kernel.comms).toHaveLength(0);

    sessions.existing = {
      path: '.cluster-bridge/bridge',
      kernel: { name: 'cluster-bridge' }
    };
    await model.notebookClosed('work/a.ipynb');
    await model.notebookClosed('');
    expect(sessions.started).toHaveLength(0);
    const closed = sessions.kernel.comms[0].sent.filter(
      m => m.op === 'notebookClosed'
    );
    expect(closed.map(m => m.notebook)).toEqual(['work/a.ipynb']);
  });

  it('names notebooks by their path under the server root it was given', () => {
    expect(model.notebookKey('work/a.ipynb')).toBe('work/a.ipynb');
    const rooted = new BridgeModel({
      sessions: sessions as any,
      serverRoot: '/home/u/project'
    });
    expect(rooted.notebookKey('work/a.ipynb')).toBe(
      '/home/u/project/work/a.ipynb'
    );
    rooted.dispose();
  });
});
