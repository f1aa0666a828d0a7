/**
 * Builds the real services of the bridge kernel and CLI: the cluster registry,
 * the job manager and the doctor. The one place that knows the concrete
 * classes; tests inject fakes into BridgeSession instead.
 */
import { ClusterRegistry } from '../clusters/registry';
import { createJobManager } from '../jobs';
import type { IBridgeServices } from './cellHandler';
import { createDoctor } from './doctor';

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
  const jobs = createJobManager({ registry: clusters });
  return {
    clusters,
    jobs,
    doctor: createDoctor(jobs),
    setGpuCard: on => {
      jobs.gpuCard = on;
    },
    dispose: () => jobs.dispose()
  };
}
