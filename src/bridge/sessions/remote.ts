/**
 * The remote half of a session's life, as the agent sees it: start one on a
 * direct host (`session-start` streams the session log until `ready`),
 * submit one as a held allocation (`session-prepare` + the scheduler's
 * submit of `session-run`), wait for that allocation with its pending reason
 * live, and ask `session-info` (endpoint, token, status).
 */
import { agentCommand } from '../schedulers/direct';
import type { IScheduler } from '../schedulers/types';
import { errorMessage, type IOpenCluster } from '../jobs/context';
import type { StatusLine } from '../jobs/status';
import type { ISessionRecord } from './table';

/** What `session-info` prints; the token is never logged and never stored. */
export interface ISessionInfoReply {
  endpoint: {
    host: string;
    port: number;
    pid?: number;
    node?: string;
  } | null;
  token?: string;
  status?: { state?: string; reason?: string; node?: string } | null;
  alive?: boolean | null;
}

/** `session-start` streams the session log (env building...) until `ready` or `ended`. */
export async function startDirect(
  open: IOpenCluster,
  record: ISessionRecord,
  spec: object,
  status: StatusLine,
  put: (record: ISessionRecord) => void,
  signal?: AbortSignal
): Promise<void> {
  let ended: string | null = null;
  let ready = false;
  let partial = '';
  const handle = open.transport.stream(
    agentCommand(open.agent, 'session-start', record.remoteDir),
    {
      stdin: JSON.stringify(spec),
      signal,
      onStdout: chunk => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const event = parseEvent(line);
          if (event?.type === 'env' && typeof event.text === 'string') {
            status.set({
              phase: 'preparing',
              detail: event.text.slice(0, 200)
            });
          } else if (event?.type === 'ready') {
            ready = true;
            put({
              ...record,
              node: String(event.node ?? '') || undefined
            });
          } else if (event?.type === 'ended') {
            ended = String(event.reason ?? 'ended');
          }
        }
      }
    }
  );
  const result = await handle.done;
  if (!ready) {
    throw new Error(
      `the session on ${record.cluster} did not start: ${ended ?? (result.stderr.trim() || `exit ${result.code}`)}`
    );
  }
}

export async function submitBatch(
  open: IOpenCluster,
  record: ISessionRecord,
  spec: object,
  status: StatusLine,
  scheduler: IScheduler,
  put: (record: ISessionRecord) => void
): Promise<void> {
  const prepared = await open.transport.exec(
    agentCommand(open.agent, 'session-prepare', record.remoteDir),
    { stdin: JSON.stringify(spec) }
  );
  if (prepared.code !== 0) {
    throw new Error(
      `preparing the session on ${record.cluster} failed: ${prepared.stderr.trim() || `exit ${prepared.code}`}`
    );
  }
  const { schedulerId } = await scheduler.submit(open.transport, {
    id: record.id,
    jobDir: record.remoteDir,
    command: agentCommand(open.agent, 'session-run', record.remoteDir),
    agent: open.agent,
    request: { ...record.request, name: record.request.name ?? `cb-session` },
    defaults: open.cluster.config.defaults ?? {}
  });
  put({ ...record, schedulerId, state: 'queued' });
  record.schedulerId = schedulerId;
  status.set({ phase: 'queued', schedulerId });
}

/** A batch session: the allocation's pending reason live, until the session listens. */
export async function waitReady(
  open: IOpenCluster,
  record: ISessionRecord,
  status: StatusLine,
  scheduler: IScheduler,
  put: (record: ISessionRecord) => void,
  pollMs: number,
  signal?: AbortSignal
): Promise<void> {
  for (;;) {
    if (signal?.aborted) {
      throw new Error(
        'interrupted while the session waited for its allocation'
      );
    }
    const info = await sessionInfo(open, record);
    if (info.status?.state === 'ended') {
      throw new Error(
        String(info.status.reason ?? 'the session ended before it was ready')
      );
    }
    if (info.endpoint) {
      return;
    }
    const states = await scheduler.states(open.transport, [
      record.schedulerId ?? ''
    ]);
    const state = states.get(record.schedulerId ?? '');
    if (state?.state === 'pending') {
      status.set({ phase: 'queued', detail: state.reason });
      if (state.reason !== record.reason) {
        record.reason = state.reason;
        put({ ...record, state: 'queued' });
      }
    } else if (state?.state === 'running') {
      status.set({
        phase: 'starting',
        node: state.node,
        detail: 'starting the session'
      });
      if (record.state !== 'starting') {
        record.state = 'starting';
        put({ ...record, reason: undefined, node: state.node });
      }
    } else if (state?.state === 'ended') {
      const again = await sessionInfo(open, record);
      if (again.endpoint) {
        return;
      }
      throw new Error(
        `the session's ${scheduler.kind} job ${record.schedulerId} ended before the session was ready: ${state.reason ?? state.end}`
      );
    }
    await new Promise(resolve => setTimeout(resolve, pollMs));
  }
}

/** `session-info`: endpoint, token (never logged, never stored), status, liveness. */
export async function sessionInfo(
  open: IOpenCluster,
  record: ISessionRecord
): Promise<ISessionInfoReply> {
  const result = await open.transport.exec(
    agentCommand(open.agent, 'session-info', record.remoteDir)
  );
  if (result.code !== 0) {
    throw new Error(
      `asking the session on ${record.cluster} failed: ${result.stderr.trim() || `exit ${result.code}`}`
    );
  }
  try {
    return JSON.parse(result.stdout) as ISessionInfoReply;
  } catch (err) {
    throw new Error(
      `the agent's session-info was not JSON: ${errorMessage(err)}`
    );
  }
}

/** One line of a session log, or null. */
function parseEvent(line: string): { [key: string]: unknown } | null {
  if (!line.trim()) {
    return null;
  }
  try {
    return JSON.parse(line) as { [key: string]: unknown };
  } catch {
    return null;
  }
}
