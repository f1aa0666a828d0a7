/**
 * VENV2 on a batch cluster's login node before anything is submitted: the
 * agent's `env-ensure` builds it there (or finds it ready) and streams the
 * build output, so the compute node finds the env ready. Compute nodes are
 * often offline, and a build inside the job spends the job's time. Jobs
 * (submission.ts) and batch sessions call ensureEnvOnLogin before they submit.
 */
import type {
  IEnvSpec,
  IResolvedCluster,
  SchedulerKind
} from '../../shared/config';
import { agentCommand } from '../schedulers/direct';
import type { IPrompter } from '../transport/types';
import type { IOpenCluster } from './context';
import { EventLineParser } from './events';

/** The env a job or session needs: as in its bundle or spec. */
export interface IEnvRequest {
  env: IEnvSpec;
  envHash: string;
}

export interface IEnvOnLoginOptions {
  /** Build output (conda, pip) as it arrives; nothing when the env is ready. */
  onText?: (text: string) => void;
  /** Aborting stops waiting and closes the command. */
  signal?: AbortSignal;
  prompter?: IPrompter;
}

/** The agent's `env-ready` line. */
export interface IEnvReady {
  hash: string;
  python: string;
  manager?: string;
  /** The login node that built or found it. */
  node?: string;
}

/** The build failed: the installer's own words are in `traceback`. */
export class EnvBuildError extends Error {
  constructor(message: string, traceback: string[]) {
    super(message);
    this.name = 'EnvironmentBuildError';
    this.traceback = traceback;
  }

  readonly traceback: string[];
}

/** Whether VENV2 is built on the login node for a job of this kind on this cluster. */
export function buildsEnvOnLogin(
  cluster: IResolvedCluster,
  kind: SchedulerKind
): boolean {
  return kind !== 'direct' && cluster.config.buildEnvOn !== 'compute';
}

/**
 * Makes the env ready on the login node. Resolves with where its python is;
 * rejects with EnvBuildError when the build failed, with an Error when the
 * agent could not run, and with the transport's AbortError when aborted.
 */
export async function ensureEnvOnLogin(
  open: IOpenCluster,
  request: IEnvRequest,
  options: IEnvOnLoginOptions = {}
): Promise<IEnvReady> {
  const parser = new EventLineParser();
  let ready: IEnvReady | undefined;
  let failed: EnvBuildError | undefined;
  const handle = (event: { type: string; [key: string]: unknown }) => {
    if (event.type === 'env') {
      options.onText?.(String(event.text ?? ''));
    } else if (event.type === 'env-ready') {
      ready = {
        hash: String(event.hash),
        python: String(event.python),
        manager: event.manager as string | undefined,
        node: event.node as string | undefined
      };
    } else if (event.type === 'error') {
      failed = new EnvBuildError(
        String(event.evalue ?? 'the environment build failed'),
        (event.traceback as string[] | undefined) ?? []
      );
    }
  };
  const command = agentCommand(
    open.agent,
    'env-ensure',
    '--workdir',
    open.runtime.workDir
  );
  const stream = open.transport.stream(command, {
    stdin: JSON.stringify({
      env: request.env,
      envHash: request.envHash,
      workDir: open.runtime.workDir
    }),
    signal: options.signal,
    prompter: options.prompter,
    onStdout: chunk => {
      for (const event of parser.push(chunk).events) {
        handle(event as unknown as { type: string; [key: string]: unknown });
      }
    }
  });
  const result = await stream.done;
  if (options.signal?.aborted) {
    const err = new Error('aborted while building the environment');
    err.name = 'AbortError';
    throw err;
  }
  if (failed) {
    throw failed;
  }
  if (result.code !== 0 || !ready) {
    const why = (result.stderr || '').trim() || `exit ${result.code}`;
    throw new Error(
      `cluster "${open.cluster.name}": preparing the environment on the login node failed: ${why}`
    );
  }
  return ready;
}
