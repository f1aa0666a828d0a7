/**
 * The direct scheduler: the job runs on the SSH host itself as a detached
 * process group started by the agent (`launch`), survives the SSH
 * connection, and is cancelled through the agent (SIGINT, then SIGTERM and
 * SIGKILL after a grace period). The scheduler id is the group's pid.
 *
 * submit() serves detached cells; an attached cell takes the job manager's
 * fast path instead, the agent's `go` (prepare + launch + follow) in one exec.
 */
import type {
  IAgentInvocation,
  IJobSpec,
  IScheduler,
  ISubmitResult,
  SchedulerState
} from './types';
import { SchedulerError } from './types';
import type { ITransport } from '../transport/types';
import { shellJoin, shellQuote } from '../util/quote';

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
export function agentPrefix(agent: IAgentInvocation): string {
  return (
    'PYTHONDONTWRITEBYTECODE= ' +
    shellJoin([agent.python, '-I', '-u', `${agent.runtimeDir}/agent.py`])
  );
}

/** `<agent prefix> SUB [words]`: one agent command line, every word quoted. */
export function agentCommand(
  agent: IAgentInvocation,
  sub: string,
  ...words: string[]
): string {
  return `${agentPrefix(agent)} ${shellJoin([sub, ...words])}`;
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
    shellJoin([python, '-u', `${runtimeDir}/agent.py`])
  );
}

export class DirectScheduler implements IScheduler {
  readonly kind = 'direct' as const;

  /** The launch command (prepare has written the job directory). */
  script(spec: IJobSpec): string {
    if (!spec.agent) {
      throw new Error('direct scheduler: the job spec names no agent');
    }
    return agentCommand(spec.agent, 'launch', spec.jobDir);
  }

  async submit(transport: ITransport, spec: IJobSpec): Promise<ISubmitResult> {
    const result = await transport.exec(this.script(spec));
    const match = /"pid"\s*:\s*(\d+)/.exec(result.stdout);
    if (result.code !== 0 || !match) {
      // 'command', not 'rejected': no scheduler said no, the agent failed.
      throw new SchedulerError(
        'direct',
        'command',
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
    const result = await transport.exec(script, { priority: true });
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

  /**
   * Cancels through the agent; by signal only where the agent cannot run.
   * A job recorded on another node (round-robin login nodes) is refused:
   * its pid means some other process here.
   */
  async cancel(
    transport: ITransport,
    schedulerId: string,
    jobDir: string,
    agent?: IAgentInvocation
  ): Promise<void> {
    if (agent) {
      const result = await transport.exec(
        agentCommand(
          agent,
          'cancel',
          jobDir,
          '--grace',
          String(CANCEL_GRACE_S)
        ),
        { priority: true }
      );
      if (result.code === 0) {
        return;
      }
      const otherNode = Private.otherNode(result.stdout);
      if (otherNode) {
        throw new JobOnOtherNodeError(otherNode.node, otherNode.here);
      }
    }
    if (!/^\d+$/.test(schedulerId)) {
      throw new Error(
        `cannot cancel ${jobDir}: no agent known and no process id`
      );
    }
    const result = await transport.exec(
      Private.killScript(schedulerId, jobDir),
      { priority: true }
    );
    if (result.code === Private.OTHER_NODE_EXIT) {
      const [node, here] = result.stdout.trim().split(' ');
      throw new JobOnOtherNodeError(node, here);
    }
  }
}

/** A direct job's cancel reached another node than the one the job runs on: nothing was signalled. */
export class JobOnOtherNodeError extends Error {
  constructor(
    readonly node: string,
    readonly here: string
  ) {
    super(
      `the job runs on ${node}, but this connection reached ${here}: nothing was signalled there. ` +
        `The job keeps running; cancel it from ${node}.`
    );
    this.name = 'JobOnOtherNodeError';
  }
}

namespace Private {
  /** Exit status of the agent's cancel and of killScript for a job on another node. */
  export const OTHER_NODE_EXIT = 3;

  /** The agent's cancel answer for a job on another node. */
  export function otherNode(
    stdout: string
  ): { node: string; here: string } | undefined {
    try {
      const data = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      return typeof data?.otherNode === 'string'
        ? { node: data.otherNode, here: String(data.here ?? 'this host') }
        : undefined;
    } catch {
      return undefined;
    }
  }

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
      `N=$(sed -n 's/.*"node": *"\\([^"]*\\)".*/\\1/p' ${status} 2>/dev/null | head -n 1)`,
      `H=$(uname -n)`,
      `if [ -n "$N" ] && [ "$N" != "$H" ]; then printf '%s %s\\n' "$N" "$H"; exit ${OTHER_NODE_EXIT}; fi`,
      `R=$(sed -n 's/.*"runnerPgid": *\\([0-9][0-9]*\\).*/\\1/p' ${status} 2>/dev/null | head -n 1)`,
      `G="-${pid}\${R:+ -$R}"`,
      `kill -s INT -- -${pid} 2>/dev/null || { [ -n "$R" ] && kill -s INT -- -"$R" 2>/dev/null; }`,
      `(sleep ${CANCEL_GRACE_S}; kill -s TERM -- $G 2>/dev/null; sleep 2; kill -s KILL -- $G 2>/dev/null) >/dev/null 2>&1 </dev/null &`
    ].join('\n');
  }
}
