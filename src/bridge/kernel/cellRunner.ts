/**
 * CellRunner: what the bridge kernel does with a cell. `%%cluster` cells go
 * to the job manager; plain code runs on the default cluster; `%cluster` line
 * magics manage clusters and jobs; malformed magics become a usage error and
 * start nothing. Also gives the editor help (assist.ts) and opens the
 * `cluster_bridge` comm for the frontend (frontendComm.ts).
 */
import { doctorReport, doctorVerdict } from '../../shared/doctor';
import { COMM_TARGET } from '../../shared/comm';
import { IJobRequest, parseCell, usage } from '../../shared/magic';
import { UnknownClusterError } from '../clusters/registry';
import type { IOutputSink } from '../jobs/types';
import { complete, inspect, isComplete } from './assist';
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
import type { IKernelServices } from './services';
import { clusterTable, jobTable } from './textTables';

export class CellRunner implements IKernelHandler {
  constructor(services: IKernelServices) {
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
    return {
      [COMM_TARGET]: comm => {
        this._subscriptions.push(
          serveFrontendComm(comm, this._services),
          this._cellStatus.add(comm)
        );
      }
    };
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
        new UnknownClusterError(name, clusters.names())
      );
    }
    try {
      const outcome = await jobs.runCell({
        request: { ...request, cluster: name },
        code,
        lineOffset,
        executionCount: ctx.executionCount,
        // The live status goes beside the cell, not into its outputs.
        sink: this._cellStatus.sinkFor(ctx.request, ctx.sink),
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

  /** Errors thrown here become the cell's error output (execute catches them). */
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
    }
    throw new Error(`unhandled command ${command}`);
  }

  private _services: IKernelServices;
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
