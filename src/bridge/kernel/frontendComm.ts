/**
 * The kernel's end of the `cluster_bridge` comm (src/shared/comm.ts): answers
 * the frontend's requests and pushes the clusters and jobs when they change.
 */
import {
  CommPush,
  CommReply,
  CommRequest,
  CommResult
} from '../../shared/comm';
import { UnknownClusterError } from '../clusters/registry';
import type { IComm } from './handler';
import type { IKernelServices } from './services';
import type { JSONObject } from './wire';

/** Serves one open comm; returns what stops its pushes. */
export function serveFrontendComm(
  comm: IComm,
  services: IKernelServices
): () => void {
  const { clusters, jobs } = services;
  const pushClusters = () =>
    comm.send(
      Private.json<CommPush>({
        event: 'clusters',
        clusters: clusters.info(),
        defaultCluster: clusters.defaultCluster
      })
    );
  let jobsTimer: ReturnType<typeof setTimeout> | undefined;
  const pushJobs = () => {
    // Many state changes in a burst become one push.
    if (!jobsTimer) {
      jobsTimer = setTimeout(() => {
        jobsTimer = undefined;
        comm.send(Private.json<CommPush>({ event: 'jobs', jobs: jobs.jobs() }));
      }, 50);
    }
  };
  const offs = [clusters.onChange(pushClusters), jobs.onChange(pushJobs)];
  const unsubscribe = () => {
    for (const off of offs) {
      off();
    }
    if (jobsTimer) {
      clearTimeout(jobsTimer);
    }
  };
  comm.onClose = unsubscribe;
  comm.onMsg = async data => {
    const request = data as unknown as CommRequest;
    const id = typeof request?.id === 'string' ? request.id : '';
    let reply: CommReply;
    try {
      reply = { id, ok: true, result: await answer(request, services) };
    } catch (err) {
      reply = {
        id,
        ok: false,
        error: (err as Error)?.message ?? String(err)
      };
    }
    comm.send(Private.json(reply));
  };
  pushClusters();
  comm.send(Private.json<CommPush>({ event: 'jobs', jobs: jobs.jobs() }));
  return unsubscribe;
}

/** The result of one request; throws what becomes an `ok: false` reply. */
async function answer(
  request: CommRequest,
  services: IKernelServices
): Promise<CommResult> {
  const { clusters, jobs } = services;
  switch (request?.op) {
    case 'clusters':
      return {
        clusters: clusters.info(),
        defaultCluster: clusters.defaultCluster
      };
    case 'jobs':
      return jobs.jobs();
    case 'cancel':
      await jobs.cancel(String(request.jobId));
      return null;
    case 'test': {
      const name = String(request.cluster);
      const cluster = clusters.get(name);
      if (!cluster) {
        throw new UnknownClusterError(name, clusters.names());
      }
      if (!services.doctor) {
        throw new Error('doctor is not available in this build of the bridge');
      }
      return await services.doctor(cluster);
    }
    case 'settings':
      clusters.setSettings(request.clusters, request.defaultCluster);
      if (typeof request.gpuCard === 'boolean') {
        services.setGpuCard?.(request.gpuCard);
      }
      return {
        clusters: clusters.info(),
        defaultCluster: clusters.defaultCluster
      };
    default:
      throw new Error(
        `unknown op ${JSON.stringify((request as { op?: unknown })?.op)}`
      );
  }
}

namespace Private {
  export function json<T>(value: T): JSONObject {
    return value as unknown as JSONObject;
  }
}
