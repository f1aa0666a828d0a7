/**
 * Hostile strings against every path that turns user text into shell text:
 * the shell quoting (shellQuote, envPrefix), the magic parser (cluster names,
 * options, notebook metadata) and the batch job scripts and submit commands
 * of SLURM, Grid Engine and PBS. Each probe runs what the bridge would run in
 * a real /bin/sh (the submit command, with stand-in sbatch/qsub that run the
 * job script with bash as a batch system would) and reports whether a string
 * meant to run a command (a canary `touch`) ran. Shared by the unit spec
 * (src/bridge/schedulers/hostile.spec.ts) and bench/hostile.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  CLUSTER_METADATA_KEY,
  metadataCluster,
  parseCell,
  parseJobArgs
} from '../../src/shared/magic';
import type { IJobRequest } from '../../src/shared/magic';
import { createScheduler } from '../../src/bridge/schedulers';
import { submitShell } from '../../src/bridge/schedulers/script';
import type { IJobSpec } from '../../src/bridge/schedulers/types';
import { envPrefix, shellQuote } from '../../src/bridge/util/quote';

/** What became of one string on one path. */
export type Outcome =
  /** It ran as shell code: the canary command ran, or the value split into more words. */
  | 'unquoted'
  /** Refused with an error before anything ran. */
  | 'rejected'
  /** Reached the shell as one word, unchanged. */
  | 'verbatim'
  /** Reached the shell as data, changed on purpose (a job name made safe). */
  | 'sanitized';

export interface IProbe {
  path: string;
  label: string;
  outcome: Outcome;
  detail?: string;
}

/** The strings: each `CANARY` is replaced by a file whose creation means code ran. */
export function hostileStrings(
  canary: string
): { label: string; value: string }[] {
  const c = canary;
  const list: [string, string][] = [
    ['$(...)', `$(touch ${c})`],
    ['backticks', `\`touch ${c}\``],
    ['semicolon', `x; touch ${c}`],
    ['pipe', `x | touch ${c}`],
    ['ampersand', `x & touch ${c}`],
    ['and-and', `x && touch ${c}`],
    ['or-or', `false || touch ${c}`],
    ['newline', `x\ntouch ${c}`],
    ['carriage return + newline', `x\r\ntouch ${c}`],
    ['single quote break-out', `x'; touch ${c}; '`],
    ['double quote break-out', `x"; touch ${c}; "`],
    ['backslash-quote break-out', `x\\'; touch ${c}; \\'`],
    ['redirect', `x > ${c}`],
    ['append redirect', `x >> ${c}`],
    ['process substitution', `<(touch ${c})`],
    ['arithmetic', `$((1+1))$(touch ${c})`],
    ['IFS', `x\${IFS}touch\${IFS}${c}`],
    ['variable', '$HOME'],
    ['brace expansion', '{a,b}'],
    ['glob', '*'],
    ['tilde', '~root'],
    ['history', '!!'],
    ['comment', `x #; touch ${c}`],
    ['tab', `x\ttouch ${c}`],
    ['NUL', `x\0; touch ${c}`],
    ['unicode', 'ünïcødé—名前-🚀'],
    ['right-to-left override', `x\u202e; touch ${c}`],
    ['leading dash', '-rf'],
    ['leading double dash', '--help'],
    ['option look-alike', `--wrap=touch ${c}`],
    ['only a dash', '-'],
    ['empty', ''],
    ['spaces', 'a b  c'],
    ['quotes only', `'"'"`],
    ['very long', 'A'.repeat(100_000) + `$(touch ${c})`]
  ];
  return list.map(([label, value]) => ({ label, value }));
}

/**
 * Runs every probe with a fresh canary per probe; returns one result per
 * (path, string). Scratch files live in a temporary folder, removed after.
 */
export function runHostileProbes(): IProbe[] {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-hostile-'));
  const canary = path.join(tmp, 'canary');
  const probes: IProbe[] = [];
  try {
    const stubs = Private.stubs(tmp);
    for (const { label, value } of hostileStrings(canary)) {
      for (const [pathName, probe] of Private.PATHS) {
        fs.rmSync(canary, { force: true });
        let outcome: Outcome;
        let detail: string | undefined;
        try {
          const r = probe(value, { tmp, stubs });
          outcome = r.outcome;
          detail = r.detail;
        } catch (err) {
          outcome = 'rejected';
          detail = (err as Error).message.slice(0, 200);
        }
        if (fs.existsSync(canary)) {
          outcome = 'unquoted';
          detail = 'the canary command ran';
        }
        probes.push({ path: pathName, label, outcome, detail });
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return probes;
}

namespace Private {
  interface IContext {
    tmp: string;
    stubs: string;
  }
  type Probe = (
    value: string,
    ctx: IContext
  ) => { outcome: Outcome; detail?: string };

  function sh(
    command: string,
    ctx: IContext,
    input?: string
  ): { stdout: string; code: number | null } {
    const r = spawnSync('/bin/sh', ['-c', command], {
      cwd: ctx.tmp,
      input,
      env: {
        PATH: `${ctx.stubs}:/usr/bin:/bin`,
        HOME: ctx.tmp,
        STUB_ARGV: path.join(ctx.tmp, 'argv')
      },
      maxBuffer: 64 << 20
    });
    return { stdout: r.stdout.toString(), code: r.status };
  }

  function roundTrip(
    got: string,
    value: string
  ): { outcome: Outcome; detail?: string } {
    return got === value
      ? { outcome: 'verbatim' }
      : {
          outcome: 'unquoted',
          detail: `arrived as ${JSON.stringify(got.slice(0, 80))}`
        };
  }

  const PLAIN_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$/;

  /** What a bridge takes for the cluster name: only plain names, else refused. */
  function clusterName(
    name: string | undefined,
    value: string
  ): { outcome: Outcome; detail?: string } {
    if (name === undefined) {
      return { outcome: 'rejected' };
    }
    if (!PLAIN_NAME.test(name)) {
      return { outcome: 'unquoted', detail: `took ${JSON.stringify(name)}` };
    }
    // A newline or `#` ends the magic line: what follows is the cell's visible code or a comment.
    return { outcome: name === value ? 'verbatim' : 'sanitized' };
  }

  function fromMagicLine(value: string): string | undefined {
    const parsed = parseCell(`%%cluster ${value}\nprint(1)`);
    return parsed.kind === 'cluster' ? parsed.request.cluster : undefined;
  }

  function fromMetadata(value: string): string | undefined {
    try {
      return metadataCluster({ [CLUSTER_METADATA_KEY]: value });
    } catch {
      return undefined;
    }
  }

  /**
   * An option of a `%%cluster` cell (argv form, as the CLI passes it) into a
   * batch job: the submit command runs in sh, the stand-in scheduler runs the
   * job script with bash. The value may only appear inside directive comments:
   * the script's other lines must be those of a job without the option.
   */
  function batchOption(kind: 'slurm' | 'sge' | 'pbs', option: string): Probe {
    return (value, ctx) => {
      const request = parseJobArgs([`--${option}`, value]);
      const jobDir = `${ctx.tmp}/w/jobs/cb-1`;
      const plain = commands(plan(kind, {}, jobDir).script);
      return submit(kind, request, jobDir, ctx, script =>
        commands(script) !== plain
          ? 'unquoted'
          : script.includes(value)
            ? 'verbatim'
            : 'sanitized'
      );
    };
  }

  /** The lines of a job script that bash runs (all but comments and directives). */
  function commands(script: string): string {
    return script
      .split('\n')
      .filter(l => !l.startsWith('#'))
      .join('\n');
  }

  function plan(
    kind: 'slurm' | 'sge' | 'pbs',
    request: IJobRequest,
    jobDir: string
  ): { spec: IJobSpec; script: string; command: string } {
    const spec: IJobSpec = {
      id: 'cb-1',
      jobDir,
      command: 'true',
      request,
      defaults: {}
    };
    const p = createScheduler(kind).explain!(spec);
    return { spec, script: p.script, command: p.command };
  }

  /** A work dir (a path from the cluster config) holding the string, into the submit command. */
  function batchPath(kind: 'slurm' | 'sge' | 'pbs'): Probe {
    return (value, ctx) => {
      if (value.includes('\0') || Buffer.byteLength(value) > 200) {
        return { outcome: 'rejected', detail: 'not a possible file name' };
      }
      const jobDir = `${ctx.tmp}/wd-${value}/jobs/cb-1`;
      return submit(kind, {}, jobDir, ctx, () => {
        const argv = fs.readFileSync(path.join(ctx.tmp, 'argv'), 'utf8');
        return argv.includes(jobDir) ? 'verbatim' : 'unquoted';
      });
    };
  }

  function submit(
    kind: 'slurm' | 'sge' | 'pbs',
    request: IJobRequest,
    jobDir: string,
    ctx: IContext,
    judge: (script: string) => Outcome
  ): { outcome: Outcome; detail?: string } {
    fs.mkdirSync(jobDir, { recursive: true });
    fs.rmSync(path.join(ctx.tmp, 'argv'), { force: true });
    const p = plan(kind, request, jobDir);
    const r = sh(submitShell(p.spec, p.command), ctx, p.script);
    if (r.code !== 0) {
      return { outcome: 'unquoted', detail: `the submit failed (${r.code})` };
    }
    return { outcome: judge(p.script) };
  }

  export const PATHS: [string, Probe][] = [
    [
      'shellQuote -> sh',
      (v, ctx) => roundTrip(sh(`printf %s ${shellQuote(v)}`, ctx).stdout, v)
    ],
    [
      'envPrefix value -> sh',
      (v, ctx) =>
        roundTrip(
          sh(`${envPrefix({ CB_V: v })}printf %s "$CB_V"`, ctx).stdout,
          v
        )
    ],
    [
      'envPrefix name -> sh',
      (v, ctx) => {
        sh(`${envPrefix({ [v]: 'x' })}true`, ctx);
        return { outcome: 'verbatim' };
      }
    ],
    ['cluster name (magic line)', v => clusterName(fromMagicLine(v), v)],
    ['cluster name (notebook metadata)', v => clusterName(fromMetadata(v), v)],
    ...(['slurm', 'sge', 'pbs'] as const).flatMap(kind => [
      [`${kind}: --partition`, batchOption(kind, 'partition')] as [
        string,
        Probe
      ],
      [`${kind}: --account`, batchOption(kind, 'account')] as [string, Probe],
      [`${kind}: --constraint`, batchOption(kind, 'constraint')] as [
        string,
        Probe
      ],
      [`${kind}: --time`, batchOption(kind, 'time')] as [string, Probe],
      [`${kind}: --mem`, batchOption(kind, 'mem')] as [string, Probe],
      [`${kind}: --name`, batchOption(kind, 'name')] as [string, Probe],
      [`${kind}: work dir path`, batchPath(kind)] as [string, Probe]
    ])
  ];

  /** sbatch and qsub stand-ins: record argv, run the last argument (job.sh) with bash, print an id. */
  export function stubs(tmp: string): string {
    const dir = path.join(tmp, 'bin');
    fs.mkdirSync(dir);
    const body = [
      '#!/bin/sh',
      'printf "%s\\n" "$@" > "$STUB_ARGV"',
      'for last; do :; done',
      'bash "$last" >/dev/null 2>&1',
      'echo 123'
    ].join('\n');
    for (const name of ['sbatch', 'qsub']) {
      fs.writeFileSync(path.join(dir, name), body + '\n', { mode: 0o755 });
    }
    return dir;
  }
}
