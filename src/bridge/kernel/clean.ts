/**
 * `%cluster clean NAME [--dry-run]`: connect and prepare the cluster, run the
 * agent's `clean` there with the cluster's retention, and show what went (or,
 * in a dry run, what would go) with sizes and reasons, then what stays.
 */
import type { IResolvedCluster } from '../../shared/config';
import type { IPrompter } from '../transport/types';
import { shellJoin } from '../util/quote';
import { formatBytes, type IClusterPreparer } from './doctor';

export type CleanFunction = (
  cluster: IResolvedCluster,
  options: { dryRun: boolean; prompter?: IPrompter }
) => Promise<ICleanReport>;

/** One job dir, session dir, runtime or env in the agent's `clean` answer. */
export interface ICleanItem {
  kind: 'jobs' | 'sessions' | 'runtimes' | 'envs';
  name: string;
  bytes: number;
  ageDays: number;
  why: string;
  removed?: boolean;
  error?: string;
}

/** The agent's `clean` JSON (src/runtime/_cb_clean.py), the fields used here. */
export interface ICleanReport {
  workDir: string;
  dryRun: boolean;
  retention: { jobsDays: number; runtimesDays: number; envsDays: number };
  remove: ICleanItem[];
  keep: ICleanItem[];
  sizes: { [part: string]: number };
  freed: number;
  failed: string[];
}

export function createClean(preparer: IClusterPreparer): CleanFunction {
  return async (cluster, options) => {
    const prepared = await preparer.prepareCluster(
      cluster.name,
      options.prompter
    );
    const words = ['clean', '--workdir', prepared.workDir];
    if (options.dryRun) {
      words.push('--dry-run');
    }
    const retention = cluster.config.retention || {};
    for (const [key, flag] of Private.FLAGS) {
      const days = retention[key];
      if (typeof days === 'number') {
        words.push(flag, String(days));
      }
    }
    const result = await prepared.transport.exec(
      `${prepared.agent} ${shellJoin(words)}`
    );
    try {
      return JSON.parse(result.stdout) as ICleanReport;
    } catch {
      throw new Error(
        `cluster "${cluster.name}": clean failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(0, 300)}`
      );
    }
  };
}

/**
 * The report as text: what goes, what failed, and a summary of what stays.
 * `command` is how the user removes for real after a dry run. Pure, for tests.
 */
export function cleanReport(
  cluster: string,
  report: ICleanReport,
  command = '%cluster clean'
): string {
  const days = report.retention;
  const lines = [
    `${report.dryRun ? 'Dry run: would remove' : 'Removed'} on ${cluster} (${report.workDir}; ` +
      `keeps ended jobs ${days.jobsDays} days, other runtimes ${days.runtimesDays} days, ` +
      `unused envs ${days.envsDays} days):`
  ];
  const gone = report.remove.filter(i => report.dryRun || i.removed);
  for (const item of gone) {
    lines.push(
      `  ${item.kind.padEnd(9)}${item.name.padEnd(24)}${formatBytes(item.bytes).padStart(10)}  ${item.why}`
    );
  }
  if (gone.length === 0) {
    lines.push('  nothing');
  }
  const total = gone.reduce((sum, i) => sum + i.bytes, 0);
  lines.push(
    report.dryRun
      ? `Would free ${formatBytes(total)}. Run ${command} ${cluster} to remove.`
      : `Freed ${formatBytes(report.freed)}.`
  );
  const failed = report.remove.filter(i => !report.dryRun && !i.removed);
  for (const item of failed) {
    lines.push(
      `Kept ${item.kind} ${item.name}: ${item.error ?? 'not removed'}`
    );
  }
  const kept = report.keep.reduce((sum, i) => sum + i.bytes, 0);
  lines.push(
    `Kept ${report.keep.length} item${report.keep.length === 1 ? '' : 's'} (${formatBytes(kept)}): ` +
      'running jobs, live sessions, envs in use, the current runtime and recent ones.'
  );
  return lines.join('\n') + '\n';
}

namespace Private {
  export const FLAGS: ['jobsDays' | 'runtimesDays' | 'envsDays', string][] = [
    ['jobsDays', '--jobs-days'],
    ['runtimesDays', '--runtimes-days'],
    ['envsDays', '--envs-days']
  ];
}
