/**
 * What the bridge kernel and CLI need from the rest of the bridge
 * (IKernelServices: the cluster registry, the job manager, the doctor), and
 * createServices, which builds the real ones. The one place that knows the
 * concrete classes; tests inject fakes into CellRunner instead.
 *
 * The job pipeline (ssh2, schedulers, ...) takes ~0.5 s to load on a small
 * machine, so it loads on first use or on preload(), which the kernel calls
 * right after it answered kernel_info: startup stays fast and the first cell
 * does not wait for the load either.
 */
import type {
  IClusterInfo,
  IClustersFile,
  IResolvedCluster
} from '../../shared/config';
import { ClusterRegistry } from '../clusters/registry';
import type { ISessionInfo } from '../../shared/sessions';
import type { JobManager } from '../jobs';
import type { IJobManager, IOutputSink } from '../jobs/types';
import type { ISessionStartOptions } from '../sessions/manager';
import type { IPrompter } from '../transport/types';
import { createClean, type CleanFunction } from './clean';
import { createDoctor, type DoctorFunction } from './doctor';
import type { ITransferTarget } from './transferCommands';

/** The part of the cluster registry the kernel uses (ClusterRegistry fits it). */
export interface IClusterDirectory {
  list(): IResolvedCluster[];
  names(): string[];
  get(name: string): IResolvedCluster | undefined;
  /** The named cluster (or the default); throws UnknownClusterError. */
  resolve(name?: string): IResolvedCluster;
  readonly defaultCluster: string;
  use(name: string): IResolvedCluster;
  info(): IClusterInfo[];
  onChange(listener: () => void): () => void;
  setSettings(
    clusters: IClustersFile['clusters'] | undefined,
    defaultCluster?: string
  ): void;
  readonly problems: string[];
}

/** Sessions: one live remote Python per (notebook, cluster). */
export interface ISessionService {
  /** Every session the table knows, live ones with their own facts (reattaching). */
  list(): Promise<ISessionInfo[]>;
  /** What the table knows, without asking any session (cheap: for pushes). */
  known(): ISessionInfo[];
  /** `%cluster session NAME [options]`: starts the notebook's session (or checks the running one). */
  start(options: ISessionStartOptions): Promise<ISessionInfo>;
  /** Stops a session by id (also: `%cluster stop`, the jobs panel). */
  stop(id: string): Promise<ISessionInfo>;
  /** Stops and starts over with the same resources (an empty namespace). */
  restart(id: string, sink?: IOutputSink): Promise<ISessionInfo>;
  /** The live session of a notebook on a cluster, per the table. */
  find(notebook: string, cluster: string): ISessionInfo | undefined;
  /** Stops every live session of a notebook (its kernel was shut down on purpose). */
  stopNotebook(notebook: string): Promise<number>;
  onChange(listener: () => void): () => void;
}

/** Everything the kernel needs from the rest of the bridge; injected (fakes in tests). */
export interface IKernelServices {
  clusters: IClusterDirectory;
  jobs: IJobManager;
  sessions?: ISessionService;
  doctor?: DoctorFunction;
  /** `%cluster clean`: retention applied now (or listed). */
  clean?: CleanFunction;
  /** A connected cluster and its work dir, for `%cluster put/get`. */
  openCluster?(name: string, prompter?: IPrompter): Promise<ITransferTarget>;
  /** The frontend's `gpuCard` setting. */
  setGpuCard?(on: boolean): void;
  /** Closes connections on shutdown; detached jobs keep running. */
  dispose?(): Promise<void>;
}

export interface IServicesOptions {
  /** Clusters file (default $CLUSTER_BRIDGE_CONFIG). */
  configFile?: string | null;
}

export interface IRealServices extends IKernelServices {
  /** Loads the job pipeline now (idempotent). */
  preload(): void;
}

export function createServices(options: IServicesOptions = {}): IRealServices {
  const clusters = new ClusterRegistry(
    options.configFile === undefined ? {} : { configFile: options.configFile }
  );
  let manager: JobManager | undefined;
  const load = (): JobManager => {
    if (!manager) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const jobsModule = require('../jobs') as typeof import('../jobs');
      manager = jobsModule.createJobManager({ registry: clusters });
    }
    return manager;
  };
  const jobs: IJobManager = {
    runCell: o => load().runCell(o),
    attach: (id, sink, signal, prompter) =>
      load().attach(id, sink, signal, prompter),
    cancel: (id, prompter) => load().cancel(id, prompter),
    rerunElement: (id, index, options) =>
      load().rerunElement(id, index, options),
    jobs: () => load().jobs(),
    rankLogs: (id, lines) => load().rankLogs(id, lines),
    onChange: listener => load().onChange(listener)
  };
  const sessions: ISessionService = {
    list: () => load().sessions.list(),
    known: () => load().sessions.known(),
    start: o => load().startSession(o),
    stop: async id => load().sessions.info(await load().sessions.stop(id)),
    restart: async (id, sink) =>
      load().sessions.info(await load().restartSession(id, sink)),
    find: (notebook, cluster) => load().sessions.find(notebook, cluster),
    stopNotebook: notebook => load().sessions.stopNotebook(notebook),
    onChange: listener => load().sessions.onChange(listener)
  };
  const preparer = {
    prepareCluster: (name: string, prompter?: IPrompter) =>
      load().prepareCluster(name, prompter)
  };
  return {
    clusters,
    jobs,
    sessions,
    doctor: createDoctor(preparer),
    clean: createClean(preparer),
    openCluster: (name, prompter) => preparer.prepareCluster(name, prompter),
    setGpuCard: on => {
      load().gpuCard = on;
    },
    dispose: async () => {
      await manager?.dispose();
    },
    preload: () => {
      load();
    }
  };
}
