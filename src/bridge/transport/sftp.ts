/**
 * File transfer over one long-lived SFTP channel per connection: no remote
 * process per file, so a small write is a few packets instead of a shell,
 * cat, chmod and mv (see bench/transport.ts). Writes are atomic: a temp file
 * in the target's folder, fchmod to the exact mode, then posix-rename.
 */
import type { SFTPWrapper } from 'ssh2';
import { tempSibling } from './execFiles';

/** Bytes per SFTP write request (OpenSSH's sftp-server accepts up to 256 KiB). */
const CHUNK = 64 * 1024;

/** SFTP status codes (draft-ietf-secsh-filexfer-02) mapped to errno names. */
const STATUS_CODES: { [code: number]: string } = {
  2: 'ENOENT',
  3: 'EACCES',
  4: 'EIO'
};

export async function sftpWriteFile(
  sftp: SFTPWrapper,
  file: string,
  data: Buffer,
  mode: number
): Promise<void> {
  const tmp = tempSibling(file);
  const handle = await sftpCall<Buffer>(cb =>
    sftp.open(tmp, 'wx', { mode }, cb)
  );
  // Requests on one handle are answered in order, so the writes, the fchmod
  // (open's mode passes through the server's umask; ours is exact) and the
  // close go out together: one round trip instead of one per request.
  const ops: Promise<void>[] = [];
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    const n = Math.min(data.length - offset, CHUNK);
    ops.push(
      sftpCall<void>(cb => sftp.write(handle, data, offset, n, offset, cb))
    );
  }
  ops.push(sftpCall<void>(cb => sftp.fchmod(handle, mode, cb)));
  const closed = sftpCall<void>(cb => sftp.close(handle, cb));
  try {
    await Promise.all(ops);
    await closed;
  } catch (err) {
    await closed.catch(() => undefined);
    await sftpCall<void>(cb => sftp.unlink(tmp, cb)).catch(() => undefined);
    throw err;
  }
  try {
    // Plain SFTP rename refuses to replace an existing file; OpenSSH's extension does it atomically.
    await sftpCall<void>(cb => sftp.ext_openssh_rename(tmp, file, cb));
  } catch (err) {
    await sftpCall<void>(cb => sftp.unlink(tmp, cb)).catch(() => undefined);
    throw err;
  }
}

export function sftpReadFile(sftp: SFTPWrapper, file: string): Promise<Buffer> {
  return sftpCall<Buffer>(cb => sftp.readFile(file, cb));
}

/** Whether ssh2 reported an SFTP protocol-level error (file missing, denied...) rather than a dead channel. */
export function isSftpStatusError(err: unknown): boolean {
  return typeof (err as { code?: unknown })?.code === 'number';
}

/** Gives SFTP errors an errno-like `code` and a message naming the file. */
export function sftpError(
  op: 'read' | 'write',
  cluster: string,
  file: string,
  err: unknown
): Error {
  const status = (err as { code?: number }).code;
  const e = new Error(
    `${cluster}: cannot ${op} ${file}: ${(err as Error).message}`
  ) as NodeJS.ErrnoException;
  if (typeof status === 'number' && STATUS_CODES[status]) {
    e.code = STATUS_CODES[status];
  }
  return e;
}

/** An ssh2 SFTP call with a Node callback, as a promise. */
export function sftpCall<T>(
  fn: (cb: (err: Error | undefined | null, value: T) => void) => void
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(err) : resolve(value)));
  });
}
