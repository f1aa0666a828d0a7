/**
 * Moving a folder of values between the Jupyter server host and a cluster:
 * SFTP fastPut/fastGet (many requests in flight, no whole-file buffer in
 * Node) over the connection's SFTP channel; on the `local` cluster a hard
 * link (a copy across file systems). The manifest goes last both ways, so a
 * folder with a manifest is complete.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { SFTPWrapper, TransferOptions } from 'ssh2';

import type { IVarEntry, IVarsManifest } from '../../shared/data';
import type { IOpenCluster } from '../jobs/context';
import { sftpCall } from '../transport/sftp';
import type { ITransport } from '../transport/types';
import { shellQuote } from '../util/quote';
import { compressesWell, putDeflated, ZBLOCKS } from './varsDeflate';
import { readManifest } from './varsLocal';

/**
 * 8 MiB in flight: 64 requests of 128 KiB (OpenSSH's sftp-server takes up
 * to 256 KiB) beat ssh2's default 64 x 32 KiB and 16 x 255 KiB on loopback.
 */
export const TRANSFER: TransferOptions = {
  concurrency: 64,
  chunkSize: 128 * 1024
};

/**
 * Values at least this large travel on an SFTP channel of their own, which an
 * interrupt ends mid-file; smaller ones (sent in well under a second) take
 * the shared channel and stop between files.
 */
export const ABORTABLE_BYTES = 16 << 20;

/** Why a transfer of values stopped early: the cell's interrupt. */
export class VarsInterrupted extends Error {
  constructor(what: 'sending' | 'fetching') {
    super(
      what === 'sending'
        ? 'interrupted while sending the values'
        : 'interrupted while fetching the --out values: nothing was set'
    );
  }
}

/** A transport that can hand out SFTP channels (SshTransport). */
interface ISftpCapable {
  sftpChannel(): Promise<SFTPWrapper | undefined>;
  openSftpChannel(): Promise<SFTPWrapper | undefined>;
}

/**
 * Sends the folder's files, then its manifest, into a new remoteDir (0700).
 * An abort stops it (mid-file for large values), removes remoteDir and
 * rejects with VarsInterrupted.
 */
export async function uploadVars(
  open: IOpenCluster,
  localDir: string,
  manifest: IVarsManifest,
  remoteDir: string,
  signal?: AbortSignal
): Promise<void> {
  const { transport } = open;
  await makeRemoteDir(transport, remoteDir);
  const channel = await Private.channelFor(open, manifest, signal);
  const { sftp } = channel;
  const sent: IVarEntry[] = [];
  try {
    for (const entry of manifest.vars) {
      if (signal?.aborted) {
        throw new VarsInterrupted('sending');
      }
      const from = path.join(localDir, entry.file);
      const to = `${remoteDir}/${entry.file}`;
      if (sftp && (await compressesWell(from))) {
        await putDeflated(sftp, from, to);
        sent.push({ ...entry, encoding: ZBLOCKS });
        continue;
      }
      if (sftp) {
        await sftpCall<void>(cb => sftp.fastPut(from, to, TRANSFER, cb));
      } else if (Private.isLocal(open)) {
        await Private.linkOrCopy(from, to);
      } else {
        // No SFTP subsystem: one exec per file through the transport.
        await transport.writeFile(to, await fs.promises.readFile(from));
      }
      sent.push(entry);
    }
    if (signal?.aborted) {
      throw new VarsInterrupted('sending');
    }
    // Last: a folder with a manifest is complete. It says how each file travelled.
    const text = JSON.stringify({ ...manifest, vars: sent });
    if (sftp) {
      await sftpCall<void>(cb =>
        sftp.writeFile(`${remoteDir}/manifest.json`, text, { mode: 0o600 }, cb)
      );
    } else {
      await transport.writeFile(`${remoteDir}/manifest.json`, text);
    }
  } catch (err) {
    if (signal?.aborted) {
      await removeRemote(transport, remoteDir);
      throw new VarsInterrupted('sending');
    }
    const full = await Private.diskFull(transport, remoteDir);
    await removeRemote(transport, remoteDir);
    throw new Error(
      full
        ? `the disk of ${open.cluster.name} is full (${full}): the values were not sent; free space in ${remoteDir}'s file system`
        : `sending the values to ${open.cluster.name} failed: ${(err as Error).message}; nothing was set`
    );
  } finally {
    channel.done();
  }
}

/**
 * Fetches a folder the remote wrote after a cell into localDir: the manifest
 * first (it names the files), written last here. Returns the manifest. An
 * abort stops it (mid-file for large values) and rejects with
 * VarsInterrupted; the caller removes localDir.
 */
export async function downloadVars(
  open: IOpenCluster,
  remoteDir: string,
  localDir: string,
  signal?: AbortSignal
): Promise<IVarsManifest> {
  const { transport } = open;
  const manifestText = await transport.readFile(`${remoteDir}/manifest.json`);
  const staged = path.join(localDir, 'manifest.json.part');
  await fs.promises.writeFile(staged, manifestText, { mode: 0o600 });
  // Names are checked before any of them becomes a local path.
  const manifest = readManifest(localDir, 'manifest.json.part');
  const channel = await Private.channelFor(open, manifest, signal);
  const { sftp } = channel;
  try {
    for (const v of manifest.vars) {
      if (signal?.aborted) {
        throw new VarsInterrupted('fetching');
      }
      const from = `${remoteDir}/${v.file}`;
      const to = path.join(localDir, v.file);
      if (sftp) {
        await sftpCall<void>(cb => sftp.fastGet(from, to, TRANSFER, cb));
      } else if (Private.isLocal(open)) {
        await Private.linkOrCopy(from, to);
      } else {
        await fs.promises.writeFile(to, await transport.readFile(from), {
          mode: 0o600
        });
      }
    }
  } catch (err) {
    throw signal?.aborted ? new VarsInterrupted('fetching') : err;
  } finally {
    channel.done();
  }
  if (signal?.aborted) {
    throw new VarsInterrupted('fetching');
  }
  await fs.promises.rename(staged, path.join(localDir, 'manifest.json'));
  return manifest;
}

export async function makeRemoteDir(
  transport: ITransport,
  remoteDir: string
): Promise<void> {
  const made = await transport.exec(`mkdir -p -m 700 ${shellQuote(remoteDir)}`);
  if (made.code !== 0) {
    throw new Error(
      `cannot make ${remoteDir} on ${transport.cluster}: ${made.stderr.trim()}`
    );
  }
}

export async function removeRemote(
  transport: ITransport,
  ...remoteDirs: string[]
): Promise<void> {
  await transport
    .exec(`rm -rf ${remoteDirs.map(shellQuote).join(' ')}`)
    .catch(() => undefined);
}

namespace Private {
  export function isLocal(open: IOpenCluster): boolean {
    return open.cluster.config.type === 'local';
  }

  export async function sftpOf(
    open: IOpenCluster
  ): Promise<SFTPWrapper | undefined> {
    const t = open.transport as Partial<ISftpCapable>;
    return typeof t.sftpChannel === 'function' ? t.sftpChannel() : undefined;
  }

  /**
   * The SFTP channel for one transfer (undefined without SFTP): its own,
   * which an abort ends, for large values under a signal; else the shared
   * one. `done` ends an own channel and stops listening.
   */
  export async function channelFor(
    open: IOpenCluster,
    manifest: IVarsManifest,
    signal: AbortSignal | undefined
  ): Promise<{ sftp?: SFTPWrapper; done: () => void }> {
    const total = manifest.vars.reduce((sum, v) => sum + v.bytes, 0);
    const t = open.transport as Partial<ISftpCapable>;
    const own =
      signal && total >= ABORTABLE_BYTES && t.openSftpChannel
        ? await t.openSftpChannel()
        : undefined;
    const sftp = own ?? (await sftpOf(open));
    const cut = () => own?.end();
    signal?.addEventListener('abort', cut, { once: true });
    return {
      sftp,
      done: () => {
        signal?.removeEventListener('abort', cut);
        own?.end();
      }
    };
  }

  export async function linkOrCopy(from: string, to: string): Promise<void> {
    try {
      await fs.promises.link(from, to);
    } catch {
      await fs.promises.copyFile(from, to);
    }
  }

  /** "12 KiB free" when the file system of dir is (nearly) full, else undefined. */
  export async function diskFull(
    transport: ITransport,
    dir: string
  ): Promise<string | undefined> {
    const df = await transport
      .exec(`df -Pk ${shellQuote(path.posix.dirname(dir))} | tail -n 1`)
      .catch(() => undefined);
    const free = Number(df?.stdout.trim().split(/\s+/)[3]);
    return Number.isFinite(free) && free < 1024
      ? `${free} KiB free`
      : undefined;
  }
}
