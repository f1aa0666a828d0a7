/**
 * One request of a `--sync` on the remote: the header line and the file
 * pieces' bytes as the stdin of ONE exec of the agent's `sync-apply`
 * (src/runtime/_cb_sync.py), and its answer.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { agentCommand } from '../schedulers/direct';
import type { IAgentInvocation } from '../schedulers/types';
import type { ITransport } from '../transport/types';
import type { IRemoteRecord, IRequest } from './syncPlan';

export type ApplyAnswer =
  | {
      ok: true;
      token: string;
      dir: string;
      written: number;
      deleted: number;
      bytes: number;
      drifted: string[];
    }
  | { ok: false; mismatch: true; token: string | null; entries: IRemoteRecord };

/** A file changed between its hash and its upload: the sync must start over. */
export class ChangedWhileSyncing extends Error {}

export async function applyRequest(
  target: { transport: ITransport; agent: IAgentInvocation },
  syncDir: string,
  header: { base: string | null; name: string },
  request: IRequest,
  localRoot: string,
  signal?: AbortSignal
): Promise<ApplyAnswer> {
  const stdin = readRequest(header, request, localRoot);
  const result = await target.transport.exec(
    agentCommand(target.agent, 'sync-apply', syncDir),
    { stdin, signal }
  );
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !last.startsWith('{')) {
    const words = (result.stderr || result.stdout).trim();
    throw new Error(
      `--sync: the remote refused the folder's changes (exit ${result.code}): ${words}`
    );
  }
  return JSON.parse(last) as ApplyAnswer;
}

/** Header line + the pieces' bytes, read now; a whole file's bytes are checked against its hash. */
export function readRequest(
  header: { base: string | null; name: string },
  request: IRequest,
  localRoot: string
): Buffer {
  const chunks: Buffer[] = [];
  for (const piece of request.put) {
    if (piece.k !== 'f' || piece.len === undefined) {
      continue;
    }
    const data = Private.readPiece(
      path.join(localRoot, piece.p),
      piece.o ?? 0,
      piece.len
    );
    if (piece.o === 0 && piece.len === piece.n) {
      const h = createHash('sha256').update(data).digest('hex');
      if (h !== piece.h) {
        throw new ChangedWhileSyncing(piece.p);
      }
    }
    chunks.push(data);
  }
  const line = JSON.stringify({
    v: 1,
    base: header.base,
    name: header.name,
    delete: request.delete,
    put: request.put
  });
  return Buffer.concat([Buffer.from(line + '\n'), ...chunks]);
}

namespace Private {
  export function readPiece(file: string, offset: number, len: number): Buffer {
    const buf = Buffer.allocUnsafe(len);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      throw new ChangedWhileSyncing(file);
    }
    try {
      let done = 0;
      while (done < len) {
        const n = fs.readSync(fd, buf, done, len - done, offset + done);
        if (n === 0) {
          throw new ChangedWhileSyncing(file);
        }
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    return buf;
  }
}
