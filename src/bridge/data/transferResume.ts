/**
 * Resuming an interrupted copy: the sidecar beside `<dest>.cb-part` says
 * which source it copies (size, mtime) and how many bytes from the start are
 * written (`done`), with hashes of the first and last HASH_SPAN bytes of
 * that prefix. A rerun continues from `done` only when the source is
 * unchanged and the part still holds those bytes; otherwise it starts over.
 * Pure, apart from hashing a buffer.
 */
import { createHash } from 'crypto';

/** Bytes hashed at each end of the written prefix. */
export const HASH_SPAN = 64 * 1024;

/** What a copy in progress records beside its part file. */
export interface ISidecar {
  v: 1;
  /** The source as the copy named it (a different source starts over). */
  source: string;
  size: number;
  /** Source mtime, whole seconds (SFTP's precision). */
  mtime: number;
  /** Bytes from the start of the part that are written. */
  done: number;
  head: string;
  tail: string;
}

/** A source file as the resume decision sees it. */
export interface ISourceFacts {
  path: string;
  size: number;
  mtime: number;
}

/** Where to start: a sidecar's `done` to check against the part, or 0 and why. */
export type ResumeCandidate =
  { kind: 'check'; sidecar: ISidecar } | { kind: 'fresh'; why?: string };

/** The ranges hashed for a prefix of `done` bytes: its first and last HASH_SPAN. */
export function hashRanges(done: number): {
  head: [number, number];
  tail: [number, number];
} {
  return {
    head: [0, Math.min(HASH_SPAN, done)],
    tail: [Math.max(0, done - HASH_SPAN), done]
  };
}

export function hashOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Parses sidecar text; undefined when it is not one (a partial write, another tool's file). */
export function parseSidecar(text: string | undefined): ISidecar | undefined {
  if (text === undefined) {
    return undefined;
  }
  let value: Partial<ISidecar>;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const whole = (n: unknown) =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  const hex = (s: unknown) => typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
  if (
    value?.v !== 1 ||
    typeof value.source !== 'string' ||
    !whole(value.size) ||
    !whole(value.mtime) ||
    !whole(value.done) ||
    !hex(value.head) ||
    !hex(value.tail)
  ) {
    return undefined;
  }
  return value as ISidecar;
}

/**
 * The first step of the decision, from facts alone: whether the part may be
 * continued (its hashes are then checked by `resumeFrom`) or why not.
 */
export function resumeCandidate(
  sidecar: ISidecar | undefined,
  source: ISourceFacts,
  partSize: number | undefined
): ResumeCandidate {
  if (partSize === undefined) {
    return { kind: 'fresh' };
  }
  if (!sidecar) {
    return { kind: 'fresh', why: 'an unfinished copy without its record' };
  }
  if (sidecar.source !== source.path) {
    return { kind: 'fresh', why: 'an unfinished copy of another source' };
  }
  if (sidecar.size !== source.size || sidecar.mtime !== source.mtime) {
    return { kind: 'fresh', why: 'the source changed since the last try' };
  }
  if (sidecar.done === 0 || sidecar.done > source.size) {
    return { kind: 'fresh' };
  }
  if (partSize < sidecar.done) {
    return {
      kind: 'fresh',
      why: 'the unfinished copy is shorter than recorded'
    };
  }
  return { kind: 'check', sidecar };
}

/** The offset to continue from, given the hashes of the part's ranges now. */
export function resumeFrom(
  sidecar: ISidecar,
  now: { head: string; tail: string }
): { from: number; why?: string } {
  if (now.head !== sidecar.head || now.tail !== sidecar.tail) {
    return { from: 0, why: 'the unfinished copy was changed' };
  }
  return { from: sidecar.done };
}
