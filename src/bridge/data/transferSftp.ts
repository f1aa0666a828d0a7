/**
 * A cluster's file system over the connection's SFTP channel (no remote
 * process): the endpoint put writes to and get reads from.
 */
import * as path from 'path';
import type { SFTPWrapper, Stats } from 'ssh2';

import {
  kindOfMode,
  type FileHandle,
  type IEndpoint,
  type IEntryStat
} from './transferEndpoint';

/** SFTP's "no such file" status. */
const NO_SUCH_FILE = 2;

export class SftpEndpoint implements IEndpoint {
  constructor(
    readonly label: string,
    private readonly _sftp: SFTPWrapper
  ) {
    Private.watch(_sftp);
  }

  readonly path = path.posix;

  stat(p: string): Promise<IEntryStat | undefined> {
    return Private.statOf(this._call<Stats>(cb => this._sftp.stat(p, cb)));
  }

  lstat(p: string): Promise<IEntryStat | undefined> {
    return Private.statOf(this._call<Stats>(cb => this._sftp.lstat(p, cb)));
  }

  realpath(p: string): Promise<string> {
    return this._call<string>(cb => this._sftp.realpath(p, cb));
  }

  async readdir(p: string): Promise<string[]> {
    const list = await this._call<{ filename: string }[]>(cb =>
      this._sftp.readdir(p, cb)
    );
    return list.map(e => e.filename);
  }

  async mkdir(p: string): Promise<void> {
    try {
      await this._call<void>(cb => this._sftp.mkdir(p, cb));
    } catch (err) {
      // SFTP says only "failure" for an existing folder.
      if ((await this.stat(p))?.kind !== 'dir') {
        throw err;
      }
    }
  }

  open(p: string, flags: 'r' | 'r+' | 'w+'): Promise<FileHandle> {
    return this._call<Buffer>(cb =>
      this._sftp.open(p, flags, { mode: 0o644 }, cb)
    );
  }

  read(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<number> {
    return this._call<number>(cb =>
      this._sftp.read(h as Buffer, buf, 0, length, position, (err, n) =>
        cb(err, n)
      )
    );
  }

  write(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<void> {
    return this._call<void>(cb =>
      this._sftp.write(h as Buffer, buf, 0, length, position, cb)
    );
  }

  close(h: FileHandle): Promise<void> {
    return this._call<void>(cb => this._sftp.close(h as Buffer, cb));
  }

  rename(from: string, to: string): Promise<void> {
    // Plain SFTP rename refuses to replace a file; OpenSSH's extension does it atomically.
    return this._call<void>(cb => this._sftp.ext_openssh_rename(from, to, cb));
  }

  unlink(p: string): Promise<void> {
    return this._call<void>(cb => this._sftp.unlink(p, cb));
  }

  setMtime(p: string, mtime: number): Promise<void> {
    return this._call<void>(cb => this._sftp.utimes(p, mtime, mtime, cb));
  }

  // ssh2's readFile/writeFile never call back when the channel dies between
  // their requests (their cleanup `close` is never answered): ours are guarded.
  async readSmall(p: string): Promise<string | undefined> {
    const stat = await this.stat(p);
    if (!stat) {
      return undefined;
    }
    const h = await this.open(p, 'r');
    try {
      const buf = Buffer.alloc(Math.min(stat.size, Private.SMALL));
      let got = 0;
      while (got < buf.length) {
        const n = await this.read(h, buf.subarray(got), buf.length - got, got);
        if (n === 0) {
          break;
        }
        got += n;
      }
      return buf.subarray(0, got).toString('utf8');
    } finally {
      await this.close(h).catch(() => undefined);
    }
  }

  async writeSmall(p: string, text: string): Promise<void> {
    const tmp = `${p}.tmp`;
    const data = Buffer.from(text);
    const h = await this._call<Buffer>(cb =>
      this._sftp.open(tmp, 'w', { mode: 0o600 }, cb)
    );
    try {
      await this._call<void>(cb =>
        this._sftp.write(h, data, 0, data.length, 0, cb)
      );
    } finally {
      await this.close(h);
    }
    await this.rename(tmp, p);
  }

  private _call<T>(
    fn: (cb: (err: Error | undefined | null, value: T) => void) => void
  ): Promise<T> {
    if (Private.dead.has(this._sftp)) {
      return Promise.reject(
        new Error(`the connection to ${this.label} dropped`)
      );
    }
    return new Promise<T>((resolve, reject) => {
      fn((err, value) => (err ? reject(err) : resolve(value)));
    });
  }
}

namespace Private {
  /** Most bytes readSmall reads (a sidecar is a few hundred). */
  export const SMALL = 1 << 20;

  /** Channels that ended: ssh2 failed their pending requests, and never answers new ones. */
  export const dead = new WeakSet<SFTPWrapper>();
  const watched = new WeakSet<SFTPWrapper>();

  export function watch(sftp: SFTPWrapper): void {
    if (watched.has(sftp)) {
      return;
    }
    watched.add(sftp);
    const end = () => dead.add(sftp);
    sftp.once('end', end);
    sftp.once('close', end);
  }

  export async function statOf(
    pending: Promise<Stats>
  ): Promise<IEntryStat | undefined> {
    try {
      const s = await pending;
      return { kind: kindOfMode(s.mode), size: s.size, mtime: s.mtime };
    } catch (err) {
      if ((err as { code?: number }).code === NO_SUCH_FILE) {
        return undefined;
      }
      throw err;
    }
  }
}
