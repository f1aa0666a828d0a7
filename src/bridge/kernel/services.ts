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
import type { JobManager } from '../jobs';
import type { IJobManager } from '../jobs/types';
import { createDoctor, type DoctorFunction } from './doctor';

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

/** Everything the kernel needs from the rest of the bridge; injected (fakes in tests). */
export interface IKernelServices {
  clusters: IClusterDirectory;
  jobs: IJobManager;
  doctor?: DoctorFunction;
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
    jobs: () => load().jobs(),
    onChange: listener => load().onChange(listener)
  };
  return {
    clusters,
    jobs,
    doctor: createDoctor({
      prepareCluster: (name, prompter) => load().prepareCluster(name, prompter)
    }),
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
