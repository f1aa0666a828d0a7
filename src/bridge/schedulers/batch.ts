/**
 * The part of SLURM, Grid Engine and PBS that is the same: submit in one
 * remote command (script on stdin, job dir removed on rejection), end states
 * remembered (they are final, so ended jobs are never asked about again), and
 * cancel that tolerates a job that already ended.
 */
import type { SchedulerKind } from '../../shared/config';
import type { JobEndState } from '../../shared/events';
import type { IExecResult, ITransport } from '../transport/types';
import { withPriority } from '../transport/priority';
import { shellQuote } from '../util/quote';
import { JOB_SCRIPT, jobPath, submitShell, uniqueIds } from './script';
import {
  SchedulerError,
  type IJobSpec,
  type IScheduler,
  type ISubmitPlan,
  type ISubmitResult,
  type SchedulerState
} from './types';

export abstract class BatchScheduler implements IScheduler {
  abstract readonly kind: SchedulerKind;

  abstract script(spec: IJobSpec): string;

  explain(spec: IJobSpec): ISubmitPlan {
    return {
      kind: this.kind,
      script: this.script(spec),
      scriptPath: jobPath(spec, JOB_SCRIPT),
      command: this.submitCommand(spec)
    };
  }

  async submit(transport: ITransport, spec: IJobSpec): Promise<ISubmitResult> {
    const plan = this.explain(spec);
    const result = await transport.exec(submitShell(spec, plan.command), {
      stdin: plan.script
    });
    const id = result.code === 0 ? this.parseSubmit(result.stdout) : null;
    if (id === null) {
      throw new SchedulerError(
        this.kind,
        'rejected',
        commandMessage(result) || `${this.kind}: the job was not accepted`
      );
    }
    return { schedulerId: id };
  }

  async states(
    transport: ITransport,
    schedulerIds: string[]
  ): Promise<Map<string, SchedulerState>> {
    const out = new Map<string, SchedulerState>();
    const ask: string[] = [];
    for (const id of uniqueIds(schedulerIds)) {
      const ended = this._ended.get(id);
      if (ended) {
        out.set(id, ended);
      } else {
        ask.push(id);
      }
    }
    if (ask.length > 0) {
      ask.forEach(id => this._checkId(id));
      // Short queries: never behind the channels running cells hold.
      const found = await this.queryStates(withPriority(transport), ask);
      for (const id of ask) {
        let state = found.get(id) ?? { state: 'unknown' };
        if (
          state.state === 'ended' &&
          this._cancelled.has(id) &&
          state.end !== 'completed'
        ) {
          // Killed on our request: Grid Engine and PBS accounting only see a signal.
          state = {
            ...state,
            end: 'cancelled',
            reason: ['cancelled', state.end !== 'cancelled' ? state.reason : '']
              .filter(Boolean)
              .join(': ')
          };
        }
        if (state.state === 'ended') {
          this._ended.set(id, state);
        }
        out.set(id, state);
      }
    }
    return out;
  }

  async cancel(
    transport: ITransport,
    schedulerId: string,
    _jobDir: string
  ): Promise<void> {
    const result = await transport.exec(
      this.cancelCommand(this._checkId(schedulerId)),
      { priority: true }
    );
    this._cancelled.add(schedulerId);
    if (result.code !== 0 && !this.alreadyGone(commandMessage(result))) {
      throw new SchedulerError(this.kind, 'command', commandMessage(result));
    }
  }

  /** The scheduler's name in messages and what its job ids look like (ids reach remote command lines). */
  protected abstract readonly jobIds: { name: string; pattern: RegExp };

  /** The submit command, run on the cluster after the script was written to jobDir/job.sh. */
  protected abstract submitCommand(spec: IJobSpec): string;

  /** The scheduler's job id from the submit command's stdout, or null. */
  protected abstract parseSubmit(stdout: string): string | null;

  /** The cancel command for a checked id. */
  protected abstract cancelCommand(schedulerId: string): string;

  /** True when a failed cancel only says the job is already finished or unknown. */
  protected abstract alreadyGone(message: string): boolean;

  /** States of jobs (checked ids) not known to have ended; ids missing from the map are `unknown`. */
  protected abstract queryStates(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>>;

  /** The id itself, or a SchedulerError when it does not look like one of ours. */
  private _checkId(id: string): string {
    if (!this.jobIds.pattern.test(id)) {
      throw new SchedulerError(
        this.kind,
        'command',
        `not a ${this.jobIds.name} job id: ${JSON.stringify(id)}`
      );
    }
    return id;
  }

  private _ended = new Map<string, SchedulerState>();
  /** Jobs this scheduler cancelled: their end is `cancelled` whatever the accounting says. */
  private _cancelled = new Set<string>();
}

/** Job ids as one shell word, comma separated (squeue -j, qstat -j). */
export function idList(ids: string[]): string {
  return shellQuote(ids.join(','));
}

/** An ended state; the exit code when known, the reason when not empty. */
export function endedState(
  end: JobEndState,
  exitCode?: number | null,
  reason?: string
): SchedulerState {
  const state: SchedulerState = { state: 'ended', end };
  if (exitCode !== undefined) {
    state.exitCode = exitCode;
  }
  if (reason) {
    state.reason = reason;
  }
  return state;
}

/** stderr (else stdout) of a command, trimmed: the scheduler's own words. */
export function commandMessage(result: IExecResult): string {
  const text = result.stderr.trim() || result.stdout.trim();
  return text;
}

/** Splits a combined command's output on `@@CB <name>` marker lines. */
export function splitSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name = '';
  let lines: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^@@CB (\S+)@@$/.exec(line);
    if (m) {
      sections.set(name, lines.join('\n'));
      name = m[1];
      lines = [];
    } else {
      lines.push(line);
    }
  }
  sections.set(name, lines.join('\n'));
  return sections;
}

/** `echo '@@CB name@@'`: a marker line for splitSections. */
export function marker(name: string): string {
  return `echo '@@CB ${name}@@'`;
}

/** Exit code and reason from a wait(2) status (SLURM's squeue exit_code is the raw status). */
export function decodeWaitStatus(status: number): {
  exitCode: number;
  signal: number;
} {
  const signal = status & 0x7f;
  return signal
    ? { exitCode: 128 + signal, signal }
    : { exitCode: (status >> 8) & 0xff, signal: 0 };
}

export const SIGNAL_NAMES: { [n: number]: string } = {
  1: 'SIGHUP',
  2: 'SIGINT',
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  15: 'SIGTERM',
  24: 'SIGXCPU'
};

export function signalText(signal: number): string {
  return `killed by signal ${signal}${SIGNAL_NAMES[signal] ? ` (${SIGNAL_NAMES[signal]})` : ''}`;
}
