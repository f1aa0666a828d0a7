/**
 * One file (~1,100 lines) on purpose: the option table, tokenizer, parser and
 * usage text are one grammar that changes together.
 *
 * The `%%cluster` cell magic and `%cluster` line magics: parsing only, no I/O.
 * Shared by the frontend (routing a cell) and the bridge kernel (running it).
 * No Node or DOM imports: the frontend bundles this file.
 */
import type { SchedulerKind } from './config';

/** What one `%%cluster` line asks for. Unset fields fall back to cluster defaults. */
export interface IJobRequest {
  /** Cluster name; undefined means the notebook's picked/default cluster. */
  cluster?: string;
  gpus?: number;
  cpus?: number;
  /** Memory, e.g. `16G`, `500M` (normalized: integer + K/M/G/T, or plain MB). */
  mem?: string;
  /** Time limit HH:MM:SS (also MM:SS, D-HH:MM:SS as SLURM accepts). */
  time?: string;
  partition?: string;
  account?: string;
  qos?: string;
  constraint?: string;
  /** Named env from the cluster config. */
  env?: string;
  /** Extra pip/conda packages for VENV2. */
  packages?: string[];
  scheduler?: SchedulerKind;
  /** Return after submission; the job keeps running, reattach later. */
  detach?: boolean;
  /** Show the job script and commands, submit nothing. */
  dryRun?: boolean;
  /** Job name for the scheduler. */
  name?: string;
  /** A one-off process with its own resources, outside the notebook's session. */
  fresh?: boolean;
  /** Names of the notebook kernel's variables put into the remote namespace before the cell. */
  inVars?: string[];
  /** Names of remote variables set in the notebook kernel after the cell ends without error. */
  outVars?: string[];
  /** A folder, relative to the notebook's folder, mirrored to the remote before the cell (its cwd). */
  sync?: string;
  /** Nodes of a distributed launch (default 1). */
  nodes?: number;
  /** GPUs on each node of a distributed launch. */
  gpusPerNode?: number;
  /** Ranks on each node (default: --gpus-per-node, else 1). */
  tasksPerNode?: number;
  /** How the ranks are started. */
  launch?: LaunchKind;
  /** A parameter sweep: one job per value, the value bound to `name`. */
  array?: IArraySpec;
  /** At most this many array elements run at once. */
  maxParallel?: number;
}

/** How the ranks of a distributed cell are started. */
export type LaunchKind = 'torchrun' | 'srun' | 'mpirun';

export const LAUNCH_KINDS: LaunchKind[] = ['torchrun', 'srun', 'mpirun'];

/** `--array name=v1,v2` or `--array name=0-15`: a Python name and its values, in order. */
export interface IArraySpec {
  name: string;
  /** Whole numbers and decimals become numbers; anything else stays a string. */
  values: (string | number)[];
}

/** The most elements one `--array` may have (SLURM's default MaxArraySize is 1001). */
export const MAX_ARRAY_ELEMENTS = 1000;

export type LineCommand =
  | 'list'
  | 'use'
  | 'jobs'
  | 'attach'
  | 'cancel'
  | 'doctor'
  | 'clean'
  | 'session'
  | 'sessions'
  | 'restart'
  | 'stop'
  | 'push'
  | 'pull'
  | 'put'
  | 'get'
  | 'rerun'
  | 'help';

export type ParsedCell =
  /** No magic: plain code (runs on the default cluster in a bridge-kernel notebook). */
  | { kind: 'code'; code: string }
  /** `%%cluster ...` + body. `lineOffset` = 1: body line 1 is cell line 2. */
  | { kind: 'cluster'; request: IJobRequest; code: string; lineOffset: number }
  /** `%cluster CMD args`; `request`: the options of `%cluster session NAME [options]`. */
  | {
      kind: 'line';
      command: LineCommand;
      args: string[];
      request?: IJobRequest;
    }
  /** Malformed magic: never run anything. */
  | { kind: 'invalid'; error: string; usage: string };

export const CELL_MAGIC = '%%cluster';
export const LINE_MAGIC = '%cluster';

/** True when the cell is routed to the bridge (first non-blank line starts with %%cluster). */
export function isClusterCell(source: string): boolean {
  const first = source.replace(/^\s*\n/, '').split('\n', 1)[0] ?? '';
  return /^%%cluster(\s|$)/.test(first.trimStart());
}

/** One option of the `%%cluster` line, for parsing, completion and help. */
export interface IMagicOption {
  /** Long name without dashes (`gpus`). */
  name: string;
  /** Placeholder of the value (`N`); undefined for flags. */
  value?: string;
  /** The IJobRequest field it sets. */
  field: keyof IJobRequest;
  help: string;
  /** Allowed values, for completion. */
  choices?: string[];
}

export const SCHEDULERS: SchedulerKind[] = ['direct', 'slurm', 'sge', 'pbs'];

export const MAGIC_OPTIONS: IMagicOption[] = [
  {
    name: 'gpus',
    value: 'N',
    field: 'gpus',
    help: 'GPUs to request (integer >= 0)'
  },
  {
    name: 'cpus',
    value: 'N',
    field: 'cpus',
    help: 'CPU cores to request (integer >= 1)'
  },
  {
    name: 'mem',
    value: 'SIZE',
    field: 'mem',
    help: 'memory, e.g. 16G, 500M (K/M/G/T)'
  },
  {
    name: 'time',
    value: 'HH:MM:SS',
    field: 'time',
    help: 'time limit: HH:MM:SS, MM:SS, MM, D-HH, D-HH:MM or D-HH:MM:SS'
  },
  {
    name: 'partition',
    value: 'P',
    field: 'partition',
    help: 'partition / queue'
  },
  { name: 'account', value: 'A', field: 'account', help: 'account to charge' },
  { name: 'qos', value: 'Q', field: 'qos', help: 'quality of service' },
  {
    name: 'constraint',
    value: 'C',
    field: 'constraint',
    help: 'node features (SLURM --constraint)'
  },
  {
    name: 'env',
    value: 'NAME',
    field: 'env',
    help: "named environment from the cluster's config; venv or conda: the default env as that kind"
  },
  {
    name: 'packages',
    value: 'a,b',
    field: 'packages',
    help: 'extra packages for the execution environment, comma separated'
  },
  {
    name: 'scheduler',
    value: 'KIND',
    field: 'scheduler',
    help: "direct, slurm, sge or pbs (default: the cluster's)",
    choices: SCHEDULERS
  },
  {
    name: 'name',
    value: 'JOBNAME',
    field: 'name',
    help: 'job name shown by the scheduler'
  },
  {
    name: 'detach',
    field: 'detach',
    help: 'return after submission; reattach with %cluster attach ID'
  },
  {
    name: 'dry-run',
    field: 'dryRun',
    help: 'show the job script and commands, submit nothing'
  },
  {
    name: 'fresh',
    field: 'fresh',
    help: "a one-off process with its own resources, outside the notebook's session"
  },
  {
    name: 'in',
    value: 'a,b',
    field: 'inVars',
    help: "the notebook kernel's variables to set remotely before the cell"
  },
  {
    name: 'out',
    value: 'c,d',
    field: 'outVars',
    help: 'remote variables to set in the notebook kernel after the cell'
  },
  {
    name: 'sync',
    value: 'DIR',
    field: 'sync',
    help: 'mirror DIR (relative to the notebook) to the remote; the cell runs in it'
  },
  {
    name: 'nodes',
    value: 'N',
    field: 'nodes',
    help: 'nodes of a distributed launch (integer >= 1)'
  },
  {
    name: 'gpus-per-node',
    value: 'G',
    field: 'gpusPerNode',
    help: 'GPUs on each node of a distributed launch'
  },
  {
    name: 'tasks-per-node',
    value: 'T',
    field: 'tasksPerNode',
    help: 'ranks on each node (default: --gpus-per-node, else 1)'
  },
  {
    name: 'launch',
    value: 'HOW',
    field: 'launch',
    help: 'start the ranks with torchrun, srun or mpirun',
    choices: LAUNCH_KINDS
  },
  {
    name: 'array',
    value: 'NAME=VALUES',
    field: 'array',
    help: 'one job per value: seed=0-15 or lr=0.1,0.01; the value is bound to NAME'
  },
  {
    name: 'max-parallel',
    value: 'N',
    field: 'maxParallel',
    help: 'at most N array elements at once'
  }
];

/** The `%cluster` line commands, for parsing, completion and help. */
export interface ILineCommandSpec {
  name: LineCommand;
  /** Argument placeholders; `?` marks an optional one. */
  args: string[];
  help: string;
}

export const LINE_COMMANDS: ILineCommandSpec[] = [
  {
    name: 'list',
    args: [],
    help: 'list the known clusters and their connection state'
  },
  {
    name: 'use',
    args: ['NAME'],
    help: 'make NAME the default cluster of this kernel'
  },
  { name: 'jobs', args: [], help: 'list the remote jobs of this kernel' },
  {
    name: 'attach',
    args: ['ID'],
    help: "follow a job's outputs (after --detach or a restart)"
  },
  { name: 'cancel', args: ['ID'], help: 'cancel a remote job' },
  {
    name: 'doctor',
    args: ['NAME?'],
    help: 'check a cluster: connection, Python, venv, conda, scheduler, GPUs'
  },
  {
    name: 'clean',
    args: ['NAME?', '--dry-run?'],
    help: 'remove old job dirs, runtimes and unused envs (--dry-run: list them, with sizes)'
  },
  {
    name: 'session',
    args: ['NAME?', 'OPTIONS?'],
    help: "start this notebook's session on NAME with resources (--gpus, --time, ...)"
  },
  {
    name: 'sessions',
    args: [],
    help: 'list the live sessions: resources, state, idle time, memory, time left'
  },
  {
    name: 'restart',
    args: ['NAME?'],
    help: "restart this notebook's session on NAME (a new, empty namespace)"
  },
  {
    name: 'stop',
    args: ['NAME?'],
    help: "stop this notebook's session on NAME and free its resources"
  },
  {
    name: 'push',
    args: ['NAME', 'a,b'],
    help: "set the notebook kernel's variables a, b in the session on NAME"
  },
  {
    name: 'pull',
    args: ['NAME', 'c,d'],
    help: "set the session's variables c, d on NAME in the notebook kernel"
  },
  {
    name: 'put',
    args: ['NAME', 'LOCAL', 'REMOTE?'],
    help: 'copy a local file or folder to NAME (resumable; REMOTE: relative to the work dir)'
  },
  {
    name: 'get',
    args: ['NAME', 'REMOTE', 'LOCAL?'],
    help: 'copy a remote file or folder from NAME (resumable)'
  },
  {
    name: 'rerun',
    args: ['ID', 'ELEMENT'],
    help: 'run one element of an array job again (its index, as the summary shows)'
  },
  { name: 'help', args: [], help: 'show this help' }
];

/** Usage text of the magics; shown with every parse error and by `%cluster help`. */
export function usage(): string {
  const opts = MAGIC_OPTIONS.map(o => {
    const flag = `--${o.name}${o.value ? ' ' + o.value : ''}`;
    return `  ${flag.padEnd(22)}${o.help}`;
  });
  const cmds = LINE_COMMANDS.map(c => {
    const head = `%cluster ${c.name}${c.args.length ? ' ' + c.args.join(' ') : ''}`;
    return `  ${head.padEnd(24)}${c.help}`;
  });
  return [
    'Usage: %%cluster [NAME] [options]   (first line of a cell; the rest is Python run remotely)',
    '',
    'Options (also --opt=value; values may be quoted like in a shell):',
    ...opts,
    '',
    'Line magics:',
    ...cmds
  ].join('\n');
}

/** A token of the magic line with its position, for completion. */
export interface IToken {
  text: string;
  /** Offsets in the line: start of the raw token and the end (exclusive). */
  start: number;
  end: number;
}

/**
 * Splits a magic line like a POSIX shell: whitespace separates, 'single' and
 * "double" quotes group, backslash escapes, `#` at a token start begins a comment.
 * Throws a MagicError on an unterminated quote.
 */
export function tokenize(line: string): IToken[] {
  const tokens: IToken[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && Private.isSpace(line[i])) {
      i++;
    }
    if (i >= n || line[i] === '#') {
      break;
    }
    const start = i;
    let text = '';
    while (i < n && !Private.isSpace(line[i])) {
      const ch = line[i];
      if (ch === "'") {
        const close = line.indexOf("'", i + 1);
        if (close < 0) {
          throw new MagicError('unterminated single quote');
        }
        text += line.slice(i + 1, close);
        i = close + 1;
      } else if (ch === '"') {
        i++;
        let closed = false;
        while (i < n) {
          const c = line[i];
          if (c === '"') {
            closed = true;
            i++;
            break;
          }
          if (c === '\\' && i + 1 < n && '"\\$`'.includes(line[i + 1])) {
            text += line[i + 1];
            i += 2;
          } else {
            text += c;
            i++;
          }
        }
        if (!closed) {
          throw new MagicError('unterminated double quote');
        }
      } else if (ch === '\\') {
        if (i + 1 >= n) {
          throw new MagicError('trailing backslash');
        }
        text += line[i + 1];
        i += 2;
      } else {
        text += ch;
        i++;
      }
    }
    tokens.push({ text, start, end: i });
  }
  return tokens;
}

/** A user-facing parse error. */
export class MagicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MagicError';
  }
}

/** Parses the arguments of a `%%cluster` line (everything after `%%cluster`). */
export function parseJobRequest(args: string): IJobRequest {
  return parseJobArgs(tokenize(args).map(t => t.text));
}

/** Parses already split arguments (a command line's argv) like a `%%cluster` line. */
export function parseJobArgs(tokens: string[]): IJobRequest {
  const request: IJobRequest = {};
  const seen = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (!tok.startsWith('-')) {
      if (request.cluster !== undefined) {
        throw new MagicError(
          `unexpected argument ${Private.show(tok)}: only one cluster name may be given (already ${Private.show(request.cluster)})`
        );
      }
      request.cluster = checkClusterName(tok);
      continue;
    }
    if (!tok.startsWith('--') || tok === '--') {
      throw new MagicError(
        `unknown option ${Private.show(tok)} (options are long: --gpus, --mem, ...)`
      );
    }
    const eq = tok.indexOf('=');
    const name = eq < 0 ? tok.slice(2) : tok.slice(2, eq);
    const opt = MAGIC_OPTIONS.find(o => o.name === name);
    if (!opt) {
      const hint = Private.closest(name);
      throw new MagicError(
        `unknown option ${Private.show('--' + name)}${hint ? ` (did you mean --${hint}?)` : ''}`
      );
    }
    if (seen.has(opt.name)) {
      throw new MagicError(`option --${opt.name} given twice`);
    }
    seen.add(opt.name);
    if (opt.value === undefined) {
      if (eq >= 0) {
        throw new MagicError(`option --${opt.name} takes no value`);
      }
      (request as Record<string, unknown>)[opt.field] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = tok.slice(eq + 1);
    } else {
      if (i + 1 >= tokens.length || tokens[i + 1].startsWith('--')) {
        throw new MagicError(
          `option --${opt.name} needs a value (${opt.value})`
        );
      }
      value = tokens[++i];
    }
    (request as Record<string, unknown>)[opt.field] = Private.convert(
      opt,
      value
    );
  }
  Private.checkCombination(request);
  return request;
}

/**
 * The one rule for cluster names, wherever they come from (a magic line,
 * notebook metadata, execute metadata, settings): names end up in commands
 * and paths, so no controls, no spaces, no leading dash. Throws MagicError.
 */
export function checkClusterName(name: unknown): string {
  if (
    typeof name !== 'string' ||
    !/^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$/.test(name) ||
    name.length > 128
  ) {
    throw new MagicError(
      `invalid cluster name ${Private.showAny(name)}: use letters, digits and _ . @ : + -`
    );
  }
  return name;
}

/** The one rule for job ids (`%cluster attach/cancel`, ids kept in a notebook). Throws MagicError. */
export function checkJobId(id: unknown): string {
  if (
    typeof id !== 'string' ||
    !/^[A-Za-z0-9_.:-]+$/.test(id) ||
    id.length > 128
  ) {
    throw new MagicError(`invalid job id ${Private.showAny(id)}`);
  }
  return id;
}

/** checkJobId as a test, for ids read back from a notebook (metadata, outputs). */
export function looksLikeJobId(id: unknown): id is string {
  try {
    checkJobId(id);
    return true;
  } catch {
    return false;
  }
}

/**
 * Execute-request metadata key: the cluster a bare `%%cluster` means for the
 * notebook the cell comes from (its picker choice). The cell text is sent as
 * it is; the bridge checks this name like any other.
 */
export const CLUSTER_METADATA_KEY = 'cluster_bridge_cluster';

/**
 * Execute-request metadata key: the count a remote cell shows in its
 * notebook (`[r3]`), so its traceback names the same cell (`Cell In[3]`).
 */
export const COUNT_METADATA_KEY = 'cluster_bridge_count';

/** The cell count an execute request carries, checked; undefined when it carries none. Throws MagicError. */
export function metadataCount(
  metadata: { [key: string]: unknown } | undefined
): number | undefined {
  const value = metadata?.[COUNT_METADATA_KEY];
  if (value === undefined) {
    return undefined;
  }
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new MagicError(
      `the request's ${COUNT_METADATA_KEY} metadata is not a positive whole number (${Private.showAny(value)}); nothing was run`
    );
  }
  return value as number;
}

/** The picked cluster an execute request carries, checked; undefined when it carries none. Throws MagicError. */
export function metadataCluster(
  metadata: { [key: string]: unknown } | undefined
): string | undefined {
  const value = metadata?.[CLUSTER_METADATA_KEY];
  if (value === undefined) {
    return undefined;
  }
  try {
    return checkClusterName(value);
  } catch (err) {
    throw new MagicError(
      `the request's ${CLUSTER_METADATA_KEY} metadata: ${(err as Error).message}; nothing was run`
    );
  }
}

/** Parses one whole cell. Never throws: malformed magics come back as `invalid`. */
export function parseCell(source: string): ParsedCell {
  const lines = source.split('\n');
  let first = 0;
  while (first < lines.length && lines[first].trim() === '') {
    first++;
  }
  if (first >= lines.length) {
    return { kind: 'code', code: source };
  }
  const head = lines[first].replace(/\r$/, '').trimStart();
  try {
    if (/^%%cluster(\s|$)/.test(head)) {
      const request = parseJobRequest(head.slice(CELL_MAGIC.length));
      const lineOffset = first + 1;
      return {
        kind: 'cluster',
        request,
        code: lines.slice(lineOffset).join('\n'),
        lineOffset
      };
    }
    if (/^%%cluster\S/.test(head) || !/^%cluster(\s|$)/.test(head)) {
      return { kind: 'code', code: source };
    }
    const rest = lines.slice(first + 1).filter(l => l.trim() !== '');
    if (rest.length > 0) {
      throw new MagicError(
        'a %cluster line magic must be alone in its cell (use %%cluster on the first line to run code)'
      );
    }
    return Private.parseLine(head.slice(LINE_MAGIC.length));
  } catch (err) {
    const error = err instanceof MagicError ? err.message : String(err);
    return { kind: 'invalid', error, usage: usage() };
  }
}

namespace Private {
  export function isSpace(ch: string): boolean {
    return (
      ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v'
    );
  }

  /** A value for an error message: quoted, control characters escaped, length capped. */
  export function show(value: string): string {
    const cut = value.length > 60 ? value.slice(0, 57) + '...' : value;
    return JSON.stringify(cut);
  }

  /** Like show(), for values read from JSON that may not be strings. */
  export function showAny(value: unknown): string {
    return typeof value === 'string'
      ? show(value)
      : `(not a string: ${value === null ? 'null' : typeof value})`;
  }

  const CONTROL = /[\u0000-\u001f\u007f]/;

  export function parseLine(args: string): ParsedCell {
    const tokens = tokenize(args).map(t => t.text);
    if (tokens.length === 0) {
      return { kind: 'line', command: 'help', args: [] };
    }
    const [name, ...rest] = tokens;
    const spec = LINE_COMMANDS.find(c => c.name === name);
    if (!spec) {
      throw new MagicError(
        `unknown %cluster command ${show(name)}; commands: ${LINE_COMMANDS.map(c => c.name).join(', ')}`
      );
    }
    if (spec.name === 'session') {
      // `%cluster session [NAME] [options]`: the options of a %%cluster line.
      const request = parseJobArgs(rest);
      refuseCellOnlyOptions(request);
      const args = request.cluster ? [request.cluster] : [];
      return { kind: 'line', command: 'session', args, request };
    }
    if (spec.name === 'clean') {
      // `%cluster clean [NAME] [--dry-run]`: the flag rides in request.dryRun.
      const names = rest.filter(a => a !== '--dry-run');
      if (names.length > 1 || rest.length - names.length > 1) {
        throw new MagicError(
          'wrong arguments: %cluster clean [NAME] [--dry-run]'
        );
      }
      for (const arg of names) {
        if (arg.startsWith('-')) {
          throw new MagicError(
            `%cluster clean takes only --dry-run (got ${show(arg)})`
          );
        }
        checkClusterName(arg);
      }
      const dryRun = names.length < rest.length;
      return {
        kind: 'line',
        command: 'clean',
        args: names,
        ...(dryRun ? { request: { dryRun } } : {})
      };
    }
    if (spec.name === 'push' || spec.name === 'pull') {
      if (rest.length !== 2) {
        throw new MagicError(
          `wrong number of arguments: %cluster ${spec.name} NAME a,b`
        );
      }
      checkClusterName(rest[0]);
      return {
        kind: 'line',
        command: spec.name,
        args: [rest[0], ...varNames(spec.name, rest[1])]
      };
    }
    if (spec.name === 'put' || spec.name === 'get') {
      const form =
        spec.name === 'put'
          ? '%cluster put NAME LOCAL [REMOTE]'
          : '%cluster get NAME REMOTE [LOCAL]';
      if (rest.length < 2 || rest.length > 3) {
        throw new MagicError(`wrong number of arguments: ${form}`);
      }
      checkClusterName(rest[0]);
      for (const path of rest.slice(1)) {
        transferPath(path);
      }
      return { kind: 'line', command: spec.name, args: rest };
    }
    if (spec.name === 'rerun') {
      if (rest.length !== 2) {
        throw new MagicError(
          'wrong number of arguments: %cluster rerun ID ELEMENT'
        );
      }
      checkJobId(rest[0]);
      if (!/^\d{1,6}$/.test(rest[1])) {
        throw new MagicError(
          `%cluster rerun: ELEMENT is an element's index (0, 1, ...), got ${show(rest[1])}`
        );
      }
      return { kind: 'line', command: 'rerun', args: rest };
    }
    const required = spec.args.filter(a => !a.endsWith('?')).length;
    if (rest.length < required || rest.length > spec.args.length) {
      const form = `%cluster ${spec.name}${spec.args.length ? ' ' + spec.args.join(' ') : ''}`;
      throw new MagicError(`wrong number of arguments: ${form}`);
    }
    for (const arg of rest) {
      if (arg.startsWith('-')) {
        throw new MagicError(
          `%cluster ${spec.name} takes no options (got ${show(arg)})`
        );
      }
      if (['use', 'doctor', 'restart', 'stop'].includes(spec.name)) {
        checkClusterName(arg);
      } else {
        checkJobId(arg);
      }
    }
    return { kind: 'line', command: spec.name, args: rest };
  }

  export function convert(opt: IMagicOption, value: string): unknown {
    if (value === '') {
      throw new MagicError(`option --${opt.name} needs a non-empty value`);
    }
    if (CONTROL.test(value)) {
      throw new MagicError(
        `option --${opt.name}: control characters are not allowed`
      );
    }
    switch (opt.name) {
      case 'gpus':
        return integer(opt.name, value, 0);
      case 'cpus':
        return integer(opt.name, value, 1);
      case 'mem':
        return memory(value);
      case 'time':
        return time(value);
      case 'scheduler':
        if (!(SCHEDULERS as string[]).includes(value)) {
          throw new MagicError(
            `option --scheduler: ${show(value)} is not one of ${SCHEDULERS.join(', ')}`
          );
        }
        return value;
      case 'packages':
        return packages(value);
      case 'in':
      case 'out':
        return varNames(`option --${opt.name}`, value);
      case 'sync':
        return syncDir(value);
      case 'nodes':
      case 'tasks-per-node':
      case 'max-parallel':
        return integer(opt.name, value, 1);
      case 'gpus-per-node':
        return integer(opt.name, value, 0);
      case 'launch':
        if (!(LAUNCH_KINDS as string[]).includes(value)) {
          throw new MagicError(
            `option --launch: ${show(value)} is not one of ${LAUNCH_KINDS.join(', ')}`
          );
        }
        return value;
      case 'array':
        return arraySpec(value);
      case 'env':
        if (
          !/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(value) ||
          value.length > 128
        ) {
          throw new MagicError(
            `option --env: invalid environment name ${show(value)} (letters, digits and _ . + -)`
          );
        }
        return value;
      case 'name':
        if (value.length > 128) {
          throw new MagicError('option --name: at most 128 characters');
        }
        return value;
      default:
        // partition, account, qos, constraint: scheduler words; quoted later, but
        // a leading dash could still be read as an option by the scheduler's CLI.
        if (value.startsWith('-') || value.length > 256) {
          throw new MagicError(
            `option --${opt.name}: invalid value ${show(value)}`
          );
        }
        return value;
    }
  }

  /** Options that cannot be honoured together: refused here, never ignored later. */
  export function checkCombination(r: IJobRequest): void {
    const refuse = (message: string): never => {
      throw new MagicError(message);
    };
    if (r.maxParallel !== undefined && !r.array) {
      refuse('option --max-parallel limits an --array; give --array too');
    }
    if (r.gpus !== undefined && r.gpusPerNode !== undefined) {
      refuse(
        'give either --gpus (one process) or --gpus-per-node (a distributed launch), not both'
      );
    }
    const distributed =
      r.nodes !== undefined ||
      r.gpusPerNode !== undefined ||
      r.tasksPerNode !== undefined ||
      r.launch !== undefined;
    if (r.array && distributed) {
      refuse(
        'option --array runs one process per value: it cannot be combined with --nodes, --gpus-per-node, --tasks-per-node or --launch'
      );
    }
    if (r.outVars && (r.detach || r.dryRun || r.array || distributed)) {
      const other = r.detach
        ? '--detach'
        : r.dryRun
          ? '--dry-run'
          : r.array
            ? '--array'
            : 'a distributed launch';
      refuse(
        `option --out cannot be combined with ${other}: the values would have no single cell to come back to`
      );
    }
    if (r.inVars && r.dryRun) {
      refuse('option --in cannot be combined with --dry-run (nothing is sent)');
    }
  }

  /** Options of one cell that a session (a process that outlives cells) cannot take. */
  const CELL_ONLY: (keyof IJobRequest)[] = [
    'inVars',
    'outVars',
    'array',
    'maxParallel',
    'fresh',
    'detach',
    'dryRun'
  ];

  function refuseCellOnlyOptions(request: IJobRequest): void {
    const given = MAGIC_OPTIONS.filter(
      o => CELL_ONLY.includes(o.field) && request[o.field] !== undefined
    ).map(o => `--${o.name}`);
    if (given.length > 0) {
      throw new MagicError(
        `%cluster session takes resource options; ${given.join(', ')} belong${given.length === 1 ? 's' : ''} on a %%cluster cell`
      );
    }
  }

  const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const PYTHON_KEYWORDS = new Set(
    (
      'False None True and as assert async await break class continue def del elif else ' +
      'except finally for from global if import in is lambda nonlocal not or pass raise ' +
      'return try while with yield'
    ).split(' ')
  );

  /** `a,b` -> ['a', 'b']: Python names, each once. */
  export function varNames(what: string, value: string): string[] {
    const names = value
      .split(',')
      .map(n => n.trim())
      .filter(n => n !== '');
    if (names.length === 0) {
      throw new MagicError(`${what} needs at least one variable name`);
    }
    for (const n of names) {
      if (!PYTHON_NAME.test(n) || PYTHON_KEYWORDS.has(n) || n.length > 128) {
        throw new MagicError(
          `${what}: ${show(n)} is not a Python variable name`
        );
      }
    }
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) {
      throw new MagicError(`${what}: ${show(twice)} is named twice`);
    }
    return names;
  }

  /** A relative folder: never absolute, no control characters (the bridge resolves and checks it). */
  function syncDir(value: string): string {
    if (value.startsWith('/') || value.startsWith('~') || value.length > 1024) {
      throw new MagicError(
        `option --sync: give a folder relative to the notebook's folder, got ${show(value)}`
      );
    }
    return value.replace(/\/+$/, '') || '.';
  }

  /** A path of %cluster put/get: not empty, no control characters, not an option. */
  export function transferPath(value: string): string {
    if (value === '' || CONTROL.test(value) || value.startsWith('-')) {
      throw new MagicError(`invalid path ${show(value)}`);
    }
    return value;
  }

  /** `name=v1,v2,...` or `name=A-B` (whole numbers, both ends included). */
  function arraySpec(value: string): IArraySpec {
    const eq = value.indexOf('=');
    const form = 'option --array expects NAME=v1,v2,... or NAME=0-15';
    if (eq <= 0) {
      throw new MagicError(`${form}, got ${show(value)}`);
    }
    const name = value.slice(0, eq);
    varNames('option --array', name);
    const list = value.slice(eq + 1);
    const range = /^(-?\d{1,9})-(-?\d{1,9})$/.exec(list);
    let values: (string | number)[];
    if (range) {
      const [a, b] = [parseInt(range[1], 10), parseInt(range[2], 10)];
      if (b < a) {
        throw new MagicError(
          `option --array: the range ${show(list)} is empty (the end is below the start)`
        );
      }
      if (b - a + 1 > MAX_ARRAY_ELEMENTS) {
        throw new MagicError(
          `option --array: at most ${MAX_ARRAY_ELEMENTS} elements, the range has ${b - a + 1}`
        );
      }
      values = Array.from({ length: b - a + 1 }, (_, i) => a + i);
    } else {
      const items = list.split(',').map(v => v.trim());
      if (items.length === 0 || items.some(v => v === '')) {
        throw new MagicError(`${form}: empty value in ${show(list)}`);
      }
      if (items.length > MAX_ARRAY_ELEMENTS) {
        throw new MagicError(
          `option --array: at most ${MAX_ARRAY_ELEMENTS} elements, got ${items.length}`
        );
      }
      values = items.map(v =>
        /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v) &&
        Number.isFinite(Number(v))
          ? Number(v)
          : v
      );
    }
    return { name, values };
  }

  function integer(name: string, value: string, min: number): number {
    if (!/^\d{1,6}$/.test(value)) {
      throw new MagicError(
        `option --${name} expects a whole number, got ${show(value)}`
      );
    }
    const n = parseInt(value, 10);
    if (n < min) {
      throw new MagicError(
        `option --${name} must be at least ${min}, got ${n}`
      );
    }
    return n;
  }

  function memory(value: string): string {
    const m = /^(\d{1,9})\s*([KMGT])?(I?B)?$/i.exec(value);
    if (!m) {
      throw new MagicError(
        `option --mem expects a size like 16G or 500M (whole number, unit K/M/G/T), got ${show(value)}`
      );
    }
    const n = parseInt(m[1], 10);
    if (n === 0) {
      throw new MagicError('option --mem must be more than 0');
    }
    if (m[3] && !m[2]) {
      throw new MagicError(
        `option --mem: give a unit K/M/G/T, got ${show(value)}`
      );
    }
    return `${n}${(m[2] ?? '').toUpperCase()}`;
  }

  function time(value: string): string {
    // SLURM forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
    const m = /^(?:(\d{1,3})-)?(\d{1,4})(?::(\d{1,2}))?(?::(\d{1,2}))?$/.exec(
      value
    );
    const bad = (): never => {
      throw new MagicError(
        `option --time expects HH:MM:SS (or MM:SS, MM, D-HH:MM:SS), got ${show(value)}`
      );
    };
    if (!m) {
      return bad();
    }
    const [, days, a, b, c] = m;
    const parts = [a, b, c]
      .filter((p): p is string => p !== undefined)
      .map(p => parseInt(p, 10));
    if (days !== undefined) {
      // D-HH[:MM[:SS]]
      if (parts[0] > 23) {
        throw new MagicError(
          `option --time: hours must be below 24 after a day count, got ${show(value)}`
        );
      }
      if (parts.slice(1).some(p => p > 59)) {
        return bad();
      }
    } else if (parts.length === 3) {
      if (parts[1] > 59 || parts[2] > 59) {
        throw new MagicError(
          `option --time: minutes and seconds must be below 60, got ${show(value)}`
        );
      }
    } else if (parts.length === 2 && parts[1] > 59) {
      throw new MagicError(
        `option --time: seconds must be below 60, got ${show(value)}`
      );
    }
    const total =
      (days ? parseInt(days, 10) : 0) * 86400 +
      parts.reduce((s, p) => s + p, 0);
    if (total === 0) {
      throw new MagicError('option --time must be more than zero');
    }
    return value;
  }

  function packages(value: string): string[] {
    const list = value
      .split(',')
      .map(p => p.trim())
      .filter(p => p !== '');
    if (list.length === 0) {
      throw new MagicError('option --packages needs at least one package');
    }
    for (const p of list) {
      // Package specs only: a leading dash would be an installer option.
      if (
        !/^[A-Za-z0-9_][A-Za-z0-9_.\-[\]=<>!~*:]*$/.test(p) ||
        p.length > 200
      ) {
        throw new MagicError(
          `option --packages: invalid package ${show(p)} (name with an optional version like numpy==1.26)`
        );
      }
    }
    return list;
  }

  /** The option name closest to a typo, for "did you mean". */
  export function closest(name: string): string | undefined {
    let best: string | undefined;
    let bestD = 3;
    for (const o of MAGIC_OPTIONS) {
      const d = distance(name, o.name);
      if (d < bestD) {
        bestD = d;
        best = o.name;
      }
    }
    return best;
  }

  function distance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = row[j];
        row[j] = Math.min(
          row[j] + 1,
          row[j - 1] + 1,
          prev + (a[i - 1] === b[j - 1] ? 0 : 1)
        );
        prev = tmp;
      }
    }
    return row[b.length];
  }
}
