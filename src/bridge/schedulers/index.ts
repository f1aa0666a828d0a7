/**
 * The schedulers by kind. Batch schedulers (slurm, sge, pbs) build command
 * lines only and run them through an ITransport; direct launches the job as
 * a detached process group through the remote agent (schedulers/direct.ts).
 */
import type { SchedulerKind } from '../../shared/config';
import { DirectScheduler } from './direct';
import { PbsScheduler } from './pbs';
import { JOB_SCRIPT, jobPath } from './script';
import { SgeScheduler } from './sge';
import { SlurmScheduler } from './slurm';
import type { IJobSpec, IScheduler, ISubmitPlan } from './types';

export { PbsScheduler } from './pbs';
export { SgeScheduler } from './sge';
export { SlurmScheduler } from './slurm';
export { JobScriptError } from './script';
export { SchedulerError } from './types';
export type {
  IAgentInvocation,
  IJobSpec,
  IScheduler,
  ISubmitPlan,
  SchedulerState
} from './types';

/** A new scheduler of this kind (each keeps its own cache of ended jobs). */
export function createScheduler(kind: SchedulerKind): IScheduler {
  switch (kind) {
    case 'slurm':
      return new SlurmScheduler();
    case 'sge':
      return new SgeScheduler();
    case 'pbs':
      return new PbsScheduler();
    case 'direct':
      return new DirectScheduler();
  }
  throw new Error(
    `unknown scheduler ${JSON.stringify(kind)}: direct, slurm, sge or pbs`
  );
}

/** What a submit would do (dry run, doctor), also for schedulers without explain(). */
export function explainJob(scheduler: IScheduler, spec: IJobSpec): ISubmitPlan {
  if (scheduler.explain) {
    return scheduler.explain(spec);
  }
  const script = scheduler.script(spec);
  return {
    kind: scheduler.kind,
    script,
    scriptPath: scheduler.kind === 'direct' ? '' : jobPath(spec, JOB_SCRIPT),
    command: scheduler.kind === 'direct' ? script : ''
  };
}
