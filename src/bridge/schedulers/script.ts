/**
 * What every batch scheduler's job script shares: the effective resources
 * (magic options over cluster defaults), value checks, time and memory
 * conversions, a sanitized job name and the body that starts the agent.
 * The scheduler files only turn IResources into their own directives.
 */
import type { ISchedulerDefaults } from '../../shared/config';
import { shellQuote } from '../util/quote';
import type { IJobSpec } from './types';

/** File names inside the job directory. */
export const JOB_SCRIPT = 'job.sh';
export const SCHEDULER_OUT = 'scheduler.out';
export const SCHEDULER_ERR = 'scheduler.err';

/** The resources of one job: the cell's options over the cluster's defaults. */
export interface IResources {
  name: string;
  partition?: string;
  account?: string;
  qos?: string;
  /** Seconds; undefined = the scheduler's default. */
  timeSeconds?: number;
  /** Original time string as given (SLURM takes it verbatim). */
  time?: string;
  /** Mebibytes; undefined = the scheduler's default. */
  memMiB?: number;
  cpus?: number;
  gpus?: number;
  constraint?: string;
  gpuFlag: 'gres' | 'gpus';
  directives: string[];
  setup: string[];
}

/** A value that cannot be put into a job script safely, or a malformed time/memory. */
export class JobScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobScriptError';
  }
}

/** Merges the request over the defaults and checks every value that goes into a directive line. */
export function resolveResources(spec: IJobSpec): IResources {
  const r = spec.request;
  const d: ISchedulerDefaults = spec.defaults ?? {};
  const pick = <T>(a: T | undefined, b: T | undefined): T | undefined =>
    a !== undefined && a !== null && (a as unknown) !== '' ? a : b;
  const time = pick(r.time, d.time);
  const mem = pick(r.mem, d.mem);
  const res: IResources = {
    name: jobName(r.name, spec.id),
    partition: Private.word('partition', pick(r.partition, d.partition)),
    account: Private.word('account', pick(r.account, d.account)),
    qos: Private.word('qos', pick(r.qos, d.qos)),
    constraint: Private.word('constraint', pick(r.constraint, d.constraint)),
    time: time === undefined ? undefined : Private.word('time', String(time)),
    timeSeconds: time === undefined ? undefined : parseTime(String(time)),
    memMiB: mem === undefined ? undefined : parseMemMiB(String(mem)),
    cpus: Private.count('cpus', pick(r.cpus, d.cpus), 1),
    gpus: Private.count('gpus', pick(r.gpus, d.gpus), 0),
    gpuFlag: d.gpuFlag === 'gpus' ? 'gpus' : 'gres',
    directives: (d.directives ?? []).map(line =>
      Private.line('directive', line)
    ),
    setup: (d.setup ?? []).map(line => Private.line('setup line', line))
  };
  return res;
}

/**
 * A job name every scheduler accepts: letters, digits, `_ . -`, at most 64
 * characters, starting with a letter (Grid Engine refuses a leading digit).
 */
export function jobName(
  requested: string | undefined,
  fallback: string
): string {
  const clean = (s: string) =>
    s
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .replace(/^[^A-Za-z]+/, '')
      .slice(0, 64)
      .replace(/[_.-]+$/, '');
  const name = clean(requested ?? '') || clean(fallback) || 'cluster-bridge';
  return name;
}

/**
 * Seconds from a SLURM-style time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
 * Throws JobScriptError on anything else.
 */
export function parseTime(text: string): number {
  const t = text.trim();
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (!m) {
    throw new JobScriptError(
      `invalid time limit ${JSON.stringify(text)}: use HH:MM:SS, MM:SS, MM, D-HH, D-HH:MM or D-HH:MM:SS`
    );
  }
  const [, days, a, b, c] = m;
  const n = (s: string | undefined) => (s === undefined ? 0 : parseInt(s, 10));
  if (days !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    return ((n(days) * 24 + n(a)) * 60 + n(b)) * 60 + n(c);
  }
  if (c !== undefined) {
    return (n(a) * 60 + n(b)) * 60 + n(c); // HH:MM:SS
  }
  if (b !== undefined) {
    return n(a) * 60 + n(b); // MM:SS
  }
  return n(a) * 60; // MM
}

/** HH:MM:SS with hours beyond 24 (Grid Engine h_rt, PBS walltime). */
export function formatHms(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const pad = (v: number) => String(v).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

/** MiB from `16G`, `500M`, `1.5T`, `2048` (plain number = MiB, as SLURM reads it). */
export function parseMemMiB(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$/i.exec(text);
  if (!m) {
    throw new JobScriptError(
      `invalid memory ${JSON.stringify(text)}: use a number with K, M, G or T (16G, 500M)`
    );
  }
  const value = parseFloat(m[1]);
  const unit = m[2].toUpperCase();
  const factor: { [u: string]: number } = {
    K: 1 / 1024,
    '': 1,
    M: 1,
    G: 1024,
    T: 1024 * 1024,
    P: 1024 * 1024 * 1024
  };
  const mib = Math.ceil(value * factor[unit]);
  if (mib < 1) {
    throw new JobScriptError(
      `invalid memory ${JSON.stringify(text)}: below 1 MiB`
    );
  }
  return mib;
}

/** `16G` when whole gibibytes, else `500M`: the shortest exact form. */
export function formatMem(
  mib: number,
  suffixes: { m: string; g: string }
): string {
  return mib % 1024 === 0
    ? `${mib / 1024}${suffixes.g}`
    : `${mib}${suffixes.m}`;
}

/**
 * The script: shebang, the scheduler's directives, the cluster's extra
 * directives, then the body: into the job directory, the setup lines, and
 * `exec` of the agent so the scheduler's signals reach it directly.
 */
export function assembleScript(
  spec: IJobSpec,
  res: IResources,
  directives: string[],
  notes: string[] = [],
  launch: string[] = [execLine(spec.command)]
): string {
  const lines = ['#!/bin/bash', ...directives, ...res.directives, ''];
  lines.push(`# cluster-bridge job ${spec.id}`);
  for (const note of notes) {
    lines.push(`# note: ${note}`);
  }
  lines.push(`cd ${shellQuote(spec.jobDir)} || exit 1`);
  lines.push(...res.setup);
  lines.push(...launch);
  return lines.join('\n') + '\n';
}

/**
 * `exec COMMAND`, so the scheduler's signals reach the agent itself. A
 * command that starts with variable assignments (`NAME=value cmd`) goes
 * through `env`, since `exec NAME=value` is not a command.
 */
export function execLine(command: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*=/.test(command.trimStart())
    ? `exec env ${command.trimStart()}`
    : `exec ${command}`;
}

/**
 * For schedulers that warn with a signal the agent does not handle (Grid
 * Engine's -notify sends SIGUSR2 before its SIGKILL): the agent runs as a
 * child with that signal ignored, and the script turns the warning into the
 * SIGTERM the agent does handle (it stops the cell and records `cancelled`).
 */
export function relaySignal(command: string, warning: string): string[] {
  return [
    `# ${warning} is the scheduler's warning before SIGKILL: pass it on as SIGTERM.`,
    `(trap '' ${warning}; ${execLine(command)}) &`,
    'pid=$!',
    `trap 'kill -TERM "$pid" 2>/dev/null' ${warning}`,
    'wait "$pid"; rc=$?',
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done',
    'exit $rc'
  ];
}

/**
 * An --array cell's job array: its element count and limit, or undefined
 * when there is none to ask for (one element runs as a plain job; the
 * runtime then takes index 0).
 */
export function jobArray(
  spec: IJobSpec
): { count: number; maxParallel?: number } | undefined {
  const count = spec.request.array?.values.length ?? 0;
  if (count < 2) {
    return undefined;
  }
  const limit = spec.request.maxParallel;
  return { count, maxParallel: limit && limit < count ? limit : undefined };
}

/** Path inside the job directory. */
export function jobPath(spec: IJobSpec, file: string): string {
  return `${spec.jobDir.replace(/\/+$/, '')}/${file}`;
}

/**
 * `cd JOBDIR && <qsub words> -o <out> -e <err> job.sh`: the submit command of
 * Grid Engine and PBS (both take the log paths as -o/-e).
 */
export function qsubCommand(spec: IJobSpec, qsub: string[]): string {
  return [
    `cd ${shellQuote(spec.jobDir)} &&`,
    ...qsub,
    '-o',
    shellQuote(jobPath(spec, SCHEDULER_OUT)),
    '-e',
    shellQuote(jobPath(spec, SCHEDULER_ERR)),
    JOB_SCRIPT
  ].join(' ');
}

/**
 * The one remote command of a submit: write the script from stdin, submit it,
 * and on rejection remove the job directory, so a rejected job leaves nothing
 * behind. The scheduler's own stderr is what the caller shows.
 */
export function submitShell(spec: IJobSpec, submitCommand: string): string {
  assertJobDir(spec.jobDir);
  const dir = shellQuote(spec.jobDir);
  const script = shellQuote(jobPath(spec, JOB_SCRIPT));
  return (
    `umask 077 && cat > ${script} && chmod 700 ${script} && ${submitCommand}` +
    ` || { rc=$?; rm -rf -- ${dir}; exit $rc; }`
  );
}

/** A job directory we are willing to delete: absolute, under a `jobs/` folder, no `..`. */
export function assertJobDir(dir: string): void {
  // A job's folder, or a session's (a batch session is one held allocation).
  if (
    !/^\/.*\/(jobs|sessions)\/[^/]+\/?$/.test(dir) ||
    dir.split('/').includes('..')
  ) {
    throw new JobScriptError(
      `refusing to use job directory ${JSON.stringify(dir)}`
    );
  }
}

/** Unique ids in their first order (a scheduler call lists each once). */
export function uniqueIds(ids: string[]): string[] {
  return [...new Set(ids.filter(id => id !== ''))];
}

namespace Private {
  /**
   * Values that become part of a directive line (`#SBATCH --partition=X`): the
   * schedulers read these lines themselves, without a shell, so a newline
   * would start a new directive or command and whitespace would split it.
   */
  export function word(
    what: string,
    value: string | undefined
  ): string | undefined {
    if (value === undefined) {
      return undefined;
    }
    const v = String(value);
    if (!/^[^\s'"`\\$;<>]+$/.test(v)) {
      throw new JobScriptError(
        `invalid ${what} ${JSON.stringify(v)}: no spaces, quotes or shell characters allowed`
      );
    }
    return v;
  }

  export function count(
    what: string,
    value: number | undefined,
    min: number
  ): number | undefined {
    if (value === undefined) {
      return undefined;
    }
    if (!Number.isInteger(value) || value < min) {
      throw new JobScriptError(
        `invalid ${what} ${JSON.stringify(value)}: an integer >= ${min}`
      );
    }
    return value;
  }

  /** One line from the cluster config, verbatim, but never several. */
  export function line(what: string, value: string): string {
    if (/[\r\n\0]/.test(value)) {
      throw new JobScriptError(
        `invalid ${what} ${JSON.stringify(value)}: one line each`
      );
    }
    return value;
  }
}
