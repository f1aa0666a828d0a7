/**
 * The job pipeline's entry point for the kernel and the CLI:
 *   const manager = createJobManager({ registry: new ClusterRegistry() });
 */
import { ClusterRegistry } from '../clusters/registry';
import { createScheduler } from '../schedulers';
import { TransportPool } from '../transport/pool';
import { IJobManagerOptions, JobManager } from './manager';

export type ICreateJobManagerOptions = Partial<IJobManagerOptions>;

/** A JobManager with the production registry, transport pool and schedulers unless given. */
export function createJobManager(
  options: ICreateJobManagerOptions = {}
): JobManager {
  return new JobManager({
    ...options,
    registry: options.registry ?? new ClusterRegistry(),
    pool: options.pool ?? new TransportPool(),
    schedulers: options.schedulers ?? createScheduler
  });
}

export { JobManager } from './manager';
export type { IJobManagerOptions } from './manager';
export type { ITransportProvider } from './connector';
export type { IOpenCluster, ITiming } from './context';
export { ClusterRegistry } from '../clusters/registry';
export { EventLineParser } from './events';
export { EventMapper, gpuSummary } from './outputs';
export { StatusLine } from './status';
export { JobStore, defaultStateDir } from './store';
export { RuntimeInstaller, runtimeFiles, systemPython } from './runtime';
export type { IRemoteRuntime } from './runtime';
export { envHash, envSpecFor, makeBundle, newJobId, isJobId } from './bundle';
export type { IJobBundle } from './bundle';
export type {
  IJobManager,
  IOutputSink,
  IRunCellOptions,
  IRunOutcome
} from './types';
