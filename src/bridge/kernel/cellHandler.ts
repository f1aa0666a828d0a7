/**
 * BridgeSession: what the bridge kernel does with a cell. `%%cluster` cells go
 * to the job manager; plain code runs on the default cluster; `%cluster` line
 * magics manage clusters and jobs; malformed magics become a usage error and
 * start nothing. Also serves the `cluster_bridge` comm for the frontend.
 */
import type {
  IClusterInfo,
  IClustersFile,
  IResolvedCluster
} from '../../shared/config';
import {
  COMM_TARGET,
  CommPush,
  CommReply,
  CommRequest,
  CommResult
} from '../../shared/comm';
import type { IDoctorLine } from '../../shared/doctor';
import type { IJobInfo } from '../../shared/jobs';
import { IJobRequest, parseCell, usage } from '../../shared/magic';
import type { IJobManager, IOutputSink } from '../jobs/types';
import type { IPrompter } from '../transport/types';
import { complete, inspect, isComplete } from './assist';
import type {
  CommTarget,
  ICompleteResult,
  IComm,
  IExecuteContext,
  IExecuteOutcome,
  IInspectResult,
  IIsCompleteResult,
  IKernelHandler
} from './core';
import type { JSONObject } from './wire';

/** The part of the cluster registry the kernel uses (ClusterRegistry fits it). */
export interface IClusterDirectory {
  list(): IResolvedCluster[];
  names(): string[];
  get(name: string): IResolvedCluster | undefined;
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

export type { IDoctorLine };

export type DoctorFunction = (
  cluster: IResolvedCluster,
  prompter?: IPrompter,
  signal?: AbortSignal
) => Promise<IDoctorLine[]>;

/** Everything the session needs from the rest of the bridge; injected (fakes in tests). */
export interface IBridgeServices {
  clusters: IClusterDirectory;
  jobs: IJobManager;
  doctor?: DoctorFunction;
  /** The frontend's `gpuCard` setting. */
  setGpuCard?(on: boolean): void;
  /** Closes connections on shutdown; detached jobs keep running. */
  dispose?(): Promise<void>;
}

export class BridgeSession implements IKernelHandler {
  constructor(services: IBridgeServices) {
    this._services = services;
  }

  async execute(ctx: IExecuteContext): Promise<IExecuteOutcome> {
    const parsed = parseCell(ctx.code);
    switch (parsed.kind) {
      case 'invalid':
        ctx.sink.error('UsageError', parsed.error, [
          `UsageError: ${parsed.error}`,
          '',
          parsed.usage
        ]);
        return { status: 'error' };
      case 'code':
        if (parsed.code.trim() === '') {
          return { status: 'ok' };
        }
        return this._run(ctx, {}, parsed.code, 0);
      case 'cluster':
        return this._run(ctx, parsed.request, parsed.code, parsed.lineOffset);
      case 'line':
        try {
          return await this._line(ctx, parsed.command, parsed.args);
        } catch (err) {
          return Private.fail(ctx.sink, err);
        }
    }
  }

  complete(code: string, cursorPos: number): ICompleteResult {
    const clusters = this._services.clusters;
    return complete(code, cursorPos, {
      clusters: () => clusters.names(),
      jobIds: () => this._services.jobs.jobs().map(j => j.id),
      envs: name =>
        Object.keys(
          clusters.get(name ?? clusters.defaultCluster)?.config.envs ?? {}
        )
    });
  }

  inspect(code: string, cursorPos: number): IInspectResult {
    return inspect(code, cursorPos);
  }

  isComplete(code: string): IIsCompleteResult {
    return isComplete(code);
  }

  commTargets(): { [target: string]: CommTarget } {
    return { [COMM_TARGET]: (comm, _data) => this._openComm(comm) };
  }

  async dispose(): Promise<void> {
    for (const off of this._subscriptions.splice(0)) {
      off();
    }
    await this._services.dispose?.();
  }

  private async _run(
    ctx: IExecuteContext,
    request: IJobRequest,
    code: string,
    lineOffset: number
  ): Promise<IExecuteOutcome> {
    const { clusters, jobs } = this._services;
    const name = request.cluster ?? clusters.defaultCluster;
    if (!clusters.get(name)) {
      const known = clusters.names().join(', ') || '(none)';
      const evalue = `unknown cluster "${name}". Known clusters: ${known}`;
      ctx.sink.error('UnknownCluster', evalue, [
        `UnknownCluster: ${evalue}`,
        'Add clusters to ~/.ssh/config, the file named by CLUSTER_BRIDGE_CONFIG, or the settings.'
      ]);
      return { status: 'error' };
    }
    try {
      const outcome = await jobs.runCell({
        request: { ...request, cluster: name },
        code,
        lineOffset,
        executionCount: ctx.executionCount,
        sink: ctx.sink,
        prompter: ctx.prompter,
        signal: ctx.signal
      });
      return { status: outcome.status };
    } catch (err) {
      if (ctx.signal.aborted) {
        return { status: 'aborted' };
      }
      return Private.fail(ctx.sink, err);
    }
  }

  private async _line(
    ctx: IExecuteContext,
    command: string,
    args: string[]
  ): Promise<IExecuteOutcome> {
    const { clusters, jobs } = this._services;
    const text = (t: string) =>
      ctx.sink.stream('stdout', t.endsWith('\n') ? t : t + '\n');
    switch (command) {
      case 'help':
        text(usage());
        return { status: 'ok' };
      case 'list': {
        const info = clusters.info();
        ctx.sink.display(
          {
            'text/plain': Private.clusterTable(
              info,
              clusters.defaultCluster,
              clusters.problems
            )
          },
          {}
        );
        return { status: 'ok' };
      }
      case 'use': {
        if (!clusters.get(args[0])) {
          return Private.unknownCluster(ctx.sink, args[0], clusters.names());
        }
        const c = clusters.use(args[0]);
        text(`Default cluster of this kernel: ${c.name}`);
        return { status: 'ok' };
      }
      case 'jobs':
        ctx.sink.display({ 'text/plain': jobTable(jobs.jobs()) }, {});
        return { status: 'ok' };
      case 'attach': {
        const outcome = await jobs.attach(
          args[0],
          ctx.sink,
          ctx.signal,
          ctx.prompter
        );
        return { status: outcome.status };
      }
      case 'cancel':
        await jobs.cancel(args[0], ctx.prompter);
        text(`Cancelled job ${args[0]}`);
        return { status: 'ok' };
      case 'doctor': {
        const name = args[0] ?? clusters.defaultCluster;
        const cluster = clusters.get(name);
        if (!cluster) {
          return Private.unknownCluster(ctx.sink, name, clusters.names());
        }
        if (!this._services.doctor) {
          throw new Error(
            'doctor is not available in this build of the bridge'
          );
        }
        text(`Checking cluster ${name}...`);
        const lines = await this._services.doctor(
          cluster,
          ctx.prompter,
          ctx.signal
        );
        ctx.sink.display({ 'text/plain': doctorReport(name, lines) }, {});
        return {
          status: lines.some(l => l.verdict === 'fail') ? 'error' : 'ok'
        };
      }
    }
    throw new Error(`unhandled command ${command}`);
  }

  private _openComm(comm: IComm): void {
    const { clusters, jobs } = this._services;
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
          comm.send(
            Private.json<CommPush>({ event: 'jobs', jobs: jobs.jobs() })
          );
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
    this._subscriptions.push(unsubscribe);
    comm.onClose = unsubscribe;
    comm.onMsg = async data => {
      const request = data as unknown as CommRequest;
      const id = typeof request?.id === 'string' ? request.id : '';
      let reply: CommReply;
      try {
        reply = { id, ok: true, result: await this._commRequest(request) };
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
  }

  private async _commRequest(request: CommRequest): Promise<CommResult> {
    const { clusters, jobs } = this._services;
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
        const cluster = clusters.get(String(request.cluster));
        if (!cluster) {
          throw new Error(
            `unknown cluster "${request.cluster}". Known clusters: ${clusters.names().join(', ')}`
          );
        }
        if (!this._services.doctor) {
          throw new Error(
            'doctor is not available in this build of the bridge'
          );
        }
        return await this._services.doctor(cluster);
      }
      case 'settings':
        clusters.setSettings(request.clusters, request.defaultCluster);
        if (typeof request.gpuCard === 'boolean') {
          this._services.setGpuCard?.(request.gpuCard);
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

  private _services: IBridgeServices;
  private _subscriptions: (() => void)[] = [];
}

const MARKS: { [v in IDoctorLine['verdict']]: string } = {
  ok: '[ ok ]',
  warn: '[warn]',
  fail: '[FAIL]',
  skip: '[skip]'
};

/** The doctor checklist as text: one verdict per line, then an overall verdict. */
export function doctorReport(cluster: string, lines: IDoctorLine[]): string {
  const width = Math.max(10, ...lines.map(l => l.check.length));
  const body = lines.map(
    l => `${MARKS[l.verdict]} ${l.check.padEnd(width)}  ${l.detail}`
  );
  const fails = lines.filter(l => l.verdict === 'fail').length;
  const warns = lines.filter(l => l.verdict === 'warn').length;
  const verdict =
    fails > 0
      ? `${cluster}: NOT READY (${fails} failed${warns ? `, ${warns} warning${warns > 1 ? 's' : ''}` : ''})`
      : warns > 0
        ? `${cluster}: ready, with ${warns} warning${warns > 1 ? 's' : ''}`
        : `${cluster}: ready`;
  return [`Doctor for cluster ${cluster}`, ...body, verdict].join('\n');
}

export function jobTable(jobs: IJobInfo[]): string {
  if (jobs.length === 0) {
    return 'No jobs.';
  }
  const rows = jobs.map(j => [
    j.id,
    j.cluster,
    j.scheduler + (j.schedulerId ? ` ${j.schedulerId}` : ''),
    j.endState ?? j.phase,
    new Date(j.submittedAt).toISOString().replace('T', ' ').slice(0, 19),
    j.detached ? 'detached' : '',
    j.title
  ]);
  return Private.table(
    ['job', 'cluster', 'scheduler', 'state', 'submitted (UTC)', '', 'title'],
    rows
  ).join('\n');
}

namespace Private {
  export function json<T>(value: T): JSONObject {
    return value as unknown as JSONObject;
  }

  export function fail(sink: IOutputSink, err: unknown): IExecuteOutcome {
    const e = err as Error;
    const message = e?.message ?? String(err);
    const ename = e?.name && e.name !== 'Error' ? e.name : 'ClusterBridgeError';
    sink.error(ename, message, [`${ename}: ${message}`]);
    return { status: 'error' };
  }

  export function unknownCluster(
    sink: IOutputSink,
    name: string,
    known: string[]
  ): IExecuteOutcome {
    const evalue = `unknown cluster "${name}". Known clusters: ${known.join(', ') || '(none)'}`;
    sink.error('UnknownCluster', evalue, [`UnknownCluster: ${evalue}`]);
    return { status: 'error' };
  }

  export function clusterTable(
    info: IClusterInfo[],
    defaultCluster: string,
    problems: string[]
  ): string {
    const rows = info.map(c => [
      c.name === defaultCluster ? '*' : ' ',
      c.name,
      c.type,
      c.scheduler,
      c.state + (c.error ? ` (${c.error})` : ''),
      c.source
    ]);
    const lines = table(
      ['', 'cluster', 'type', 'scheduler', 'state', 'source'],
      rows
    );
    lines.push('(* = default)');
    for (const p of problems) {
      lines.push(`warning: ${p}`);
    }
    return lines.join('\n');
  }

  export function table(head: string[], rows: string[][]): string[] {
    const widths = head.map((h, i) =>
      Math.max(h.length, ...rows.map(r => r[i].length))
    );
    const fmt = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd();
    return [fmt(head), ...rows.map(fmt)];
  }
}
