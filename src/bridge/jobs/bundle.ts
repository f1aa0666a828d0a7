/**
 * The job bundle the agent unpacks (bundle.json): the cell source, its line
 * offset, the VENV2 spec and its hash, the request and the cluster name.
 */
import { createHash, randomBytes } from 'crypto';

import type {
  EnvKind,
  IEnvSpec,
  IResolvedCluster,
  IRetention
} from '../../shared/config';
import type { IJobRequest } from '../../shared/magic';
import { systemPython } from './runtime';

export interface IJobBundle {
  jobId: string;
  code: string;
  lineOffset: number;
  /** The cell's execution count, for `Cell In[N]` in tracebacks. */
  executionCount?: number;
  env: IEnvSpec;
  envHash: string;
  request: IJobRequest;
  cluster: string;
  /** Absolute remote work directory (envs/ lives there). */
  workDir: string;
  /** `--sync`: the remote mirror of the project folder, the cell's cwd and first on sys.path. */
  syncDir?: string;
  /** The cluster's retention for the agent's daily clean; false: no automatic clean. */
  retention?: IRetention | false;
  /** An --array rerun: the index each element had in the job it re-runs. */
  arrayIndexes?: number[];
  /** `--in`: remote folder of values set before the cell (_cb_vars.receive). */
  varsIn?: string;
  /** `--out`: names written into `dir` after the cell ends without error (_cb_vars.send). */
  /** deflate: files that compress well come back as zblocks (not on `local`: nothing crosses a network). */
  varsOut?: {
    names: string[];
    dir: string;
    protocol: number;
    deflate?: boolean;
  };
}

/** A fresh job id: sortable by time, unique, safe as a directory name. */
export function newJobId(now = Date.now()): string {
  return `cb-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** True for ids newJobId could have made (guards paths built from user input). */
export function isJobId(id: string): boolean {
  return /^cb-[a-z0-9]+-[0-9a-f]+$/.test(id);
}

/** `--env venv` / `--env conda`: the default env as that kind (unless an env has the name). */
export const ENV_KINDS: EnvKind[] = ['auto', 'conda', 'venv'];

/**
 * The VENV2 spec of a cell: the cluster's default env, or a named one
 * (`--env NAME`), plus `--packages` as extra pip packages. An env that names
 * no manager gets the cluster's envKind, so the choice is the config's.
 */
export function envSpecFor(
  cluster: IResolvedCluster,
  request: IJobRequest
): IEnvSpec {
  let spec: IEnvSpec = { ...(cluster.config.env ?? {}) };
  const kindAsked =
    request.env !== undefined &&
    !cluster.config.envs?.[request.env] &&
    (ENV_KINDS as string[]).includes(request.env);
  if (kindAsked) {
    spec.manager = request.env as EnvKind;
  } else if (request.env) {
    const named = cluster.config.envs?.[request.env];
    if (!named) {
      const known = Object.keys(cluster.config.envs ?? {});
      throw new Error(
        `cluster "${cluster.name}" has no env "${request.env}". ` +
          (known.length
            ? `Known envs: ${known.join(', ')}`
            : 'It defines no named envs (add them under "envs" in the cluster config).') +
          ' --env venv or --env conda picks the kind of the default env.'
      );
    }
    spec = { ...named };
  }
  if (!spec.manager && cluster.config.envKind) {
    spec.manager = cluster.config.envKind;
  }
  if (request.packages && request.packages.length > 0) {
    const pip = [...(spec.pip ?? [])];
    for (const pkg of request.packages) {
      if (!pip.includes(pkg)) {
        pip.push(pkg);
      }
    }
    spec.pip = pip;
  }
  // The local cluster runs cells with the same interpreter as VENV1 (Debian's
  // python3 where present, with its packages), not whatever python3 is on PATH.
  if (
    cluster.config.type === 'local' &&
    !spec.python &&
    spec.manager !== 'conda'
  ) {
    const python = systemPython(cluster);
    if (python.startsWith('/')) {
      spec.python = python;
    }
  }
  return spec;
}

/** Stable hash of a spec: key order and defaults do not change it. */
export function envHash(spec: IEnvSpec): string {
  const normalized = {
    python: spec.python ?? '',
    channels: spec.channels ?? [],
    conda: spec.conda ?? [],
    pip: spec.pip ?? [],
    setup: spec.setup ?? [],
    systemSitePackages: spec.systemSitePackages ?? true,
    manager: spec.manager ?? 'auto'
  };
  return createHash('sha256')
    .update(JSON.stringify(normalized))
    .digest('hex')
    .slice(0, 12);
}

export function makeBundle(options: {
  jobId: string;
  code: string;
  lineOffset: number;
  executionCount?: number;
  request: IJobRequest;
  cluster: IResolvedCluster;
  workDir: string;
}): IJobBundle {
  const env = envSpecFor(options.cluster, options.request);
  return {
    jobId: options.jobId,
    code: options.code,
    lineOffset: options.lineOffset,
    ...(options.executionCount !== undefined
      ? { executionCount: options.executionCount }
      : {}),
    env,
    envHash: envHash(env),
    request: options.request,
    cluster: options.cluster.name,
    workDir: options.workDir,
    ...(options.cluster.config.retention !== undefined
      ? { retention: options.cluster.config.retention }
      : {})
  };
}
