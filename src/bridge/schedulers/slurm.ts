/**
 * SLURM: `#SBATCH` script, `sbatch --parsable`, states from one `squeue`
 * call (which also lists ended jobs for MinJobAge seconds), then for jobs
 * squeue no longer knows: `sacct` when accounting exists, else the
 * jobcomp/filetxt log. Cancel is `scancel` (SIGTERM to the batch script,
 * which is the agent thanks to `exec`; it records `cancelled`).
 */
import type { JobEndState } from '../../shared/events';
import { shellQuote } from '../util/quote';
import type { ITransport } from '../transport/types';
import {
  BatchScheduler,
  endedState,
  idList,
  commandMessage,
  decodeWaitStatus,
  marker,
  signalText,
  splitSections
} from './batch';
import {
  assembleScript,
  formatMem,
  jobArray,
  jobPath,
  JOB_SCRIPT,
  resolveResources,
  SCHEDULER_ERR,
  SCHEDULER_OUT
} from './script';
import { SchedulerError, type IJobSpec, type SchedulerState } from './types';
import { slurmRanksDirectives } from '../jobs/ranksPlan';

/** squeue fields, `|`-terminated; Reason last because it is free text. */
export const SQUEUE_FORMAT =
  'JobID:|,State:|,NodeList:|,StartTime:|,exit_code:|,Reason:|';

export class SlurmScheduler extends BatchScheduler {
  readonly kind = 'slurm' as const;
  protected readonly jobIds = {
    name: 'SLURM',
    pattern: /^\d+(_\d+)?$/
  };

  script(spec: IJobSpec): string {
    const res = resolveResources(spec);
    const d: string[] = [`#SBATCH --job-name=${res.name}`];
    if (res.partition) {
      d.push(`#SBATCH --partition=${res.partition}`);
    }
    if (res.account) {
      d.push(`#SBATCH --account=${res.account}`);
    }
    if (res.qos) {
      d.push(`#SBATCH --qos=${res.qos}`);
    }
    if (res.time) {
      d.push(`#SBATCH --time=${res.time}`);
    }
    // A distributed cell: its nodes, tasks and GPUs per node (the agent runs `srun` inside).
    const ranks = slurmRanksDirectives(spec.request, res.gpuFlag);
    d.push(...(ranks ?? ['#SBATCH --nodes=1', '#SBATCH --ntasks=1']));
    if (res.cpus !== undefined) {
      d.push(`#SBATCH --cpus-per-task=${res.cpus}`);
    }
    if (res.memMiB !== undefined) {
      d.push(`#SBATCH --mem=${formatMem(res.memMiB, { m: 'M', g: 'G' })}`);
    }
    if (res.gpus && !ranks) {
      d.push(
        res.gpuFlag === 'gpus'
          ? `#SBATCH --gpus=${res.gpus}`
          : `#SBATCH --gres=gpu:${res.gpus}`
      );
    }
    if (res.constraint) {
      d.push(`#SBATCH --constraint=${res.constraint}`);
    }
    const array = jobArray(spec);
    if (array) {
      const limit = array.maxParallel ? `%${array.maxParallel}` : '';
      d.push(`#SBATCH --array=0-${array.count - 1}${limit}`);
    }
    return assembleScript(spec, res, d);
  }

  protected submitCommand(spec: IJobSpec): string {
    // Log paths on the command line (quoted by the shell), `%` doubled: sbatch
    // expands %j-style patterns in them.
    const log = (file: string) => jobPath(spec, file).replace(/%/g, '%%');
    return [
      `cd ${shellQuote(spec.jobDir)} &&`,
      'sbatch --parsable',
      shellQuote(`--output=${log(SCHEDULER_OUT)}`),
      shellQuote(`--error=${log(SCHEDULER_ERR)}`),
      JOB_SCRIPT
    ].join(' ');
  }

  protected parseSubmit(stdout: string): string | null {
    // `123` or `123;cluster` (federation); warnings go to stderr.
    const m = /^(\d+)(?:;\S*)?\s*$/m.exec(stdout.trim());
    return m ? m[1] : null;
  }

  protected cancelCommand(schedulerId: string): string {
    return `scancel ${shellQuote(schedulerId)}`;
  }

  protected alreadyGone(message: string): boolean {
    return /already completing or completed|Invalid job id/i.test(message);
  }

  protected async queryStates(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>> {
    const list = idList(ids);
    const result = await transport.exec(
      `squeue -h -t all -j ${list} -O ${shellQuote(SQUEUE_FORMAT)}`
    );
    let found: Map<string, SchedulerState>;
    if (result.code === 0) {
      found = parseSqueue(result.stdout);
    } else if (/Invalid job id/i.test(commandMessage(result))) {
      found = new Map(); // a single id squeue no longer knows
    } else {
      throw new SchedulerError(
        'slurm',
        'command',
        `squeue: ${commandMessage(result)}`
      );
    }
    const missing = ids.filter(id => !found.has(id));
    if (missing.length > 0) {
      const ended = await this._lookupEnded(transport, missing);
      ended.forEach((state, id) => found.set(id, state));
    }
    return found;
  }

  /** Jobs squeue forgot (older than MinJobAge): sacct, else jobcomp/filetxt, in one call. */
  private async _lookupEnded(
    transport: ITransport,
    ids: string[]
  ): Promise<Map<string, SchedulerState>> {
    const pattern = `^JobId=(${ids.join('|')}) `;
    const command = [
      marker('sacct'),
      `sacct -n -P -X -j ${idList(ids)} -o JobIDRaw,State,ExitCode,NodeList,Reason 2>&1`,
      marker('jobcomp'),
      'conf=$(scontrol show config 2>/dev/null)',
      `loc=$(printf '%s\\n' "$conf" | sed -n 's/^JobCompLoc *= *//p')`,
      `case $(printf '%s\\n' "$conf" | sed -n 's/^JobCompType *= *//p') in *filetxt*) ` +
        `[ -r "$loc" ] && grep -E ${shellQuote(pattern)} "$loc" | tail -n 1000;; esac`,
      'true'
    ].join('\n');
    const result = await transport.exec(command);
    const sections = splitSections(result.stdout);
    const out = parseSacct(sections.get('sacct') ?? '');
    parseJobcomp(sections.get('jobcomp') ?? '').forEach((state, id) => {
      if (!out.has(id)) {
        out.set(id, state);
      }
    });
    return out;
  }
}

/** `squeue -h -t all -O SQUEUE_FORMAT` output. */
export function parseSqueue(
  text: string,
  now = Date.now()
): Map<string, SchedulerState> {
  const out = new Map<string, SchedulerState>();
  for (const line of text.split('\n')) {
    const f = line.split('|');
    if (f.length < 6 || !/^\d+$/.test(f[0].trim())) {
      continue;
    }
    const [id, state, nodes, start, exit] = f.map(s => s.trim());
    const reason = f.slice(5).join('|').replace(/\|$/, '').trim();
    const status = /^\d+$/.test(exit) ? parseInt(exit, 10) : undefined;
    out.set(
      id,
      slurmState(
        state,
        {
          reason,
          node: nodes,
          expectedStart: start,
          exit: status === undefined ? undefined : decodeWaitStatus(status)
        },
        now
      )
    );
  }
  return out;
}

/** `sacct -n -P -X -o JobIDRaw,State,ExitCode,NodeList,Reason` output. */
export function parseSacct(text: string): Map<string, SchedulerState> {
  const out = new Map<string, SchedulerState>();
  for (const line of text.split('\n')) {
    const f = line.split('|');
    if (f.length < 5 || !/^\d+$/.test(f[0])) {
      continue;
    }
    const [id, state, exit, node] = f;
    out.set(
      id,
      slurmState(state, {
        reason: f.slice(4).join('|'),
        node,
        exit: Private.exitPair(exit)
      })
    );
  }
  return out;
}

/** jobcomp/filetxt lines: `JobId=12 UserId=... JobState=COMPLETED ... ExitCode=0:0 ...`. */
export function parseJobcomp(text: string): Map<string, SchedulerState> {
  const out = new Map<string, SchedulerState>();
  for (const line of text.split('\n')) {
    const fields: { [k: string]: string } = {};
    for (const m of line.matchAll(/(\w+)=(\S*)/g)) {
      fields[m[1]] ??= m[2];
    }
    if (!fields.JobId || !fields.JobState) {
      continue;
    }
    // A later line for the same id (requeue) wins.
    out.set(
      fields.JobId,
      slurmState(fields.JobState, {
        node: fields.NodeList,
        exit: Private.exitPair(fields.ExitCode ?? '')
      })
    );
  }
  return out;
}

interface ISlurmFacts {
  reason?: string;
  node?: string;
  expectedStart?: string;
  exit?: { exitCode: number; signal: number };
}

/** One SLURM job state (squeue's long names; sacct adds `CANCELLED by 1001`) as ours. */
export function slurmState(
  raw: string,
  facts: ISlurmFacts,
  now = Date.now()
): SchedulerState {
  const state = raw.trim().split(/\s+/)[0].replace(/\+$/, '').toUpperCase();
  const reason = Private.reason(facts.reason);
  const node = Private.node(facts.node);
  switch (state) {
    case 'PENDING':
    case 'REQUEUED':
    case 'REQUEUE_HOLD':
    case 'REQUEUE_FED':
    case 'RESV_DEL_HOLD':
    case 'SUSPENDED':
    case 'STOPPED':
    case 'CONFIGURING': {
      const pending: SchedulerState = { state: 'pending' };
      const why =
        state === 'PENDING'
          ? reason
          : Private.title(state) + (reason ? `: ${reason}` : '');
      if (why) {
        pending.reason = why;
      }
      const start = Private.expectedStart(facts.expectedStart, now);
      if (start) {
        pending.expectedStart = start;
      }
      return pending;
    }
    case 'RUNNING':
    case 'COMPLETING':
    case 'SIGNALING':
    case 'STAGE_OUT':
    case 'RESIZING':
      return node ? { state: 'running', node } : { state: 'running' };
  }
  const end = Private.END_STATES[state];
  if (!end) {
    return { state: 'unknown' };
  }
  const exit = facts.exit;
  const why: string[] = [];
  if (state !== 'COMPLETED' && state !== end.toUpperCase()) {
    why.push(state);
  }
  if (reason && reason !== 'NonZeroExitCode') {
    why.push(reason);
  }
  if (exit?.signal && end === 'failed') {
    why.push(signalText(exit.signal));
  } else if (end === 'failed' && exit) {
    why.push(`exit code ${exit.exitCode}`);
  }
  return endedState(end, exit?.exitCode, why.join(', '));
}

namespace Private {
  export const END_STATES: { [state: string]: JobEndState } = {
    COMPLETED: 'completed',
    FAILED: 'failed',
    SPECIAL_EXIT: 'failed',
    TIMEOUT: 'timeout',
    DEADLINE: 'timeout',
    OUT_OF_MEMORY: 'out_of_memory',
    NODE_FAIL: 'node_fail',
    BOOT_FAIL: 'node_fail',
    LAUNCH_FAILED: 'failed',
    CANCELLED: 'cancelled',
    PREEMPTED: 'cancelled',
    REVOKED: 'cancelled'
  };

  /** `3:0` (exit code : signal) as sacct and scontrol print it. */
  export function exitPair(
    text: string
  ): { exitCode: number; signal: number } | undefined {
    const m = /^(\d+):(\d+)$/.exec(text.trim());
    if (!m) {
      return undefined;
    }
    const code = parseInt(m[1], 10);
    const signal = parseInt(m[2], 10);
    return signal
      ? { exitCode: 128 + signal, signal }
      : { exitCode: code, signal: 0 };
  }

  export function reason(text: string | undefined): string | undefined {
    const r = (text ?? '').trim().replace(/^\((.*)\)$/, '$1');
    return r && r !== 'None' && r !== '(null)' ? r : undefined;
  }

  export function node(text: string | undefined): string | undefined {
    const n = (text ?? '').trim();
    return n && n !== '(null)' && n !== 'None assigned' ? n : undefined;
  }

  /**
   * squeue's StartTime for a pending job is an estimate only when backfill
   * computed one; "unknown" shows as N/A, Unknown, or a date a year ahead.
   */
  export function expectedStart(
    text: string | undefined,
    now: number
  ): string | undefined {
    const t = (text ?? '').trim();
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(t)) {
      return undefined;
    }
    const ms = Date.parse(t);
    if (
      Number.isNaN(ms) ||
      ms < now - 60_000 ||
      ms - now > 300 * 86400 * 1000
    ) {
      return undefined;
    }
    return t;
  }

  export function title(state: string): string {
    const s = state.toLowerCase().replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
}
