/**
 * Public tokens and types of the frontend: the shared bridge model that every
 * plugin uses to reach the Cluster Bridge kernel, and the command ids.
 */
import type { Kernel, Session } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import type { ISignal } from '@lumino/signaling';
import { Token } from '@lumino/coreutils';
import type { CommPush, CommResult } from '../shared/comm';
import type { IClusterInfo, IClustersFile } from '../shared/config';
import type { IVarsLocalStep } from '../shared/data';
import type { IJobInfo } from '../shared/jobs';
import type { ISessionInfo } from '../shared/sessions';

/** Plugin id prefix; a plugin's id suffix is the name of its schema file. */
export const PLUGIN_PREFIX = 'jupyterlab-cluster-bridge';

/** Kernelspec name of the bridge kernel. */
export const BRIDGE_KERNEL_NAME = 'cluster-bridge';

/** Path of the one shared bridge session (no file needs to exist there). */
export const BRIDGE_SESSION_PATH = '.cluster-bridge/bridge';

/** Notebook metadata key holding `{ cluster: NAME }` chosen in the picker. */
export const NOTEBOOK_METADATA_KEY = 'cluster_bridge';

/** Command ids. */
export namespace CommandIDs {
  export const runOnCluster = 'cluster-bridge:run-cell-on-cluster';
  export const runOnPicked = 'cluster-bridge:run-cell-on-picked-cluster';
  export const cancelJob = 'cluster-bridge:cancel-job';
  export const showJobs = 'cluster-bridge:show-jobs';
  export const testCluster = 'cluster-bridge:test-cluster';
  export const attachJob = 'cluster-bridge:attach-job';
  export const refreshJobs = 'cluster-bridge:refresh-jobs';
}

/** The settings every plugin sees (schema/settings.json). */
export interface IBridgeSettings {
  clusters: IClustersFile['clusters'];
  defaultCluster?: string;
  gpuCard: boolean;
}

/**
 * The frontend's view of the bridge kernel: its session (started on first
 * use, shared by all notebooks), the comm to it, and the clusters and jobs it
 * reports. Plugins share one instance through {@link IClusterBridge}.
 */
export interface IClusterBridge extends IDisposable {
  /** Known clusters with their connection state (empty until connected). */
  readonly clusters: ReadonlyArray<IClusterInfo>;
  /** The bridge's default cluster (settings `defaultCluster` wins). */
  readonly defaultCluster: string | undefined;
  /** Jobs of this server, newest first. */
  readonly jobs: ReadonlyArray<IJobInfo>;
  /** Remote sessions (one per notebook and cluster), live ones first. */
  readonly sessions: ReadonlyArray<ISessionInfo>;
  /** Current settings. */
  readonly settings: IBridgeSettings;
  /** True once the comm to the bridge kernel is open. */
  readonly isConnected: boolean;

  readonly clustersChanged: ISignal<
    IClusterBridge,
    ReadonlyArray<IClusterInfo>
  >;
  readonly jobsChanged: ISignal<IClusterBridge, ReadonlyArray<IJobInfo>>;
  readonly sessionsChanged: ISignal<
    IClusterBridge,
    ReadonlyArray<ISessionInfo>
  >;
  readonly settingsChanged: ISignal<IClusterBridge, IBridgeSettings>;
  readonly connectionChanged: ISignal<IClusterBridge, boolean>;
  /** The live status of a cell's job (shown beside the cell, never an output). */
  readonly cellStatus: ISignal<
    IClusterBridge,
    Extract<CommPush, { event: 'cellStatus' }>
  >;

  /** Start (or join) the bridge session and open the comm; idempotent. */
  ensureStarted(): Promise<Kernel.IKernelConnection>;
  /** Join an already running bridge session without starting one. */
  connectIfRunning(): Promise<boolean>;
  /** The bridge session, once started. */
  readonly session: Session.ISessionConnection | null;

  refreshClusters(): Promise<ReadonlyArray<IClusterInfo>>;
  refreshJobs(): Promise<ReadonlyArray<IJobInfo>>;
  cancelJob(jobId: string): Promise<CommResult<'cancel'>>;
  /** A distributed job's ranks, the last `lines` of each (comm `rankLogs` op). */
  rankLogs(jobId: string, lines?: number): Promise<CommResult<'rankLogs'>>;
  refreshSessions(): Promise<ReadonlyArray<ISessionInfo>>;
  /** Stop or restart a remote session (comm `session` op). */
  sessionAction(
    sessionId: string,
    action: 'stop' | 'restart'
  ): Promise<CommResult<'session'>>;
  /**
   * The notebook's own kernel was shut down or restarted on purpose: the
   * bridge stops that notebook's sessions. Never starts a bridge (no bridge,
   * no sessions).
   */
  notebookClosed(notebook: string): Promise<void>;
  /**
   * The name the bridge keeps a notebook's sessions under, from its path
   * (server root + path: unique across the user's Jupyter servers).
   */
  notebookKey(path: string): string;
  /**
   * `--in`/push: a private folder on the server host and the code that
   * writes the notebook kernel's `names` there (comm `varsExport` op).
   */
  varsExport(names: string[], notebook: string): Promise<IVarsLocalStep>;
  /** The doctor checklist of the cluster. */
  testCluster(cluster: string): Promise<CommResult<'test'>>;
  /** Store new settings and send them to the bridge (comm `settings` op). */
  setSettings(settings: IBridgeSettings): Promise<void>;
}

export const IClusterBridge = new Token<IClusterBridge>(
  'jupyterlab-cluster-bridge:IClusterBridge',
  'The Cluster Bridge kernel session, its comm, clusters and jobs.'
);

/** A remote cell in flight, as the executor tracks it. */
export interface IRemoteExecution {
  /** Notebook model the cell belongs to (identity only). */
  readonly notebook: object;
  /** Cell model id. */
  readonly cellId: string;
  /** Bridge job id once the status output names it. */
  jobId?: string;
}
