/**
 * Plain-text tables of `%cluster list`, `%cluster jobs` and
 * `%cluster sessions` and `cluster-bridge jobs`: aligned columns for a notebook or a terminal.
 */
import type { IClusterInfo } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import { shownState } from '../../shared/jobState';
import { formatDuration } from '../../shared/jobWording';
import type { ISessionInfo } from '../../shared/sessions';

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

/** `%cluster sessions`. */
export function sessionTable(sessions: ISessionInfo[]): string {
  if (sessions.length === 0) {
    return 'No sessions.';
  }
  const now = Date.now();
  const rows = sessions.map(s => [
    s.cluster,
    s.scheduler + (s.schedulerId ? ` ${s.schedulerId}` : ''),
    s.notebook,
    s.resources || '-',
    s.state + (s.reason ? ` (${s.reason})` : ''),
    new Date(s.startedAt).toISOString().replace('T', ' ').slice(0, 19),
    s.idleSeconds !== undefined ? formatDuration(s.idleSeconds * 1000) : '',
    s.memoryBytes !== undefined
      ? `${Math.round(s.memoryBytes / 2 ** 20)} MiB`
      : '',
    s.gpus || '',
    s.deadline !== undefined
      ? formatDuration(Math.max(0, s.deadline - now))
      : '',
    s.id
  ]);
  return Private.table(
    [
      'cluster',
      'notebook',
      'resources',
      'state',
      'started (UTC)',
      'idle',
      'memory',
      'GPUs',
      'time left',
      'session'
    ],
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
