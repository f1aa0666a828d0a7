/**
 * `%cluster put NAME LOCAL [REMOTE]` and `%cluster get NAME REMOTE [LOCAL]`:
 * resolves both paths (transferPaths.ts), picks the cluster's side (SFTP, or
 * this file system for the `local` cluster), copies with a progress bar in
 * the cell (transferProgress.ts) and ends with a one-line summary. An
 * interrupt stops the copy and leaves it resumable.
 */
import * as os from 'os';
import * as path from 'path';
import type { SFTPWrapper } from 'ssh2';

import { TransferStopped, type ICopyOptions } from '../data/transferCopy';
import { LocalEndpoint, type IEndpoint } from '../data/transferEndpoint';
import {
  baseName,
  localBase,
  localPath,
  REMOTE_FILES,
  remotePath
} from '../data/transferPaths';
import {
  formatRate,
  formatSeconds,
  TransferProgress
} from '../data/transferProgress';
import { SftpEndpoint } from '../data/transferSftp';
import { copyTree, type ITreeResult } from '../data/transferTree';
import type { ITransport } from '../transport/types';
import { formatBytes } from './doctor';
import type { IExecuteContext, IExecuteOutcome } from './handler';
import type { IKernelServices } from './services';

/** A connected cluster as put/get need it. */
export interface ITransferTarget {
  /** Absolute remote work directory (REMOTE paths are relative to its `files/`). */
  workDir: string;
  transport: ITransport;
}

export interface ITransferCommandOptions {
  /** The notebook key (`<serverRoot>/<path>`, `kernel:<id>`); LOCAL is relative to its folder. */
  notebook?: string;
  /** A copy slower than this shows its progress bar (tests). */
  slowMs?: number;
  /** Wraps the cluster's side (fault injection in tests). */
  wrapRemote?: (ep: IEndpoint) => IEndpoint;
  /** The copier's knobs (chunks, records), for tests and benches. */
  copy?: Pick<
    ICopyOptions,
    'chunkSize' | 'concurrency' | 'recordEvery' | 'recordMs'
  >;
}

export async function transferCommand(
  services: IKernelServices,
  ctx: IExecuteContext,
  command: 'put' | 'get',
  args: string[],
  options: ITransferCommandOptions = {}
): Promise<IExecuteOutcome> {
  if (!services.openCluster) {
    throw new Error(`${command} is not available in this build of the bridge`);
  }
  const [name, first, second] = args;
  const cluster = services.clusters.resolve(name);
  const target = await services.openCluster(cluster.name, ctx.prompter);
  const isLocal = cluster.config.type === 'local';
  const remoteHome = isLocal ? os.homedir() : await target.transport.home();
  let remote: IEndpoint = isLocal
    ? new LocalEndpoint(cluster.name)
    : new SftpEndpoint(cluster.name, await Private.sftpOf(target.transport));
  remote = options.wrapRemote?.(remote) ?? remote;
  const local = new LocalEndpoint();
  const base = localBase(options.notebook, process.cwd());
  const remoteOf = (p: string) => remotePath(p, target.workDir, remoteHome);
  const localOf = (p: string) => localPath(p, base, os.homedir());
  let from: string;
  let to: string;
  if (command === 'put') {
    from = localOf(first);
    to = Private.destination(
      from,
      second,
      remoteOf,
      path.posix.join(target.workDir, REMOTE_FILES)
    );
  } else {
    from = remoteOf(first);
    to = Private.destination(from, second, localOf, base);
  }
  const [src, dst] = command === 'put' ? [local, remote] : [remote, local];
  const title = `${command} ${src.label}:${from} → ${dst.label}:${to}`;
  const progress = new TransferProgress(ctx.sink, title, {
    slowMs: options.slowMs
  });
  let result: ITreeResult;
  try {
    result = await copyTree(src, from, dst, to, {
      ...options.copy,
      signal: ctx.signal,
      notice: text => ctx.sink.stream('stderr', `[cluster-bridge] ${text}\n`),
      onTotal: n => progress.setTotal(n),
      onBytes: n => progress.moved(n),
      onSkipped: n => progress.skipped(n)
    });
  } catch (err) {
    progress.abandon();
    if (err instanceof TransferStopped || ctx.signal.aborted) {
      ctx.sink.stream(
        'stderr',
        `[cluster-bridge] ${command} stopped; what was copied is kept: run the same line again to continue.\n`
      );
      return { status: 'aborted' };
    }
    throw new Error(
      `${command} ${first} failed: ${(err as Error).message}. ` +
        'Run the same line again to continue where it stopped.'
    );
  }
  progress.finish(Private.summary(title, result, progress.elapsedMs()));
  return { status: 'ok' };
}

namespace Private {
  /** The destination: given (`/` at its end: into that folder), else the default folder plus the source's name. */
  export function destination(
    from: string,
    given: string | undefined,
    resolve: (p: string) => string,
    defaultFolder: string
  ): string {
    if (given === undefined) {
      return path.posix.join(defaultFolder, baseName(from));
    }
    const resolved = resolve(given);
    return given.endsWith('/')
      ? path.posix.join(resolved, baseName(from))
      : resolved;
  }

  /** `put ... : 1.0 GiB in 3.2 s (330 MB/s), resumed from 400 MiB; 12 files, 3 already complete`. */
  export function summary(
    title: string,
    r: ITreeResult,
    elapsedMs: number
  ): string {
    const s = elapsedMs / 1000;
    const parts = [
      `${formatBytes(r.bytes)} in ${formatSeconds(s)} (${formatRate(s > 0 ? r.bytes / s : 0)})`
    ];
    if (r.resumed > 0) {
      parts.push(`resumed from ${formatBytes(r.resumed)}`);
    }
    let text = `${title}: ${parts.join(', ')}`;
    if (r.kind === 'dir') {
      text += `; ${r.files} file${r.files === 1 ? '' : 's'} copied, ${r.upToDate} already complete`;
    } else if (r.upToDate) {
      text += '; already complete (same size and time)';
    }
    return text;
  }

  export async function sftpOf(transport: ITransport): Promise<SFTPWrapper> {
    const t = transport as Partial<{
      sftpChannel(): Promise<SFTPWrapper | undefined>;
    }>;
    const sftp =
      typeof t.sftpChannel === 'function' ? await t.sftpChannel() : undefined;
    if (!sftp) {
      throw new Error(
        `${transport.cluster}: put and get need SFTP, which this server does not offer (its sshd has no sftp Subsystem)`
      );
    }
    return sftp;
  }
}
