/**
 * Plain-text tables of `%cluster list`, `%cluster jobs` and
 * `cluster-bridge jobs`: aligned columns for a notebook or a terminal.
 */
import type { IClusterInfo } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import { shownState } from '../../shared/jobState';

export function jobTable(jobs: IJobInfo[]): string {
  if (jobs.length === 0) {
    return 'No jobs.';
  }
  const rows = jobs.map(j => [
    j.id,
    j.cluster,
    j.scheduler + (j.schedulerId ? ` ${j.schedulerId}` : ''),
    shownState(j),
    new Date(j.submittedAt).toISOString().replace('T', ' ').slice(0, 19),
    j.detached ? 'detached' : '',
    j.title
  ]);
  return Private.table(
    ['job', 'cluster', 'scheduler', 'state', 'submitted (UTC)', '', 'title'],
    rows
  ).join('\n');
}

export function clusterTable(
  info: IClusterInfo[],
  defaultCluster: string,
  problems: string[]
): string {
  const rows = info.map(c => [
    c.name === defaultCluster ? '*' : ' ',
    c.name,
    c.type,
    c.scheduler,
    c.state + (c.error ? ` (${c.error})` : ''),
    c.source
  ]);
  const lines = Private.table(
    ['', 'cluster', 'type', 'scheduler', 'state', 'source'],
    rows
  );
  lines.push('(* = default)');
  for (const p of problems) {
    lines.push(`warning: ${p}`);
  }
  return lines.join('\n');
}

namespace Private {
  export function table(head: string[], rows: string[][]): string[] {
    const widths = head.map((h, i) =>
      Math.max(h.length, ...rows.map(r => r[i].length))
    );
    const fmt = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd();
    return [fmt(head), ...rows.map(fmt)];
  }
}
