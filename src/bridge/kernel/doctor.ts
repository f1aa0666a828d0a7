/**
 * `%cluster doctor NAME` / `cluster-bridge doctor`: connect and prepare the
 * cluster through the job manager, run the agent's `doctor` there, and turn
 * the facts into a checklist with one verdict per line: which env kind VENV2
 * gets and why, where it is built, and what the work dir holds.
 */
import type { EnvKind, IResolvedCluster } from '../../shared/config';
import type { IRemoteRuntime } from '../jobs/runtime';
import type { IPrompter, ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';
import type { IDoctorLine } from '../../shared/doctor';

export type DoctorFunction = (
  cluster: IResolvedCluster,
  prompter?: IPrompter,
  signal?: AbortSignal
) => Promise<IDoctorLine[]>;

/** The part of JobManager the doctor needs. */
export interface IClusterPreparer {
  prepareCluster(
    name: string,
    prompter?: IPrompter
  ): Promise<IRemoteRuntime & { agent: string; transport: ITransport }>;
}

/** The agent's `doctor` JSON (src/runtime/_cb_agent.py), the fields used here. */
export interface IAgentFacts {
  hostname?: string;
  python?: { version?: string; executable?: string };
  venv?: { ok?: boolean; ensurepip?: boolean; error?: string };
  conda?: string | null;
  schedulers?: { [command: string]: string | null };
  nvidiaSmi?: {
    path?: string;
    gpus?: { name: string; memoryTotal?: number }[] | { error: string } | null;
  } | null;
  cudaVisibleDevices?: string | null;
  diskFree?: number | null;
  /** The kind VENV2 gets with the cluster's envKind, and the agent's words for why. */
  envChoice?: { kind: string; envKind: string; why: string };
  /** Bytes under the work dir and its parts. */
  sizes?: {
    workDir: number;
    jobs: number;
    sessions: number;
    envs: number;
    runtimes: number;
  };
  /** What retention would remove now. */
  cleanable?: { count: number; bytes: number };
}

/** The env kind a cluster's default env gets: its own manager, else the cluster's envKind. */
export function envKindOf(cluster: IResolvedCluster): EnvKind {
  return cluster.config.env?.manager ?? cluster.config.envKind ?? 'auto';
}

/** Bytes as people read them: 0 B, 512 KiB, 1.5 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${n} B`
    : `${value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

const SCHEDULER_COMMANDS: { [kind: string]: string[] } = {
  slurm: ['sbatch', 'squeue', 'scancel'],
  sge: ['qsub', 'qstat', 'qdel'],
  pbs: ['qsub', 'qstat', 'qdel']
};

export function createDoctor(preparer: IClusterPreparer): DoctorFunction {
  return async (cluster, prompter) => {
    const lines: IDoctorLine[] = [];
    const started = Date.now();
    let prepared: Awaited<ReturnType<IClusterPreparer['prepareCluster']>>;
    try {
      prepared = await preparer.prepareCluster(cluster.name, prompter);
    } catch (err) {
      lines.push({
        check: 'connection',
        verdict: 'fail',
        detail: (err as Error).message
      });
      for (const check of ['python', 'venv', 'conda', 'scheduler', 'gpus']) {
        lines.push({ check, verdict: 'skip', detail: 'needs a connection' });
      }
      return lines;
    }
    lines.push({
      check: 'connection',
      verdict: 'ok',
      detail: `connected and prepared in ${Date.now() - started} ms (work dir ${prepared.workDir})`
    });
    const result = await prepared.transport.exec(
      `${prepared.agent} doctor --workdir ${shellQuote(prepared.workDir)} --env-kind ${shellQuote(envKindOf(cluster))}`
    );
    let facts: IAgentFacts;
    try {
      facts = JSON.parse(result.stdout) as IAgentFacts;
    } catch {
      lines.push({
        check: 'agent',
        verdict: 'fail',
        detail: `agent doctor failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(0, 300)}`
      });
      return lines;
    }
    return [...lines, ...checklist(cluster, prepared, facts)];
  };
}

/** The checks after the connection, from the agent's facts. Pure, for tests. */
export function checklist(
  cluster: IResolvedCluster,
  runtime: Pick<IRemoteRuntime, 'python' | 'pythonVersion' | 'notices'>,
  facts: IAgentFacts
): IDoctorLine[] {
  const lines: IDoctorLine[] = [];
  const host = facts.hostname ? ` on ${facts.hostname}` : '';
  lines.push({
    check: 'python',
    verdict: 'ok',
    detail: `Python ${runtime.pythonVersion}${host} (VENV1: ${runtime.python})`
  });
  const conda = facts.conda ?? null;
  if (facts.venv?.ok) {
    lines.push({
      check: 'venv',
      verdict: 'ok',
      detail: facts.venv.ensurepip
        ? 'venv with ensurepip'
        : 'venv without ensurepip (pip packages need conda or a pip in the base Python)'
    });
  } else {
    lines.push({
      check: 'venv',
      verdict: conda ? 'warn' : 'fail',
      detail: `venv module unavailable${facts.venv?.error ? `: ${facts.venv.error}` : ''}${conda ? '; conda will be used' : ''}`
    });
  }
  lines.push(
    conda
      ? { check: 'conda', verdict: 'ok', detail: conda }
      : {
          check: 'conda',
          verdict: 'warn',
          detail:
            'not found (PATH, CONDA_EXE, usual places): VENV2 will be a plain venv'
        }
  );
  const kind = cluster.config.scheduler ?? 'direct';
  const found = facts.schedulers ?? {};
  if (kind === 'direct') {
    lines.push({
      check: 'scheduler',
      verdict: 'ok',
      detail: 'direct: cells run as processes on the host'
    });
  } else {
    const missing = SCHEDULER_COMMANDS[kind].filter(c => !found[c]);
    lines.push(
      missing.length === 0
        ? {
            check: 'scheduler',
            verdict: 'ok',
            detail: `${kind}: ${SCHEDULER_COMMANDS[kind].map(c => found[c]).join(', ')}`
          }
        : {
            check: 'scheduler',
            verdict: 'fail',
            detail: `${kind}: not found on the host: ${missing.join(', ')}`
          }
    );
    if (kind === 'slurm' && !found.sacct) {
      lines.push({
        check: 'accounting',
        verdict: 'warn',
        detail: 'sacct not found: end states come from scontrol only'
      });
    }
  }
  const smi = facts.nvidiaSmi;
  const gpus = smi?.gpus;
  if (Array.isArray(gpus) && gpus.length > 0) {
    const names = gpus.map(
      g =>
        `${g.name}${g.memoryTotal ? ` (${Math.round(g.memoryTotal / 2 ** 30)} GiB)` : ''}`
    );
    lines.push({
      check: 'gpus',
      verdict: 'ok',
      detail: `${gpus.length}: ${names.join(', ')}`
    });
  } else if (gpus && !Array.isArray(gpus)) {
    lines.push({
      check: 'gpus',
      verdict: 'warn',
      detail: `nvidia-smi failed: ${gpus.error}`
    });
  } else if (kind !== 'direct') {
    lines.push({
      check: 'gpus',
      verdict: 'skip',
      detail:
        'none on the login node; GPU facts are reported from inside each job'
    });
  } else {
    lines.push({
      check: 'gpus',
      verdict: 'warn',
      detail: smi
        ? 'nvidia-smi lists no GPUs'
        : 'no nvidia-smi: no NVIDIA GPUs visible'
    });
  }
  if (facts.envChoice) {
    const where =
      kind === 'direct'
        ? ''
        : cluster.config.buildEnvOn === 'compute'
          ? '; built inside the job (buildEnvOn "compute")'
          : '; built on the login node before the job is submitted';
    lines.push({
      check: 'env',
      verdict: 'ok',
      detail: facts.envChoice.why.replace(/^Environment kind: /, '') + where
    });
  }
  lines.push(...Private.diskLines(cluster, facts));
  for (const notice of runtime.notices) {
    lines.push({ check: 'notice', verdict: 'warn', detail: notice });
  }
  return lines;
}

namespace Private {
  /** Free space and what the work dir holds; a warning under 1 GiB free. */
  export function diskLines(
    cluster: IResolvedCluster,
    facts: IAgentFacts
  ): IDoctorLine[] {
    const lines: IDoctorLine[] = [];
    const free = facts.diskFree;
    if (typeof free === 'number' && free < 2 ** 30) {
      lines.push({
        check: 'disk',
        verdict: 'warn',
        detail: `only ${formatBytes(free)} free in the work dir`
      });
    }
    const sizes = facts.sizes;
    if (sizes) {
      const parts = (['jobs', 'sessions', 'envs', 'runtimes'] as const)
        .map(k => `${k} ${formatBytes(sizes[k])}`)
        .join(', ');
      const clean = facts.cleanable?.count
        ? `; ${facts.cleanable.count} past retention (${formatBytes(facts.cleanable.bytes)}): %cluster clean ${cluster.name}`
        : '';
      lines.push({
        check: 'work dir',
        verdict: 'ok',
        detail:
          `${formatBytes(sizes.workDir)} (${parts})` +
          (typeof free === 'number' ? `, ${formatBytes(free)} free` : '') +
          clean
      });
    }
    return lines;
  }
}
