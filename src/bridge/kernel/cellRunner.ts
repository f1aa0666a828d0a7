/**
 * CellRunner: what the bridge kernel does with a cell. `%%cluster` cells go
 * to the job manager; plain code runs on the default cluster; `%cluster` line
 * magics manage clusters and jobs; malformed magics become a usage error and
 * start nothing. Also gives the editor help (assist.ts) and opens the
 * `cluster_bridge` comm for the frontend (frontendComm.ts).
 */
import { doctorReport, doctorVerdict } from '../../shared/doctor';
import { COMM_TARGET } from '../../shared/comm';
import {
  IJobRequest,
  metadataCluster,
  metadataCount,
  parseCell,
  usage
} from '../../shared/magic';
import { isNotebookKey, NOTEBOOK_METADATA_KEY } from '../../shared/sessions';
import { UnknownClusterError } from '../clusters/registry';
import type { IOutputSink } from '../jobs/types';
import { complete, inspect, isComplete } from './assist';
import { cleanReport } from './clean';
import { rerunCommand } from './rerunCommand';
import { CellStatusHub } from './cellStatus';
import { serveFrontendComm } from './frontendComm';
import type {
  CommTarget,
  ICompleteResult,
  IExecuteContext,
  IExecuteOutcome,
  IInspectResult,
  IIsCompleteResult,
  IKernelHandler
} from './handler';
import type { IKernelServices, ISessionService } from './services';
import { clusterTable, jobTable, sessionTable } from './textTables';
import { transferCommand } from './transferCommands';
import { varsAsk, varsLineCell, varsReplyMetadata } from './varsCommands';

/** How long a shutdown waits for this kernel's sessions to stop. */
const SHUTDOWN_STOP_MS = 4000;

export interface ICellRunnerOptions {
  /**
   * This kernel's id: the notebook key of cells that name no notebook (a
   * Cluster Bridge kernel notebook, nbclient), so their sessions survive a
   * crash of this process (the restarted kernel keeps its id).
   */
  kernelId?: string;
}

export class CellRunner implements IKernelHandler {
  constructor(services: IKernelServices, options: ICellRunnerOptions = {}) {
    this._services = services;
    this._ownNotebook = `kernel:${options.kernelId ?? 'default'}`;
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
      case 'cluster': {
        // A bare %%cluster: the notebook's picked cluster, if its request names one.
        let request = parsed.request;
        try {
          const picked =
            request.cluster ?? metadataCluster(ctx.request.metadata);
          request = picked ? { ...request, cluster: picked } : request;
        } catch (err) {
          return Private.fail(ctx.sink, err);
        }
        return this._run(ctx, request, parsed.code, parsed.lineOffset);
      }
      case 'line':
        try {
          return await this._line(
            ctx,
            parsed.command,
            parsed.args,
            parsed.request
          );
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
    return {
      [COMM_TARGET]: comm => {
        this._subscriptions.push(
          serveFrontendComm(comm, this._services),
          this._cellStatus.add(comm)
        );
      }
    };
  }

  /** Shut down on purpose (not a crash): this kernel's own sessions end with it. */
  async shutdown(): Promise<void> {
    const stopping = this._services.sessions?.stopNotebook(this._ownNotebook);
    // An unreachable cluster must not hold the shutdown: its idle timeout ends the session.
    await Promise.race([
      stopping,
      new Promise(resolve => setTimeout(resolve, SHUTDOWN_STOP_MS).unref())
    ]);
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
      return Private.fail(
        ctx.sink,
        new UnknownClusterError(name, clusters.names(), clusters.problems)
      );
    }
    try {
      const vars = varsAsk(request, ctx.request.metadata);
      const outcome = await jobs.runCell({
        vars,
        request: { ...request, cluster: name },
        code,
        lineOffset,
        // The count the notebook shows for a remote cell, else the kernel's.
        executionCount:
          metadataCount(ctx.request.metadata) ?? ctx.executionCount,
        // The live status goes beside the cell, not into its outputs.
        sink: this._cellStatus.sinkFor(ctx.request, ctx.sink),
        prompter: ctx.prompter,
        signal: ctx.signal,
        notebook: this._services.sessions ? this._notebookOf(ctx) : undefined
      });
      return { status: outcome.status, metadata: varsReplyMetadata(outcome) };
    } catch (err) {
      if (ctx.signal.aborted) {
        return { status: 'aborted' };
      }
      return Private.fail(ctx.sink, err);
    }
  }

  /** The notebook a cell belongs to: the one its request names, else this kernel's own. */
  private _notebookOf(ctx: IExecuteContext): string {
    const named = (ctx.request.metadata ?? {})[NOTEBOOK_METADATA_KEY];
    if (named === undefined) {
      return this._ownNotebook;
    }
    if (!isNotebookKey(named)) {
      throw new Error(
        `the cell's ${NOTEBOOK_METADATA_KEY} metadata is not a notebook path; nothing was run`
      );
    }
    return named;
  }

  private _sessionService(): ISessionService {
    if (!this._services.sessions) {
      throw new Error('sessions are not available in this build of the bridge');
    }
    return this._services.sessions;
  }

  /** `%cluster session/sessions/restart/stop`. */
  private async _sessionCommand(
    ctx: IExecuteContext,
    command: string,
    args: string[],
    request: IJobRequest = {}
  ): Promise<IExecuteOutcome> {
    const sessions = this._sessionService();
    const { clusters } = this._services;
    const text = (t: string) => ctx.sink.stream('stdout', t + '\n');
    if (command === 'sessions') {
      ctx.sink.display(
        { 'text/plain': sessionTable(await sessions.list()) },
        {}
      );
      return { status: 'ok' };
    }
    const notebook = this._notebookOf(ctx);
    const cluster = clusters.resolve(args[0] ?? request.cluster).name;
    if (command === 'session') {
      const info = await sessions.start({
        notebook,
        request: { ...request, cluster },
        sink: this._cellStatus.sinkFor(ctx.request, ctx.sink),
        prompter: ctx.prompter,
        signal: ctx.signal
      });
      text(
        `Session ${info.id} on ${cluster}: ${info.state}${info.resources ? ` (${info.resources})` : ''}`
      );
      return { status: 'ok' };
    }
    const live = sessions.find(notebook, cluster);
    if (!live) {
      text(`This notebook has no live session on ${cluster}.`);
      return { status: 'ok' };
    }
    if (command === 'stop') {
      await sessions.stop(live.id);
      text(
        `Stopped the session on ${cluster} (${live.id}); its resources are free.`
      );
      return { status: 'ok' };
    }
    const info = await sessions.restart(
      live.id,
      this._cellStatus.sinkFor(ctx.request, ctx.sink)
    );
    text(
      `Restarted the session on ${cluster}: ${info.id}, an empty namespace${info.resources ? ` (${info.resources})` : ''}.`
    );
    return { status: 'ok' };
  }

  /** Errors thrown here become the cell's error output (execute catches them). */
  private async _line(
    ctx: IExecuteContext,
    command: string,
    args: string[],
    request?: IJobRequest
  ): Promise<IExecuteOutcome> {
    if (['session', 'sessions', 'restart', 'stop'].includes(command)) {
      return this._sessionCommand(ctx, command, args, request);
    }
    if (command === 'push' || command === 'pull') {
      const cell = varsLineCell(command, args, this._services.sessions, () =>
        this._notebookOf(ctx)
      );
      return this._run(ctx, cell.request, cell.code, 0);
    }
    const { clusters, jobs } = this._services;
    const text = (t: string) =>
      ctx.sink.stream('stdout', t.endsWith('\n') ? t : t + '\n');
    switch (command) {
      case 'help':
        text(usage());
        return { status: 'ok' };
      case 'list':
        ctx.sink.display(
          {
            'text/plain': clusterTable(
              clusters.info(),
              clusters.defaultCluster,
              clusters.problems
            )
          },
          {}
        );
        return { status: 'ok' };
      case 'use': {
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
          this._cellStatus.sinkFor(ctx.request, ctx.sink),
          ctx.signal,
          ctx.prompter
        );
        return { status: outcome.status };
      }
      case 'rerun':
        return rerunCommand(
          this._services,
          ctx,
          args,
          this._cellStatus.sinkFor(ctx.request, ctx.sink)
        );
      case 'put':
      case 'get':
        return transferCommand(this._services, ctx, command, args, {
          notebook: this._notebookOf(ctx)
        });
      case 'cancel':
        await jobs.cancel(args[0], ctx.prompter);
        text(`Cancelled job ${args[0]}`);
        return { status: 'ok' };
      case 'doctor': {
        const cluster = clusters.resolve(args[0]);
        if (!this._services.doctor) {
          throw new Error(
            'doctor is not available in this build of the bridge'
          );
        }
        text(`Checking cluster ${cluster.name}...`);
        const lines = await this._services.doctor(
          cluster,
          ctx.prompter,
          ctx.signal
        );
        ctx.sink.display(
          { 'text/plain': doctorReport(cluster.name, lines) },
          {}
        );
        return { status: doctorVerdict(lines).ready ? 'ok' : 'error' };
      }
      case 'clean': {
        const cluster = clusters.resolve(args[0]);
        if (!this._services.clean) {
          throw new Error('clean is not available in this build of the bridge');
        }
        const dryRun = !!request?.dryRun;
        const report = await this._services.clean(cluster, {
          dryRun,
          prompter: ctx.prompter
        });
        text(cleanReport(cluster.name, report));
        return { status: report.failed.length ? 'error' : 'ok' };
      }
    }
    throw new Error(`unhandled command ${command}`);
  }

  private _services: IKernelServices;
  private _ownNotebook: string;
  private _subscriptions: (() => void)[] = [];
  private _cellStatus = new CellStatusHub();
}

namespace Private {
  /** An error output; an unknown cluster also says where clusters come from. */
  export function fail(sink: IOutputSink, err: unknown): IExecuteOutcome {
    const e = err as Error;
    const message = e?.message ?? String(err);
    const ename = e?.name && e.name !== 'Error' ? e.name : 'ClusterBridgeError';
    const traceback = [`${ename}: ${message}`];
    if (err instanceof UnknownClusterError) {
      traceback.push(err.hint);
    }
    sink.error(ename, message, traceback);
    return { status: 'error' };
  }
}
