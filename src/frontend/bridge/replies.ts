/**
 * Reading the bridge's comm replies leniently: a list op may answer a bare
 * list or `{ <name>: list }`; anything else is `null`, which the model
 * ignores rather than clearing what it has.
 */
import type { IClusterInfo } from '../../shared/config';
import type { IJobInfo } from '../../shared/jobs';
import type { ISessionInfo } from '../../shared/sessions';

/** The `clusters` reply: a bare list or `{ clusters, defaultCluster }`. */
export function clustersOf(result: unknown): IClusterInfo[] | null {
  return listOf<IClusterInfo>(result, 'clusters');
}

/** The default cluster named in a `clusters` or `settings` reply. */
export function defaultOf(result: unknown): string | undefined {
  if (result && typeof result === 'object' && !Array.isArray(result)) {
    const r = result as { defaultCluster?: unknown; default?: unknown };
    const value = r.defaultCluster ?? r.default;
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

/** The `jobs` reply: a bare list or `{ jobs }`. */
export function jobsOf(result: unknown): IJobInfo[] | null {
  return listOf<IJobInfo>(result, 'jobs');
}

/** The `sessions` reply: a bare list or `{ sessions }`. */
export function sessionsOf(result: unknown): ISessionInfo[] | null {
  return listOf<ISessionInfo>(result, 'sessions');
}

function listOf<T>(result: unknown, key: string): T[] | null {
  if (Array.isArray(result)) {
    return result as T[];
  }
  const list = (result as { [key: string]: unknown } | null)?.[key];
  return Array.isArray(list) ? (list as T[]) : null;
}
