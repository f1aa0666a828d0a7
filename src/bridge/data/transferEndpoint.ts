/**
 * One side of a copy as the copier sees it: stat, list, open, positional
 * read/write, rename. Two kinds: this machine's file system (below) and a
 * cluster's over SFTP (transferSftp.ts), so put, get and the `local`
 * cluster share one copier (transferCopy.ts).
 */
import * as fs from 'fs';
import * as path from 'path';

export type EntryKind = 'file' | 'dir' | 'link' | 'other';

export interface IEntryStat {
  kind: EntryKind;
  size: number;
  /** Whole seconds (SFTP's precision, so both sides compare alike). */
  mtime: number;
}

/** An open file of an endpoint. */
export type FileHandle = unknown;

export interface IEndpoint {
  /** Says where in messages: "local" or the cluster's name. */
  readonly label: string;
  /** The side's path module (posix for clusters). */
  readonly path: typeof path.posix;
  /** Follows links; undefined when nothing is there. */
  stat(p: string): Promise<IEntryStat | undefined>;
  /** Does not follow a link; undefined when nothing is there. */
  lstat(p: string): Promise<IEntryStat | undefined>;
  realpath(p: string): Promise<string>;
  readdir(p: string): Promise<string[]>;
  /** One folder; an existing folder is fine. */
  mkdir(p: string): Promise<void>;
  /** 'r' to read; 'w+' creates or truncates; 'r+' keeps what is there. */
  open(p: string, flags: 'r' | 'r+' | 'w+'): Promise<FileHandle>;
  /** Bytes read (0 at the end). */
  read(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<number>;
  write(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<void>;
  close(h: FileHandle): Promise<void>;
  /** Replaces `to` when it is a file. */
  rename(from: string, to: string): Promise<void>;
  unlink(p: string): Promise<void>;
  setMtime(p: string, mtime: number): Promise<void>;
  /** A small file whole (the sidecar); undefined when missing. */
  readSmall(p: string): Promise<string | undefined>;
  /** A small file whole, replaced atomically. */
  writeSmall(p: string, text: string): Promise<void>;
}

export function kindOfMode(mode: number): EntryKind {
  const type = mode & 0o170000;
  return type === 0o100000
    ? 'file'
    : type === 0o040000
      ? 'dir'
      : type === 0o120000
        ? 'link'
        : 'other';
}

/** This machine's file system. */
export class LocalEndpoint implements IEndpoint {
  constructor(readonly label = 'local') {}

  readonly path = path.posix;

  stat(p: string): Promise<IEntryStat | undefined> {
    return Private.statOf(fs.promises.stat(p));
  }

  lstat(p: string): Promise<IEntryStat | undefined> {
    return Private.statOf(fs.promises.lstat(p));
  }

  realpath(p: string): Promise<string> {
    return fs.promises.realpath(p);
  }

  readdir(p: string): Promise<string[]> {
    return fs.promises.readdir(p);
  }

  async mkdir(p: string): Promise<void> {
    await fs.promises.mkdir(p).catch(err => {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    });
  }

  async open(p: string, flags: 'r' | 'r+' | 'w+'): Promise<FileHandle> {
    return fs.promises.open(p, flags, 0o644);
  }

  async read(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<number> {
    const r = await (h as fs.promises.FileHandle).read(
      buf,
      0,
      length,
      position
    );
    return r.bytesRead;
  }

  async write(
    h: FileHandle,
    buf: Buffer,
    length: number,
    position: number
  ): Promise<void> {
    let off = 0;
    while (off < length) {
      const r = await (h as fs.promises.FileHandle).write(
        buf,
        off,
        length - off,
        position + off
      );
      off += r.bytesWritten;
    }
  }

  close(h: FileHandle): Promise<void> {
    return (h as fs.promises.FileHandle).close();
  }

  rename(from: string, to: string): Promise<void> {
    return fs.promises.rename(from, to);
  }

  unlink(p: string): Promise<void> {
    return fs.promises.unlink(p);
  }

  setMtime(p: string, mtime: number): Promise<void> {
    return fs.promises.utimes(p, mtime, mtime);
  }

  async readSmall(p: string): Promise<string | undefined> {
    try {
      return await fs.promises.readFile(p, 'utf8');
    } catch {
      return undefined;
    }
  }

  async writeSmall(p: string, text: string): Promise<void> {
    const tmp = `${p}.tmp`;
    await fs.promises.writeFile(tmp, text, { mode: 0o600 });
    await fs.promises.rename(tmp, p);
  }
}

namespace Private {
  export async function statOf(
    pending: Promise<fs.Stats>
  ): Promise<IEntryStat | undefined> {
    try {
      const s = await pending;
      return {
        kind: kindOfMode(s.mode),
        size: s.size,
        mtime: Math.floor(s.mtimeMs / 1000)
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        return undefined;
      }
      throw err;
    }
  }
}
