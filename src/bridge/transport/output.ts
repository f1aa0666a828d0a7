/** Collects a command's output as Buffers, decoded once at the end (no split UTF-8). */

/** Default cap on what exec() collects per stream: 64 MiB. */
export const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

export class OutputCollector {
  constructor(private readonly _max: number) {}

  /** Returns false once the cap is exceeded (the caller stops the command). */
  push(chunk: Buffer): boolean {
    if (this._size + chunk.length > this._max) {
      return false;
    }
    this._chunks.push(chunk);
    this._size += chunk.length;
    return true;
  }

  buffer(): Buffer {
    return Buffer.concat(this._chunks, this._size);
  }

  text(): string {
    return this.buffer().toString('utf8');
  }

  private _chunks: Buffer[] = [];
  private _size = 0;
}
