/**
 * Splits the raw bytes of events.jsonl (as `follow`/`go` print them) into
 * events, tolerating lines cut across chunks, and tracks the byte offset of
 * the last complete line so a follow can resume exactly there.
 */
import type { IJobEvent } from '../../shared/events';

export class EventLineParser {
  /** @param offset byte offset of the first byte that will be pushed. */
  constructor(offset = 0) {
    this._offset = offset;
  }

  /** Bytes of events.jsonl consumed through the last complete line. */
  get offset(): number {
    return this._offset;
  }

  /** Highest sequence number seen, -1 before any. */
  get lastSeq(): number {
    return this._lastSeq;
  }

  /**
   * Feeds a chunk; returns the complete events in it. Lines that are not
   * JSON objects (stray output) become `bad` entries instead of throwing.
   * Resuming from `offset` is exact, so no event is seen twice; seq numbers
   * are recorded, not used to filter (agent and runner share one log).
   */
  push(chunk: Buffer): { events: IJobEvent[]; bad: string[] } {
    const events: IJobEvent[] = [];
    const bad: string[] = [];
    // Only the new chunk is searched; a line cut across chunks is joined once,
    // when its newline arrives (big display events span many chunks).
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) {
        break;
      }
      let line = chunk.subarray(start, nl);
      if (this._rest.length > 0) {
        this._rest.push(line);
        line = Buffer.concat(this._rest);
        this._rest = [];
      }
      this._offset += line.length + 1;
      start = nl + 1;
      this._parse(line, events, bad);
    }
    if (start < chunk.length) {
      // Copied: the caller may reuse its buffer.
      this._rest.push(Buffer.from(chunk.subarray(start)));
    }
    return { events, bad };
  }

  /** Discards a partial trailing line (the stream broke): a resume re-reads it. */
  dropPartial(): void {
    this._rest = [];
  }

  private _parse(line: Buffer, events: IJobEvent[], bad: string[]): void {
    const text = line.toString('utf8').trim();
    if (!text) {
      return;
    }
    let event: IJobEvent;
    try {
      event = JSON.parse(text) as IJobEvent;
    } catch {
      bad.push(text);
      return;
    }
    if (!event || typeof event !== 'object' || typeof event.type !== 'string') {
      bad.push(text);
      return;
    }
    if (typeof event.seq === 'number' && event.seq > this._lastSeq) {
      this._lastSeq = event.seq;
    }
    events.push(event);
  }

  private _offset: number;
  private _lastSeq = -1;
  private _rest: Buffer[] = [];
}
