/**
 * A distributed cell's shape (`--nodes`, `--gpus-per-node`, `--tasks-per-node`,
 * `--launch`) on the bridge side: ranks = nodes x tasks per node (tasks default
 * to the GPUs per node, else 1), what each scheduler can honour (checked before
 * anything runs: never silently dropped), and SLURM's directives. The ranks
 * themselves are started remotely by src/runtime/_cb_ranks.py.
 */
import type { ISchedulerDefaults, SchedulerKind } from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import { UnsupportedOptionError } from '../schedulers/options';

export interface IRanksShape {
  nodes: number;
  tasksPerNode: number;
  gpusPerNode: number;
  worldSize: number;
}

/** The shape of a distributed request, else undefined (one process). */
export function ranksShape(request: IJobRequest): IRanksShape | undefined {
  if (!isDistributed(request)) {
    return undefined;
  }
  const nodes = request.nodes ?? 1;
  const gpusPerNode = request.gpusPerNode ?? 0;
  const tasksPerNode = request.tasksPerNode ?? (gpusPerNode || 1);
  return {
    nodes,
    tasksPerNode,
    gpusPerNode,
    worldSize: nodes * tasksPerNode
  };
}

export function isDistributed(request: IJobRequest): boolean {
  return (
    request.nodes !== undefined ||
    request.gpusPerNode !== undefined ||
    request.tasksPerNode !== undefined ||
    request.launch !== undefined
  );
}

/**
 * Throws a UsageError when `kind` cannot run the request's ranks as asked:
 * several nodes or `srun` on a direct host, `srun` off SLURM, and several
 * nodes without a launcher that reaches them (Grid Engine, PBS).
 */
export function checkDistributed(
  kind: SchedulerKind,
  request: IJobRequest,
  defaults: ISchedulerDefaults = {}
): void {
  const shape = ranksShape(request);
  if (!shape) {
    return;
  }
  const refuse = (why: string): never => {
    throw new UnsupportedOptionError(
      `a distributed launch ${why}; nothing was run`
    );
  };
  if (request.launch === 'srun' && kind !== 'slurm') {
    refuse(
      `with --launch srun needs a SLURM cluster (this one's scheduler is ${kind}); use torchrun or mpirun, or leave --launch out`
    );
  }
  if (kind === 'direct' && shape.nodes > 1) {
    refuse(
      `over --nodes ${shape.nodes} needs a scheduler: a direct host is one machine (--tasks-per-node runs several ranks on it)`
    );
  }
  if (kind === 'sge') {
    if (!defaults.parallelEnvironment) {
      refuse(
        "on Grid Engine needs the cluster's parallel environment: set defaults.parallelEnvironment in the cluster config (`qconf -spl` lists them)"
      );
    }
    if (shape.gpusPerNode > 0) {
      refuse('with --gpus-per-node is not supported on Grid Engine yet');
    }
    if (shape.nodes > 1 && request.launch !== 'mpirun') {
      refuse(
        `over --nodes ${shape.nodes} on Grid Engine needs --launch mpirun (one node runs its ranks side by side)`
      );
    }
  }
  if (kind === 'pbs' && shape.nodes > 1 && request.launch === undefined) {
    refuse(
      `over --nodes ${shape.nodes} on PBS needs --launch mpirun or torchrun (without one, ranks start on one node only)`
    );
  }
}

/** A session is one Python process: its options cannot ask for ranks. */
export function refuseInSession(request: IJobRequest): void {
  if (isDistributed(request)) {
    throw new UnsupportedOptionError(
      'a session is one Python process: --nodes/--gpus-per-node/--tasks-per-node/--launch belong on a %%cluster cell (which runs as a one-off job)'
    );
  }
}

/** Said in a cell of a notebook with a session: the ranks are a job of their own. */
export function outsideSessionNotice(request: IJobRequest): string {
  const ranks = ranksShape(request)?.worldSize ?? 1;
  return (
    `[cluster-bridge] This cell runs as a one-off job of ${ranks} rank${ranks === 1 ? '' : 's'}, ` +
    "outside the notebook's session: it does not see the session's variables.\n"
  );
}

/** Grid Engine's slots for the ranks (`-pe NAME ranks x cpus`), else undefined. */
export function sgeRanksSlots(
  request: IJobRequest,
  cpus: number | undefined
): number | undefined {
  const shape = ranksShape(request);
  return shape ? shape.worldSize * (cpus ?? 1) : undefined;
}

/** SLURM's task and GPU directives for the ranks, else undefined (one task). */
export function slurmRanksDirectives(
  request: IJobRequest,
  gpuFlag: 'gres' | 'gpus'
): string[] | undefined {
  const shape = ranksShape(request);
  if (!shape) {
    return undefined;
  }
  const lines = [
    `#SBATCH --nodes=${shape.nodes}`,
    `#SBATCH --ntasks-per-node=${shape.tasksPerNode}`
  ];
  if (shape.gpusPerNode > 0) {
    lines.push(
      gpuFlag === 'gpus'
        ? `#SBATCH --gpus-per-node=${shape.gpusPerNode}`
        : `#SBATCH --gres=gpu:${shape.gpusPerNode}`
    );
  }
  return lines;
}
