/**
 * Files moved over plain commands, for servers without SFTP: `cat` into a
 * temp file, chmod, then `mv` over the target (atomic like sftp.ts), and
 * `cat` out. One shell per file: bench/transport.ts compares it with SFTP.
 * Also the temp file name every atomic write uses.
 */
import { randomBytes } from 'crypto';
import * as path from 'path';
import { shellQuote } from '../util/quote';
import { DEFAULT_MAX_BUFFER, OutputCollector } from './output';
import type { IExecResult, ITransport } from './types';

/** A hidden, unique temp name beside `file` (same folder, so the rename is atomic). */
export function tempSibling(file: string): string {
  return path.posix.join(
    path.posix.dirname(file),
    `.${path.posix.basename(file)}.${randomBytes(6).toString('hex')}.tmp`
  );
}

export async function execWriteFile(
  transport: ITransport,
  file: string,
  data: Buffer,
  mode: number
): Promise<void> {
  const q = shellQuote(tempSibling(file));
  const r = await transport.exec(
    `umask 077 && cat > ${q} && chmod ${(mode & 0o7777).toString(8)} ${q} && mv -f ${q} ${shellQuote(file)} || { s=$?; rm -f ${q}; exit $s; }`,
    { stdin: data }
  );
  if (r.code !== 0) {
    throw Private.fileError('write', transport.cluster, file, r);
  }
}

export async function execReadFile(
  transport: ITransport,
  file: string
): Promise<Buffer> {
  const out = new OutputCollector(DEFAULT_MAX_BUFFER * 4);
  const err = new OutputCollector(64 * 1024);
  const r = await transport.stream(`cat -- ${shellQuote(file)}`, {
    onStdout: c => void out.push(c),
    onStderr: c => void err.push(c)
  }).done;
  if (r.code !== 0) {
    throw Private.fileError('read', transport.cluster, file, {
      ...r,
      stderr: err.text()
    });
  }
  return out.buffer();
}

namespace Private {
  /** An Error with the command's own words and, where they say so, an errno code. */
  export function fileError(
    op: 'read' | 'write',
    cluster: string,
    file: string,
    r: IExecResult
  ): Error {
    const detail = r.stderr.trim() || `exit status ${r.code ?? r.signal}`;
    const err = new Error(
      `${cluster}: cannot ${op} ${file}: ${detail}`
    ) as NodeJS.ErrnoException;
    if (/No such file or directory/.test(r.stderr)) {
      err.code = 'ENOENT';
    } else if (/Permission denied/.test(r.stderr)) {
      err.code = 'EACCES';
    }
    return err;
  }
}
