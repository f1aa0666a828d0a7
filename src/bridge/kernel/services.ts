/**
 * Builds the real services of the bridge kernel and CLI: the cluster registry,
 * the job manager and the doctor. The one place that knows the concrete
 * classes; tests inject fakes into BridgeSession instead.
 */
import { ClusterRegistry } from '../clusters/registry';
import type { IJobManager } from '../jobs/types';
import type { IBridgeServices } from './cellHandler';

export interface IServicesOptions {
  /** Clusters file (default $CLUSTER_BRIDGE_CONFIG). */
  configFile?: string | null;
}

export function createServices(
  options: IServicesOptions = {}
): IBridgeServices {
  const clusters = new ClusterRegistry(
    options.configFile === undefined ? {} : { configFile: options.configFile }
  );
  const jobs: IJobManager = Private.unavailableJobs();
  return { clusters, jobs };
}

namespace Private {
  /** Until the job pipeline lands: every run says so clearly. */
  export function unavailableJobs(): IJobManager {
    const fail = () =>
      Promise.reject(
        new Error('the job pipeline is not available in this build')
      );
    return {
      runCell: fail,
      attach: fail,
      cancel: fail,
      jobs: () => [],
      onChange: () => () => undefined
    };
  }
}
