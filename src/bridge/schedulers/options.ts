/**
 * Which resource options each scheduler honours: one table, checked before
 * anything runs or is submitted, so an option a scheduler cannot honour is a
 * usage error in the cell, never silently dropped. On a direct host the
 * agent itself enforces --gpus/--cpus/--mem/--time (src/runtime/_cb_limits.py).
 */
import type {
  IClusterConfig,
  ISchedulerDefaults,
  SchedulerKind
} from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';

/** Limits: what a direct host's agent enforces itself (src/runtime/_cb_limits.py). */
export const LIMIT_OPTIONS = ['gpus', 'cpus', 'mem', 'time'] as const;

/** The options that ask a scheduler for resources (the rest shape the env or the job). */
export const RESOURCE_OPTIONS = [
  ...LIMIT_OPTIONS,
  ...(['partition', 'account', 'qos', 'constraint'] as const)
];

export type ResourceOption = (typeof RESOURCE_OPTIONS)[number];

const NO_SCHEDULER =
  'a direct host has no scheduler to hand it to (use a cluster with scheduler slurm, sge or pbs)';

/** Per scheduler, the options it cannot honour and why; every other one it honours. */
export const UNHONOURED: {
  [kind in SchedulerKind]: { [option in ResourceOption]?: string };
} = {
  direct: {
    partition: NO_SCHEDULER,
    account: NO_SCHEDULER,
    qos: NO_SCHEDULER,
    constraint: NO_SCHEDULER
  },
  slurm: {},
  sge: { qos: 'Grid Engine has no QOS (--partition picks the queue)' },
  pbs: { qos: 'PBS has no QOS (--partition picks the queue)' }
};

/** The scheduler cannot do what an option asks: the cell runs nothing. */
export class UnsupportedOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Why `kind` cannot honour `option`, or undefined when it can. */
export function unhonoured(
  kind: SchedulerKind,
  option: ResourceOption
): string | undefined {
  return UNHONOURED[kind]?.[option];
}

/**
 * Throws UnsupportedOptionError naming every option of the request (and of
 * the cluster's defaults, when they are meant for this scheduler) that
 * `kind` cannot honour. `configured`: the cluster's own scheduler; defaults
 * written for it are not checked against another one picked with --scheduler.
 */
export function checkSchedulerOptions(
  kind: SchedulerKind,
  request: IJobRequest,
  defaults: ISchedulerDefaults = {},
  configured: SchedulerKind = 'direct'
): void {
  const problems: string[] = [];
  for (const option of RESOURCE_OPTIONS) {
    const why = unhonoured(kind, option);
    if (why === undefined) {
      continue;
    }
    if (Private.given(request[option])) {
      problems.push(`--${option}: ${why}`);
    } else if (kind === configured && Private.given(defaults[option])) {
      problems.push(
        `the cluster's defaults set ${option}: ${why}; remove it from the cluster config`
      );
    }
  }
  if (problems.length) {
    const on = kind === 'direct' ? 'a direct host' : `the ${kind} scheduler`;
    throw new UnsupportedOptionError(
      `${problems.length === 1 ? 'an option' : 'options'} that ${on} cannot honour, nothing was run: ` +
        problems.join('; ')
    );
  }
}

/**
 * The request a job of `kind` runs with: checked (checkSchedulerOptions),
 * and on a direct host with the cluster's --gpus/--cpus/--mem/--time
 * defaults filled in, since there the agent enforces them from the request
 * (batch schedulers merge the defaults into their job scripts themselves).
 */
export function honouredRequest(
  kind: SchedulerKind,
  request: IJobRequest,
  cluster: IClusterConfig
): IJobRequest {
  const configured = cluster.scheduler ?? 'direct';
  const defaults = cluster.defaults ?? {};
  checkSchedulerOptions(kind, request, defaults, configured);
  if (kind !== 'direct' || configured !== 'direct') {
    return request;
  }
  const filled: IJobRequest = { ...request };
  for (const option of LIMIT_OPTIONS) {
    if (!Private.given(filled[option]) && Private.given(defaults[option])) {
      (filled as { [key: string]: unknown })[option] = defaults[option];
    }
  }
  return filled;
}

namespace Private {
  export function given(value: unknown): boolean {
    return value !== undefined && value !== null && value !== '';
  }
}
