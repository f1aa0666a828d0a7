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
  ) {}

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
    return new Promise((resolve, reject) =>
      this._sftp.read(h as Buffer, buf, 0, length, position, (err, n) =>
        err ? reject(err) : resolve(n)
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

  async readSmall(p: string): Promise<string | undefined> {
    try {
      return (
        await this._call<Buffer>(cb => this._sftp.readFile(p, cb))
      ).toString('utf8');
    } catch (err) {
      if ((err as { code?: number }).code === NO_SUCH_FILE) {
        return undefined;
      }
      throw err;
    }
  }

  async writeSmall(p: string, text: string): Promise<void> {
    const tmp = `${p}.tmp`;
    await this._call<void>(cb =>
      this._sftp.writeFile(tmp, text, { mode: 0o600 }, cb)
    );
    await this.rename(tmp, p);
  }

  private _call<T>(
    fn: (cb: (err: Error | undefined | null, value: T) => void) => void
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      fn((err, value) => (err ? reject(err) : resolve(value)));
    });
  }
}

namespace Private {
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
