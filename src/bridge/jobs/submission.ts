/**
 * Getting a cell's job going: its spec and record, the warm fast path's
 * first command (`go`), VENV2 on a batch cluster's login node, prepare +
 * submit through the scheduler (direct's launch included), a rejection in
 * the scheduler's own words, a detached job's notice, and the dry run's
 * description.
 */
import type { IResolvedCluster, SchedulerKind } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import type { IJobInfo } from '../../shared/jobs';
import { explainJob } from '../schedulers';
import { agentCommand, venv2Prefix } from '../schedulers/direct';
import {
  SchedulerError,
  type IJobSpec,
  type IScheduler
} from '../schedulers/types';
import { shellQuote } from '../util/quote';
import type { IJobBundle } from './bundle';
import {
  errorMessage,
  type IJobContext,
  type IJobRecorder,
  type IOpenCluster
} from './context';
import { markFailed } from './ending';
import {
  buildsEnvOnLogin,
  EnvBuildError,
  ensureEnvOnLogin
} from './envOnLogin';
import { EnvProgress } from './envProgress';
import { ranksShape } from './ranksPlan';
import type { IFirstCommand } from './follower';
import type { IRunOutcome } from './types';
import { Venv2Cache } from './venv2Cache';

/** The spec a scheduler submits: the agent's `run` in the job's directory. */
export function jobSpec(
  open: IOpenCluster,
  jobId: string,
  request: IJobRequest
): IJobSpec {
  const jobDir = `${open.runtime.workDir}/jobs/${jobId}`;
  return {
    id: jobId,
    jobDir,
    // An array's elements each find their index in the scheduler's environment.
    command: agentCommand(
      open.agent,
      request.array ? 'array-element' : 'run',
      jobDir
    ),
    agent: open.agent,
    request,
    defaults: open.cluster.config.defaults ?? {}
  };
}

/** The job's first record, before anything runs. */
export function newJobInfo(
  spec: IJobSpec,
  cluster: IResolvedCluster,
  kind: SchedulerKind,
  code: string,
  submittedAt: number
): IJobInfo {
  return {
    id: spec.id,
    cluster: cluster.name,
    scheduler: kind,
    remoteDir: spec.jobDir,
    phase: 'preparing',
    detached: !!spec.request.detach,
    submittedAt,
    title: Private.title(code),
    offset: 0,
    ...Private.rankLayout(spec.request)
  };
}

/**
 * The fast path: prepare + launch + follow in one exec, the bundle on stdin.
 * With no env setup lines the cell is warm-capable: `go` on VENV2's own
 * python when a cell taught us where it is (one Python start, not two),
 * VENV1's `go` as the fallback. `venv2Key` is what this job can teach.
 */
export function fastPath(
  ctx: IJobContext,
  bundle: IJobBundle,
  venv2: Venv2Cache
): { first: IFirstCommand; venv2Key?: string } {
  const { agent, transport, job } = ctx;
  const cold: IFirstCommand = {
    command: agentCommand(agent, 'go', job.remoteDir),
    stdin: JSON.stringify(bundle)
  };
  if ((bundle.env.setup ?? []).length) {
    return { first: cold };
  }
  const venv2Key = Venv2Cache.key(ctx.runtime.workDir, bundle.envHash);
  const python = venv2.get(transport, venv2Key);
  if (!python) {
    return { first: cold, venv2Key };
  }
  const warm: IFirstCommand = {
    command: `${venv2Prefix(python, agent.runtimeDir)} go ${shellQuote(job.remoteDir)}`,
    stdin: cold.stdin,
    fallback: cold,
    venv2Key
  };
  return { first: warm, venv2Key };
}

/**
 * Prepares the job directory and submits. A scheduler's rejection is shown
 * and recorded, its directory removed, and its outcome returned; any other
 * failure is recorded and thrown. Undefined: submitted (job.schedulerId set).
 */
export async function submitJob(
  ctx: IJobContext,
  spec: IJobSpec,
  bundle: IJobBundle,
  records: IJobRecorder,
  signal?: AbortSignal
): Promise<IRunOutcome | undefined> {
  const { job, status, transport, scheduler } = ctx;
  if (buildsEnvOnLogin(ctx.cluster, scheduler.kind)) {
    const ended = await Private.envOnLogin(ctx, bundle, records, signal);
    if (ended) {
      return ended;
    }
  }
  try {
    const prepared = await transport.exec(
      agentCommand(ctx.agent, 'prepare', spec.jobDir),
      { stdin: JSON.stringify(bundle) }
    );
    if (prepared.code !== 0) {
      throw new Error(
        `preparing the job failed (exit ${prepared.code}): ${(prepared.stderr || prepared.stdout).trim()}`
      );
    }
    try {
      job.schedulerId = (await scheduler.submit(transport, spec)).schedulerId;
    } catch (err) {
      if (err instanceof SchedulerError && err.reason === 'command') {
        throw err; // not a verdict on the job (direct's agent failed to launch)
      }
      return await Private.rejected(ctx, errorMessage(err), records);
    }
  } catch (err) {
    markFailed(job, status, records, errorMessage(err));
    throw err;
  }
  job.phase = 'submitted';
  status.set({ phase: 'submitted', schedulerId: job.schedulerId });
  records.put(job);
  return undefined;
}

/** The cell's last words for a detached job: where it runs and how to get back to it. */
export function detachedNotice(ctx: IJobContext): string {
  const { job, cluster } = ctx;
  const where =
    job.scheduler !== 'direct'
      ? ` (${job.scheduler} job ${job.schedulerId})`
      : ` (pid ${job.schedulerId})`;
  return (
    `Job ${job.id} submitted to ${cluster.name}${where} and detached.\n` +
    `Attach with: %cluster attach ${job.id}\nCancel with: %cluster cancel ${job.id}\n`
  );
}

/** What a dry run shows: the command or job script, and the bundle; nothing is submitted. */
export function dryRunText(
  open: IOpenCluster,
  scheduler: IScheduler,
  spec: IJobSpec,
  bundle: IJobBundle
): string {
  let text: string;
  if (scheduler.kind === 'direct' && spec.request.array) {
    // An array is prepared, then launched: the launcher starts its elements.
    text =
      `Commands (bundle.json on stdin to the first):\n${agentCommand(open.agent, 'prepare', spec.jobDir)}\n` +
      `${agentCommand(open.agent, 'launch', spec.jobDir)}\n`;
  } else if (scheduler.kind === 'direct') {
    text = `Command (bundle.json on stdin):\n${agentCommand(open.agent, 'go', spec.jobDir)}\n`;
  } else {
    const plan = explainJob(scheduler, spec);
    text =
      `Job script${plan.scriptPath ? ` (${plan.scriptPath})` : ''}:\n` +
      plan.script.replace(/\n?$/, '\n') +
      (plan.command ? `\nSubmitted with:\n${plan.command}\n` : '');
  }
  return (
    `Dry run on cluster "${open.cluster.name}" (${scheduler.kind}): nothing was submitted.\n\n` +
    `Job directory: ${spec.jobDir}\n\n` +
    text +
    `\nbundle.json:\n${JSON.stringify(bundle, null, 2)}\n`
  );
}

namespace Private {
  export function title(code: string): string {
    const line = code.split('\n').find(l => l.trim()) ?? '';
    return line.length > 80 ? line.slice(0, 77) + '...' : line.trim();
  }

  /** A distributed job's ranks and nodes (the jobs panel's "N ranks on M nodes"). */
  export function rankLayout(
    request: IJobRequest
  ): Pick<IJobInfo, 'ranks' | 'nodes'> {
    const shape = ranksShape(request);
    return shape ? { ranks: shape.worldSize, nodes: shape.nodes } : {};
  }

  /**
   * VENV2 ready on the login node before the job exists (buildEnvOn
   * 'login'): its build output in the cell as the job's own would be. A
   * failed build ends the cell here, in the installer's words.
   */
  export async function envOnLogin(
    ctx: IJobContext,
    bundle: IJobBundle,
    records: IJobRecorder,
    signal?: AbortSignal
  ): Promise<IRunOutcome | undefined> {
    const { job, status, sink } = ctx;
    status.set({
      phase: 'preparing',
      detail: 'environment on the login node'
    });
    const progress = new EnvProgress(sink, `cb-env-${job.id}`);
    try {
      await ensureEnvOnLogin(ctx, bundle, {
        onText: text => progress.add(text),
        signal,
        prompter: ctx.prompter
      });
      progress.settle(true);
      return undefined;
    } catch (err) {
      progress.settle(false);
      if (signal?.aborted) {
        job.phase = 'cancelled';
        job.endState = 'cancelled';
        job.endedAt = Date.now();
        records.put(job);
        status.set({
          phase: 'cancelled',
          endState: 'cancelled',
          endedAt: job.endedAt
        });
        return { status: 'aborted', job: { ...job } };
      }
      markFailed(job, status, records, errorMessage(err));
      if (err instanceof EnvBuildError) {
        sink.error(err.name, err.message, err.traceback);
        return { status: 'error', job: { ...job } };
      }
      throw err;
    }
  }

  /** Rejected at submit: the scheduler's own words, and nothing left behind. */
  export async function rejected(
    ctx: IJobContext,
    message: string,
    records: IJobRecorder
  ): Promise<IRunOutcome> {
    const { job, status, transport, sink } = ctx;
    await transport
      .exec(`rm -rf ${shellQuote(job.remoteDir)}`)
      .catch(() => undefined);
    markFailed(job, status, records, message, 'rejected');
    sink.error('JobRejected', message, [
      `${job.scheduler} rejected the job: ${message}`
    ]);
    return { status: 'error', job: { ...job } };
  }
}
