/**
 * BridgeModel: the one Cluster Bridge kernel session of this JupyterLab, the
 * `cluster_bridge` comm to it, and the clusters, jobs and remote sessions it
 * reports.
 *
 * The session lives at BRIDGE_SESSION_PATH so every browser tab (and a reload)
 * joins the same kernel; it is started on first use and never shut down by the
 * frontend, so detached remote jobs outlive notebooks and pages.
 */
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import { Signal, type ISignal } from '@lumino/signaling';
import { COMM_TARGET, type CommPush, type CommResult } from '../../shared/comm';
import type { IClusterInfo } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import { isSessionLive, type ISessionInfo } from '../../shared/sessions';
import {
  BRIDGE_KERNEL_NAME,
  BRIDGE_SESSION_PATH,
  type IBridgeSettings,
  type IClusterBridge
} from '../tokens';
import { CommClient, type ICommTransport } from './comm';
import { notebookKey } from './notebookKey';
import * as Replies from './replies';

export class BridgeModel implements IClusterBridge {
  constructor(options: BridgeModel.IOptions) {
    this._sessions = options.sessions;
    this._path = options.path ?? BRIDGE_SESSION_PATH;
    this._kernelName = options.kernelName ?? BRIDGE_KERNEL_NAME;
    this._requestTimeout = options.requestTimeout ?? 60_000;
    this._serverRoot = options.serverRoot ?? '';
  }

  get clusters(): ReadonlyArray<IClusterInfo> {
    return this._clusters;
  }
  get defaultCluster(): string | undefined {
    return this._settings.defaultCluster || this._bridgeDefault;
  }
  get jobs(): ReadonlyArray<IJobInfo> {
    return this._jobs;
  }
  get sessions(): ReadonlyArray<ISessionInfo> {
    return this._remoteSessions;
  }
  get settings(): IBridgeSettings {
    return this._settings;
  }
  get isConnected(): boolean {
    return !!this._comm && !this._comm.isClosed;
  }
  get session(): Session.ISessionConnection | null {
    return this._session;
  }
  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get clustersChanged(): ISignal<this, ReadonlyArray<IClusterInfo>> {
    return this._clustersChanged;
  }
  get jobsChanged(): ISignal<this, ReadonlyArray<IJobInfo>> {
    return this._jobsChanged;
  }
  get sessionsChanged(): ISignal<this, ReadonlyArray<ISessionInfo>> {
    return this._sessionsChanged;
  }
  get settingsChanged(): ISignal<this, IBridgeSettings> {
    return this._settingsChanged;
  }
  get cellStatus(): ISignal<this, Extract<CommPush, { event: 'cellStatus' }>> {
    return this._cellStatus;
  }
  get connectionChanged(): ISignal<this, boolean> {
    return this._connectionChanged;
  }

  ensureStarted(): Promise<Kernel.IKernelConnection> {
    const kernel = this._session?.kernel;
    if (kernel && !kernel.isDisposed && kernel.status !== 'dead') {
      if (!this.isConnected) {
        void this._openComm(kernel);
      }
      return Promise.resolve(kernel);
    }
    if (!this._starting) {
      this._starting = this._start(true)
        .then(kernel => {
          if (!kernel) {
            throw new Error('The Cluster Bridge session could not be started.');
          }
          return kernel;
        })
        .finally(() => {
          this._starting = null;
        });
    }
    return this._starting;
  }

  async connectIfRunning(): Promise<boolean> {
    if (this._session?.kernel) {
      return true;
    }
    try {
      return !!(await this._start(false));
    } catch (err) {
      console.warn('cluster-bridge: could not join the bridge session', err);
      return false;
    }
  }

  async refreshClusters(): Promise<ReadonlyArray<IClusterInfo>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'clusters' });
    this._applyClusters(Replies.clustersOf(result), Replies.defaultOf(result));
    return this._clusters;
  }

  async refreshJobs(): Promise<ReadonlyArray<IJobInfo>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'jobs' });
    this._applyJobs(Replies.jobsOf(result));
    return this._jobs;
  }

  async cancelJob(jobId: string): Promise<CommResult<'cancel'>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'cancel', jobId });
    void this.refreshJobs().catch(() => undefined);
    return result;
  }

  async rankLogs(
    jobId: string,
    lines?: number
  ): Promise<CommResult<'rankLogs'>> {
    const comm = await this._ready();
    return comm.request({ op: 'rankLogs', jobId, lines });
  }

  async refreshSessions(): Promise<ReadonlyArray<ISessionInfo>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'sessions' });
    this._applySessions(Replies.sessionsOf(result));
    return this._remoteSessions;
  }

  async sessionAction(
    sessionId: string,
    action: 'stop' | 'restart'
  ): Promise<CommResult<'session'>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'session', action, sessionId });
    void this.refreshSessions().catch(() => undefined);
    return result;
  }

  async notebookClosed(notebook: string): Promise<void> {
    // Sessions only exist where a bridge ran: never start one just to say this.
    if (!notebook || !(await this.connectIfRunning())) {
      return;
    }
    const comm = await this._ready();
    await comm.request({ op: 'notebookClosed', notebook });
  }

  notebookKey(path: string): string {
    return notebookKey(path, this._serverRoot);
  }

  async varsExport(
    names: string[],
    notebook: string
  ): Promise<CommResult<'varsExport'>> {
    const comm = await this._ready();
    return comm.request({ op: 'varsExport', names, notebook });
  }

  async testCluster(cluster: string): Promise<CommResult<'test'>> {
    const comm = await this._ready();
    const result = await comm.request({ op: 'test', cluster });
    void this.refreshClusters().catch(() => undefined);
    return result;
  }

  async setSettings(settings: IBridgeSettings): Promise<void> {
    this._settings = { ...settings, clusters: { ...settings.clusters } };
    this._settingsLoaded = true;
    this._settingsChanged.emit(this._settings);
    if (this.isConnected) {
      await this._sendSettings(this._comm!);
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._comm?.dispose();
    this._comm = null;
    // Only the connection goes: the kernel keeps following detached jobs.
    this._session?.dispose();
    this._session = null;
    Signal.clearData(this);
  }

  /** Find (or, when `create`, start) the bridge session. */
  private async _start(
    create: boolean
  ): Promise<Kernel.IKernelConnection | null> {
    const existing = await this._sessions.findByPath(this._path);
    let session: Session.ISessionConnection | null = null;
    if (existing && existing.kernel) {
      session = this._sessions.connectTo({ model: existing });
    } else if (create) {
      session = await this._sessions.startNew({
        path: this._path,
        name: 'Cluster Bridge',
        type: 'cluster-bridge',
        kernel: { name: this._kernelName }
      });
    }
    if (!session || !session.kernel) {
      return null;
    }
    this._setSession(session);
    const kernel = session.kernel;
    await this._openComm(kernel);
    return kernel;
  }

  private _setSession(session: Session.ISessionConnection): void {
    if (this._session === session) {
      return;
    }
    this._session?.dispose();
    this._session = session;
    session.kernelChanged.connect((_, args) => {
      this._dropComm();
      if (args.newValue) {
        this._watchKernel(args.newValue);
        void this._openComm(args.newValue);
      }
    }, this);
    session.disposed.connect(() => {
      if (this._session === session) {
        this._session = null;
        this._dropComm();
      }
    }, this);
    if (session.kernel) {
      this._watchKernel(session.kernel);
    }
  }

  /** Reopen the comm after a restart: comms die with the kernel process. */
  private _watchKernel(kernel: Kernel.IKernelConnection): void {
    kernel.statusChanged.connect((_, status) => {
      if (status === 'restarting' || status === 'autorestarting') {
        this._dropComm();
      } else if (status === 'dead') {
        this._dropComm();
      } else if (
        (status === 'idle' || status === 'busy') &&
        !this.isConnected &&
        !this._opening &&
        this._session?.kernel === kernel
      ) {
        void this._openComm(kernel);
      }
    }, this);
  }

  private async _openComm(kernel: Kernel.IKernelConnection): Promise<void> {
    if (this._opening) {
      return this._opening;
    }
    this._opening = (async () => {
      const comm = kernel.createComm(COMM_TARGET);
      const client = new CommClient(Private.transportFor(comm), {
        timeout: this._requestTimeout
      });
      client.pushed.connect((_, push) => this._onPush(push), this);
      client.closed.connect(() => {
        if (this._comm === client) {
          this._comm = null;
          this._connectionChanged.emit(false);
        }
      }, this);
      comm.open({});
      this._comm = client;
      this._connectionChanged.emit(true);
      try {
        await this._sendSettings(client);
        const [clusters, jobs] = await Promise.all([
          client.request({ op: 'clusters' }),
          client.request({ op: 'jobs' })
        ]);
        this._applyClusters(
          Replies.clustersOf(clusters),
          Replies.defaultOf(clusters)
        );
        this._applyJobs(Replies.jobsOf(jobs));
      } catch (err) {
        console.warn('cluster-bridge: first comm requests failed', err);
      }
      // Apart: a bridge without sessions must not cost the clusters and jobs.
      try {
        this._applySessions(
          Replies.sessionsOf(await client.request({ op: 'sessions' }))
        );
      } catch (err) {
        console.warn('cluster-bridge: sessions request failed', err);
      }
    })().finally(() => {
      this._opening = null;
    });
    return this._opening;
  }

  private _dropComm(): void {
    const comm = this._comm;
    if (comm) {
      this._comm = null;
      comm.dispose();
      this._connectionChanged.emit(false);
    }
  }

  private async _ready(): Promise<CommClient> {
    await this.ensureStarted();
    if (this._opening) {
      await this._opening;
    }
    if (!this._comm || this._comm.isClosed) {
      throw new Error('The comm to the Cluster Bridge kernel is not open.');
    }
    return this._comm;
  }

  private async _sendSettings(comm: CommClient): Promise<void> {
    const s = this._settings;
    if (!this._settingsLoaded) {
      // Settings not read yet: the settings plugin sends them when they are.
      return;
    }
    await comm.request({
      op: 'settings',
      clusters: s.clusters,
      defaultCluster: s.defaultCluster || undefined,
      gpuCard: s.gpuCard
    });
    // The cluster list may have changed with the settings.
    const result = await comm.request({ op: 'clusters' });
    this._applyClusters(Replies.clustersOf(result), Replies.defaultOf(result));
  }

  private _onPush(push: CommPush): void {
    switch (push.event) {
      case 'clusters':
        this._applyClusters(push.clusters ?? [], push.defaultCluster);
        break;
      case 'jobs':
        this._applyJobs(push.jobs ?? []);
        break;
      case 'sessions':
        this._applySessions(push.sessions ?? []);
        break;
      case 'cellStatus':
        this._cellStatus.emit(push);
        break;
      default:
        break;
    }
  }

  private _applyClusters(
    clusters: IClusterInfo[] | null,
    defaultCluster: string | undefined
  ): void {
    if (!clusters) {
      return;
    }
    this._clusters = clusters;
    if (defaultCluster !== undefined) {
      this._bridgeDefault = defaultCluster;
    }
    this._clustersChanged.emit(this._clusters);
  }

  private _applyJobs(jobs: IJobInfo[] | null): void {
    if (!jobs) {
      return;
    }
    this._jobs = [...jobs].sort((a, b) => b.submittedAt - a.submittedAt);
    this._jobsChanged.emit(this._jobs);
  }

  private _applySessions(sessions: ISessionInfo[] | null): void {
    if (!sessions) {
      return;
    }
    this._remoteSessions = [...sessions].sort(
      (a, b) =>
        Number(isSessionLive(b)) - Number(isSessionLive(a)) ||
        b.startedAt - a.startedAt
    );
    this._sessionsChanged.emit(this._remoteSessions);
  }

  private _sessions: Session.IManager;
  private _path: string;
  private _kernelName: string;
  private _requestTimeout: number;
  private _serverRoot: string;
  private _session: Session.ISessionConnection | null = null;
  private _comm: CommClient | null = null;
  private _starting: Promise<Kernel.IKernelConnection> | null = null;
  private _opening: Promise<void> | null = null;
  private _clusters: IClusterInfo[] = [];
  private _bridgeDefault: string | undefined = undefined;
  private _jobs: IJobInfo[] = [];
  private _remoteSessions: ISessionInfo[] = [];
  private _settings: IBridgeSettings = { clusters: {}, gpuCard: true };
  private _settingsLoaded = false;
  private _isDisposed = false;
  private _clustersChanged = new Signal<this, ReadonlyArray<IClusterInfo>>(
    this
  );
  private _jobsChanged = new Signal<this, ReadonlyArray<IJobInfo>>(this);
  private _sessionsChanged = new Signal<this, ReadonlyArray<ISessionInfo>>(
    this
  );
  private _settingsChanged = new Signal<this, IBridgeSettings>(this);
  private _connectionChanged = new Signal<this, boolean>(this);
  private _cellStatus = new Signal<
    this,
    Extract<CommPush, { event: 'cellStatus' }>
  >(this);
}

export namespace BridgeModel {
  export interface IOptions {
    sessions: Session.IManager;
    /** Session path (default BRIDGE_SESSION_PATH). */
    path?: string;
    /** Kernelspec name (default `cluster-bridge`). */
    kernelName?: string;
    /** Milliseconds before a comm request gives up. */
    requestTimeout?: number;
    /** The Jupyter server's root folder (see notebookKey). */
    serverRoot?: string;
  }
}

namespace Private {
  export function transportFor(comm: Kernel.IComm): ICommTransport {
    return {
      send: data => {
        comm.send(data as never);
      },
      setHandlers: ({ onMessage, onClose }) => {
        comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
          onMessage(msg.content.data);
        };
        comm.onClose = () => {
          onClose();
        };
      },
      close: () => {
        if (!comm.isDisposed) {
          comm.close();
        }
      }
    };
  }
}
