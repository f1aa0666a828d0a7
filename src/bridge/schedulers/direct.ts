/**
 * The direct scheduler: the job runs on the SSH host itself as a detached
 * process group started by the agent (`launch`), survives the SSH
 * connection, and is cancelled through the agent (SIGINT, then SIGTERM and
 * SIGKILL after a grace period). The scheduler id is the group's pid.
 *
 * The JobManager's fast path does not call submit(): it runs the agent's
 * `go` (prepare + launch + follow) in one exec.
 */
import type {
  IJobSpec,
  IScheduler,
  ISubmitResult,
  SchedulerState
} from './types';
import type { ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';

/** Seconds between SIGINT and SIGTERM/SIGKILL on cancel. */
export const CANCEL_GRACE_S = 5;

/**
 * `PYTHONDONTWRITEBYTECODE= <python> -I -u <runtimeDir>/agent.py`: the
 * agent's command prefix, quoted, for the POSIX shell that runs every remote
 * command. -I: VENV1 is standard library only, so a PYTHONPATH/PYTHONHOME
 * meant for another Python (`module load` on clusters) must not reach it.
 * PYTHONDONTWRITEBYTECODE is cleared so the runtime's bytecode is cached in
 * its own __pycache__ (the local cluster inherits the kernel's environment,
 * and compiling agent and runner from source on every cell doubles a warm
 * cell's time). Shell assignments, not `env`: one exec fewer per command.
 */
export function agentPrefix(python: string, runtimeDir: string): string {
  return (
    'PYTHONDONTWRITEBYTECODE= ' +
    [python, '-I', '-u', `${runtimeDir}/agent.py`].map(shellQuote).join(' ')
  );
}

/**
 * `<venv2 python> -u <runtimeDir>/agent.py`: the warm fast path's prefix for
 * `go`, the whole rest of the command line. The agent on VENV2's own
 * interpreter forks the runner instead of starting a second Python
 * (status.json runnerMode "fork"). No -I: the cell sees what a runner
 * started by the agent would (user site-packages, PYTHON* settings), except
 * PYTHONHOME/PYTHONPATH, which the agent drops for the runner too; unsetting
 * them also keeps a `module load` PYTHONHOME meant for another Python from
 * breaking VENV2's start. Shell builtins and `exec`, not `env -u`: the shell
 * becomes the agent, about 1 ms of a warm cell saved.
 */
export function venv2Prefix(python: string, runtimeDir: string): string {
  return (
    'unset PYTHONHOME PYTHONPATH; PYTHONDONTWRITEBYTECODE= exec ' +
    [python, '-u', `${runtimeDir}/agent.py`].map(shellQuote).join(' ')
  );
}

/** `<python> -u <runtimeDir>/agent.py SUB JOBDIR [args]`, every word quoted. */
export function agentCommand(
  python: string,
  runtimeDir: string,
  sub: string,
  jobDir?: string,
  ...args: string[]
): string {
  const words = [sub];
  if (jobDir !== undefined) {
    words.push(jobDir);
  }
  words.push(...args);
  return `${agentPrefix(python, runtimeDir)} ${words.map(shellQuote).join(' ')}`;
}

export class DirectScheduler implements IScheduler {
  readonly kind = 'direct' as const;

  /** Tells the scheduler how to reach the agent for a job (the `go` fast path uses this). */
  register(jobDir: string, agentPrefix: string): void {
    this._agents.set(jobDir, agentPrefix);
  }

  /** The launch command: the spec's `run` command with `launch` instead. */
  script(spec: IJobSpec): string {
    return Private.launchCommand(spec);
  }

  async submit(transport: ITransport, spec: IJobSpec): Promise<ISubmitResult> {
    const prefix = Private.agentPrefix(spec);
    if (prefix) {
      this._agents.set(spec.jobDir, prefix);
    }
    const result = await transport.exec(Private.launchCommand(spec));
    const match = /"pid"\s*:\s*(\d+)/.exec(result.stdout);
    if (result.code !== 0 || !match) {
      throw new Error(
        `starting the job failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`
      );
    }
    return { schedulerId: match[1] };
  }

  async states(
    transport: ITransport,
    schedulerIds: string[]
  ): Promise<Map<string, SchedulerState>> {
    const states = new Map<string, SchedulerState>();
    const pids = schedulerIds.filter(id => /^\d+$/.test(id));
    for (const id of schedulerIds) {
      states.set(id, { state: 'unknown' });
    }
    if (pids.length === 0) {
      return states;
    }
    // kill -0 fails with EPERM for another user's process: /proc tells it is alive.
    const script = `for p in ${pids.join(' ')}; do if kill -0 "$p" 2>/dev/null || [ -d "/proc/$p" ]; then echo "$p up"; else echo "$p gone"; fi; done`;
    const result = await transport.exec(script);
    for (const line of result.stdout.split('\n')) {
      const [pid, verdict] = line.trim().split(' ');
      if (verdict === 'up') {
        states.set(pid, { state: 'running' });
      } else if (verdict === 'gone') {
        states.set(pid, {
          state: 'ended',
          end: 'lost',
          reason: 'the job process is gone'
        });
      }
    }
    return states;
  }

  async cancel(
    transport: ITransport,
    schedulerId: string,
    jobDir: string
  ): Promise<void> {
    const prefix = this._agents.get(jobDir);
    if (prefix) {
      const result = await transport.exec(
        `${prefix} cancel ${shellQuote(jobDir)} --grace ${CANCEL_GRACE_S}`
      );
      if (result.code === 0) {
        return;
      }
    }
    if (!/^\d+$/.test(schedulerId)) {
      throw new Error(
        `cannot cancel ${jobDir}: no agent known and no process id`
      );
    }
    await transport.exec(Private.killScript(schedulerId, jobDir));
  }

  private _agents = new Map<string, string>();
}

namespace Private {
  /**
   * Without the agent: signal the process groups ourselves, escalating in the
   * background. The runner has its own group (status.json `runnerPgid`), so
   * SIGTERM and SIGKILL go to both: a runner that outlives a killed agent
   * would be an orphan. SIGINT goes to the agent, which forwards it (to the
   * runner's group when the agent is gone). `kill -s SIG -- -PGID` is the
   * one spelling dash's kill takes too (`kill -SIG -- -PGID` fails there).
   */
  export function killScript(pid: string, jobDir: string): string {
    const status = `${shellQuote(jobDir)}/status.json`;
    return [
      `R=$(sed -n 's/.*"runnerPgid": *\\([0-9][0-9]*\\).*/\\1/p' ${status} 2>/dev/null | head -n 1)`,
      `G="-${pid}\${R:+ -$R}"`,
      `kill -s INT -- -${pid} 2>/dev/null || { [ -n "$R" ] && kill -s INT -- -"$R" 2>/dev/null; }`,
      `(sleep ${CANCEL_GRACE_S}; kill -s TERM -- $G 2>/dev/null; sleep 2; kill -s KILL -- $G 2>/dev/null) >/dev/null 2>&1 </dev/null &`
    ].join('\n');
  }

  /** The agent prefix of a spec whose command is `<prefix> run <jobDir>`. */
  export function agentPrefix(spec: IJobSpec): string | null {
    const tail = ` run ${shellQuote(spec.jobDir)}`;
    return spec.command.endsWith(tail)
      ? spec.command.slice(0, -tail.length)
      : null;
  }

  export function launchCommand(spec: IJobSpec): string {
    const prefix = agentPrefix(spec);
    if (!prefix) {
      throw new Error(
        `direct scheduler: unexpected job command ${spec.command}`
      );
    }
    return `${prefix} launch ${shellQuote(spec.jobDir)}`;
  }
}
