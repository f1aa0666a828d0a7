/**
 * The doctor checklist (`%cluster doctor`, `cluster-bridge doctor`, the
 * frontend's Test Cluster Connection): its lines and the one overall verdict,
 * worded the same on the terminal, in a cell and in the dialog.
 */

/** One line of `%cluster doctor`, also the answer of the `test` op (a list of them). */
export interface IDoctorLine {
  /** connection, python, venv, conda, scheduler, gpus, ... */
  check: string;
  verdict: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
}

export interface IDoctorVerdict {
  /** No check failed (warnings allowed). */
  ready: boolean;
  /** "ready", "ready, with 1 warning", "NOT READY (2 failed, 1 warning)". */
  text: string;
}

export function doctorVerdict(
  lines: ReadonlyArray<IDoctorLine>
): IDoctorVerdict {
  const fails = lines.filter(l => l.verdict === 'fail').length;
  const warns = lines.filter(l => l.verdict === 'warn').length;
  const warnings = `${warns} warning${warns > 1 ? 's' : ''}`;
  if (fails > 0) {
    return {
      ready: false,
      text: `NOT READY (${fails} failed${warns ? `, ${warnings}` : ''})`
    };
  }
  return { ready: true, text: warns ? `ready, with ${warnings}` : 'ready' };
}

/** Marks of a verdict; text for terminals and notebooks. */
export type DoctorMarks = { [v in IDoctorLine['verdict']]: string };

export const TEXT_MARKS: DoctorMarks = {
  ok: '[ ok ]',
  warn: '[warn]',
  fail: '[FAIL]',
  skip: '[skip]'
};

/** Marks for a dialog, where symbols read at a glance. */
export const SYMBOL_MARKS: DoctorMarks = {
  ok: '✓',
  warn: '!',
  fail: '✗',
  skip: '–'
};

/** The checks as aligned text lines: "[ ok ] python      3.11.4". */
export function doctorChecklist(
  lines: ReadonlyArray<IDoctorLine>,
  marks: DoctorMarks = TEXT_MARKS
): string[] {
  const width = Math.max(10, ...lines.map(l => String(l.check ?? '').length));
  return lines.map(
    l =>
      `${marks[l.verdict] ?? '?'} ${String(l.check ?? '').padEnd(width)}  ${l.detail ?? ''}`
  );
}

/** The whole report: a title, the checklist, then the verdict. */
export function doctorReport(
  cluster: string,
  lines: ReadonlyArray<IDoctorLine>
): string {
  return [
    `Doctor for cluster ${cluster}`,
    ...doctorChecklist(lines),
    `${cluster}: ${doctorVerdict(lines).text}`
  ].join('\n');
}
