/**
 * Words for one remote session in the Remote Jobs panel and the picker's
 * tooltip: pure functions of the record and the clock, so the ticking time
 * left and idle time are tested without a DOM.
 */
import { formatDuration } from '../../shared/jobWording';
import type { ISessionInfo } from '../../shared/sessions';
import { formatBytes } from '../renderers/format';

/** Under this much time left the panel marks the session as ending soon. */
export const ENDING_SOON_MS = 5 * 60_000;

/** The facts the panel shows for a session, as text. */
export interface ISessionFacts {
  resources: string;
  /** State, with why it waits or why it ended. */
  state: string;
  started: string;
  /** '' unless the session is idle. */
  idle: string;
  /** '' when not reported. */
  memory: string;
  gpus: string;
  /** '' without a time limit or once over. */
  timeLeft: string;
  endingSoon: boolean;
}

/**
 * `receivedAt` is when the bridge reported the record: idle time keeps
 * growing from there until the next report.
 */
export function sessionFacts(
  info: ISessionInfo,
  now: number,
  receivedAt: number = now
): ISessionFacts {
  const live = info.state !== 'ended';
  const left =
    live && typeof info.deadline === 'number' ? info.deadline - now : null;
  return {
    resources: info.resources || 'default resources',
    state: info.reason ? `${info.state} — ${info.reason}` : info.state,
    started: new Date(info.startedAt).toLocaleString(),
    idle:
      info.state === 'idle' && typeof info.idleSeconds === 'number'
        ? formatDuration(info.idleSeconds * 1000 + (now - receivedAt))
        : '',
    memory:
      live && typeof info.memoryBytes === 'number'
        ? formatBytes(info.memoryBytes)
        : '',
    gpus: info.gpus ? `GPU ${info.gpus}` : 'no GPU',
    timeLeft: left === null ? '' : `${formatDuration(left)} left`,
    endingSoon: left !== null && left < ENDING_SOON_MS
  };
}

/** The notebook's file name; the full path goes in a tooltip. */
export function notebookName(notebook: string): string {
  return notebook.split('/').pop() || notebook;
}

/** One line for a tooltip: "Session on hpc (--gpus 1): idle, 1:02:03 left". */
export function sessionSummary(info: ISessionInfo, now: number): string {
  const facts = sessionFacts(info, now);
  const resources = info.resources ? ` (${info.resources})` : '';
  const left = facts.timeLeft ? `, ${facts.timeLeft}` : '';
  return `Session on ${info.cluster}${resources}: ${facts.state}${left}`;
}
