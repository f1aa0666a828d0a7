/**
 * Copies one file between endpoints, resumable: many positional reads and
 * writes in flight (like ssh2's fastPut/fastGet, no whole-file buffer) into
 * `<dest>.cb-part`, a sidecar recording the written prefix every few MiB and
 * when stopped, then mtime, rename, sidecar removed. A rerun continues from
 * the recorded prefix when the source and the part are unchanged
 * (transferResume.ts).
 */
import type { FileHandle, IEndpoint, IEntryStat } from './transferEndpoint';
import { partFiles } from './transferPaths';
import {
  hashOf,
  hashRanges,
  parseSidecar,
  resumeCandidate,
  resumeFrom,
  type ISidecar
} from './transferResume';

/** Tuned in bench/transfer-files.ts, as varsTransfer's TRANSFER (sftp-server takes up to 256 KiB). */
export const CHUNK_SIZE = 128 * 1024;
export const CONCURRENCY = 32;
/** Bytes between two sidecar records (and RECORD_MS at least): what a drop can cost. */
export const RECORD_EVERY = 8 * 1024 * 1024;
/** Each record reads back and writes on the same channel: at most one a second keeps it off the throughput. */
export const RECORD_MS = 1000;

export interface ICopyOptions {
  signal?: AbortSignal;
  /** Bytes newly written (progress). */
  onBytes?: (n: number) => void;
  /** Bytes that need not travel: a continued prefix, a complete file. */
  onSkipped?: (n: number) => void;
  chunkSize?: number;
  concurrency?: number;
  recordEvery?: number;
  recordMs?: number;
}

export interface IFileCopyResult {
  /** Bytes written this time. */
  bytes: number;
  /** Where this copy continued an earlier one (0: from the start). */
  resumedFrom: number;
  /** The destination already had the same size and mtime: nothing written. */
  upToDate: boolean;
  /** Why an unfinished copy there was not continued. */
  restarted?: string;
}

/** The copy was stopped by its signal; its part and sidecar stay for a rerun. */
export class TransferStopped extends Error {
  constructor(readonly done: number) {
    super('the copy was stopped; run the same command again to continue');
    this.name = 'TransferStopped';
  }
}

export async function copyFile(
  src: IEndpoint,
  from: string,
  fromStat: IEntryStat,
  dst: IEndpoint,
  to: string,
  options: ICopyOptions = {}
): Promise<IFileCopyResult> {
  const existing = await dst.lstat(to);
  Private.checkTarget(dst, to, existing);
  if (existing?.size === fromStat.size && existing.mtime === fromStat.mtime) {
    options.onSkipped?.(fromStat.size);
    return { bytes: 0, resumedFrom: 0, upToDate: true };
  }
  const { part, sidecar } = partFiles(to);
  const partStat = await dst.lstat(part);
  if (partStat && partStat.kind !== 'file') {
    throw new Error(
      `${dst.label}: ${part} is not a file; remove it to copy ${to}`
    );
  }
  const source = {
    path: `${src.label}:${from}`,
    size: fromStat.size,
    mtime: fromStat.mtime
  };
  const candidate = resumeCandidate(
    parseSidecar(await dst.readSmall(sidecar)),
    source,
    partStat?.size
  );
  let start = 0;
  let restarted = candidate.kind === 'fresh' ? candidate.why : undefined;
  let out: FileHandle | undefined;
  if (candidate.kind === 'check') {
    const opened = await dst.open(part, 'r+');
    out = opened;
    const now = await Private.hashes(dst, opened, candidate.sidecar.done).catch(
      async err => {
        await dst.close(opened).catch(() => undefined);
        throw err;
      }
    );
    const decision = resumeFrom(candidate.sidecar, now);
    start = decision.from;
    restarted = decision.why;
  }
  if (start === 0) {
    // An old record must never describe the new bytes.
    await dst.unlink(sidecar).catch(() => undefined);
    if (out !== undefined) {
      await dst.close(out);
    }
    out = await dst.open(part, 'w+');
  }
  options.onSkipped?.(start);
  const input = await src.open(from, 'r').catch(async err => {
    await dst.close(out);
    throw err;
  });
  const pump = new Private.Pump(src, input, dst, out, {
    ...options,
    start,
    size: fromStat.size,
    record: (done, hashes) => {
      const record: ISidecar = {
        v: 1,
        source: source.path,
        size: source.size,
        mtime: source.mtime,
        done,
        ...hashes
      };
      return dst.writeSmall(sidecar, JSON.stringify(record));
    }
  });
  try {
    await pump.run();
  } finally {
    await src.close(input).catch(() => undefined);
    await dst.close(out).catch(() => undefined);
  }
  await dst.setMtime(part, fromStat.mtime);
  await dst.rename(part, to);
  await dst.unlink(sidecar).catch(() => undefined);
  return {
    bytes: fromStat.size - start,
    resumedFrom: start,
    upToDate: false,
    restarted
  };
}

namespace Private {
  /** A destination the copy may replace: nothing, or a plain file. */
  export function checkTarget(
    dst: IEndpoint,
    to: string,
    existing: IEntryStat | undefined
  ): void {
    if (!existing || existing.kind === 'file') {
      return;
    }
    const what =
      existing.kind === 'dir'
        ? 'a folder'
        : existing.kind === 'link'
          ? 'a link (nothing is written through links)'
          : 'not a plain file';
    throw new Error(
      `${dst.label}: ${to} is ${what}; a file will not replace it. ` +
        (existing.kind === 'dir'
          ? 'End the destination with / to copy into that folder.'
          : 'Remove it or choose another destination.')
    );
  }

  export async function hashes(
    ep: IEndpoint,
    h: FileHandle,
    done: number
  ): Promise<{ head: string; tail: string }> {
    const ranges = hashRanges(done);
    const part = async ([a, b]: [number, number]) => {
      const buf = Buffer.alloc(b - a);
      let got = 0;
      while (got < buf.length) {
        const n = await ep.read(
          h,
          buf.subarray(got),
          buf.length - got,
          a + got
        );
        if (n === 0) {
          break;
        }
        got += n;
      }
      return hashOf(buf.subarray(0, got));
    };
    return { head: await part(ranges.head), tail: await part(ranges.tail) };
  }

  interface IPumpOptions extends ICopyOptions {
    start: number;
    size: number;
    record(done: number, h: { head: string; tail: string }): Promise<void>;
  }

  /**
   * CONCURRENCY workers, each reading a chunk and writing it at the same
   * offset. `done` is the prefix whose chunks are all written: only it is
   * recorded, so a part with holes beyond it is still resumable.
   */
  export class Pump {
    constructor(
      private _src: IEndpoint,
      private _in: FileHandle,
      private _dst: IEndpoint,
      private _out: FileHandle,
      private _o: IPumpOptions
    ) {
      this._chunk = _o.chunkSize ?? CHUNK_SIZE;
      this._next = _o.start;
      this._done = _o.start;
      this._recorded = _o.start;
    }

    async run(): Promise<void> {
      const workers = Array.from(
        { length: this._o.concurrency ?? CONCURRENCY },
        () => this._work()
      );
      const settled = await Promise.allSettled(workers);
      const failed = settled.find(
        (s): s is PromiseRejectedResult => s.status === 'rejected'
      );
      await this._recording;
      if (failed || this._o.signal?.aborted) {
        // What is written stays resumable (the destination may be gone: best effort).
        await this._record().catch(() => undefined);
        throw failed ? failed.reason : new TransferStopped(this._done);
      }
      if (this._done !== this._o.size) {
        throw new Error('the copy ended early (the source changed size?)');
      }
    }

    private async _work(): Promise<void> {
      const buf = Buffer.allocUnsafe(this._chunk);
      while (
        this._next < this._o.size &&
        !this._failed &&
        !this._o.signal?.aborted
      ) {
        const pos = this._next;
        const len = Math.min(this._chunk, this._o.size - pos);
        this._next += len;
        try {
          let got = 0;
          while (got < len) {
            const n = await this._src.read(
              this._in,
              buf.subarray(got),
              len - got,
              pos + got
            );
            if (n === 0) {
              throw new Error(
                `${this._src.label}: the source ended at ${pos + got} of ${this._o.size} bytes; it changed while being copied`
              );
            }
            got += n;
          }
          await this._dst.write(this._out, buf, len, pos);
        } catch (err) {
          this._failed = true;
          throw err;
        }
        this._written.set(pos, len);
        this._o.onBytes?.(len);
        this._advance();
      }
    }

    private _advance(): void {
      let len: number | undefined;
      while ((len = this._written.get(this._done)) !== undefined) {
        this._written.delete(this._done);
        this._done += len;
      }
      const every = this._o.recordEvery ?? RECORD_EVERY;
      const due =
        Date.now() - this._recordedAt >= (this._o.recordMs ?? RECORD_MS);
      if (this._done - this._recorded >= every && due && !this._busy) {
        this._busy = true;
        this._recording = this._record()
          .catch(() => undefined)
          .finally(() => {
            this._busy = false;
          });
      }
    }

    private async _record(): Promise<void> {
      const done = this._done;
      if (done === 0 || done === this._recorded) {
        return;
      }
      await this._o.record(done, await hashes(this._dst, this._out, done));
      this._recorded = done;
      this._recordedAt = Date.now();
    }

    private _chunk: number;
    private _next: number;
    private _done: number;
    private _recorded: number;
    private _failed = false;
    private _recordedAt = Date.now();
    private _busy = false;
    private _recording: Promise<void> = Promise.resolve();
    private _written = new Map<number, number>();
  }
}
