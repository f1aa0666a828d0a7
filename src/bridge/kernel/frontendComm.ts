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
import { checkNames, exportStep, varsFolders } from '../data/varsLocal';
import type { IComm } from './handler';
import { isNotebookKey } from '../../shared/sessions';
import type { IKernelServices, ISessionService } from './services';
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
  let sessionsTimer: ReturnType<typeof setTimeout> | undefined;
  const pushSessions = () => {
    if (!sessionsTimer && services.sessions) {
      const { sessions } = services;
      sessionsTimer = setTimeout(() => {
        sessionsTimer = undefined;
        comm.send(
          Private.json<CommPush>({
            event: 'sessions',
            sessions: sessions.known()
          })
        );
      }, 50);
    }
  };
  const offs = [clusters.onChange(pushClusters), jobs.onChange(pushJobs)];
  if (services.sessions) {
    offs.push(services.sessions.onChange(pushSessions));
  }
  const unsubscribe = () => {
    for (const off of offs) {
      off();
    }
    if (jobsTimer) {
      clearTimeout(jobsTimer);
    }
    if (sessionsTimer) {
      clearTimeout(sessionsTimer);
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
  pushSessions();
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
    case 'rankLogs':
      if (!jobs.rankLogs) {
        throw new Error(
          'rank logs are not available in this build of the bridge'
        );
      }
      return await jobs.rankLogs(String(request.jobId), request.lines);
    case 'test': {
      const name = String(request.cluster);
      const cluster = clusters.get(name);
      if (!cluster) {
        throw new UnknownClusterError(
          name,
          clusters.names(),
          clusters.problems
        );
      }
      if (!services.doctor) {
        throw new Error('doctor is not available in this build of the bridge');
      }
      return await services.doctor(cluster);
    }
    case 'sessions':
      return await sessionService(services).list();
    case 'session': {
      const sessions = sessionService(services);
      const id = String(request.sessionId);
      if (request.action === 'stop') {
        return await sessions.stop(id);
      }
      if (request.action === 'restart') {
        return await sessions.restart(id);
      }
      throw new Error(
        `unknown session action ${JSON.stringify(request.action)}`
      );
    }
    case 'notebookClosed':
      if (!isNotebookKey(request.notebook)) {
        throw new Error('notebookClosed: not a notebook path');
      }
      await sessionService(services).stopNotebook(request.notebook);
      return null;
    case 'varsExport': {
      if (!isNotebookKey(request.notebook)) {
        throw new Error('varsExport: not a notebook path');
      }
      const names = Array.isArray(request.names)
        ? request.names.map(String)
        : [];
      checkNames(names);
      return exportStep(names, await varsFolders().create());
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

function sessionService(services: IKernelServices): ISessionService {
  if (!services.sessions) {
    throw new Error('sessions are not available in this build of the bridge');
  }
  return services.sessions;
}

namespace Private {
  export function json<T>(value: T): JSONObject {
    return value as unknown as JSONObject;
  }
}
