/**
 * Copies a file or a folder between endpoints: lists the source first (so
 * progress knows the total), refusing names that would leave the folder and
 * skipping links that point out of it (or at folders) with a notice, then
 * makes the folders and copies each file (transferCopy.ts), skipping those
 * already complete. Nothing below the destination is written through a link.
 */
import { copyFile, type ICopyOptions } from './transferCopy';
import type { IEndpoint, IEntryStat } from './transferEndpoint';
import { isInside, unsafeName } from './transferPaths';

export interface ITreeOptions extends ICopyOptions {
  /** A line for the user (a skipped link or name). */
  notice(text: string): void;
  /** Called once the source is listed: the bytes to look at. */
  onTotal?(bytes: number): void;
}

export interface ITreeResult {
  /** Files written (whole or continued). */
  files: number;
  /** Files already complete at the destination. */
  upToDate: number;
  /** Bytes written this time. */
  bytes: number;
  /** Bytes of every file of the source. */
  total: number;
  /** Bytes earlier tries had written, continued rather than sent again. */
  resumed: number;
  kind: 'file' | 'dir';
}

/** One entry of the source, relative to its root. */
interface IItem {
  rel: string[];
  stat: IEntryStat;
}

export async function copyTree(
  src: IEndpoint,
  from: string,
  dst: IEndpoint,
  to: string,
  options: ITreeOptions
): Promise<ITreeResult> {
  // The named source itself may be a link (the user chose it); what is below it may not lead out.
  const top = await src.stat(from);
  if (!top || (top.kind !== 'file' && top.kind !== 'dir')) {
    throw new Error(
      `${src.label}: ${from} ${top ? 'is not a file or a folder' : 'does not exist'}`
    );
  }
  const items: IItem[] =
    top.kind === 'file'
      ? [{ rel: [], stat: top }]
      : await Private.list(src, from, options.notice);
  const total = items.reduce(
    (n, i) => n + (i.stat.kind === 'file' ? i.stat.size : 0),
    0
  );
  options.onTotal?.(total);
  const result: ITreeResult = {
    files: 0,
    upToDate: 0,
    bytes: 0,
    total,
    resumed: 0,
    kind: top.kind
  };
  if (top.kind === 'dir') {
    await Private.rootFolder(dst, to);
  } else {
    await Private.mkdirs(dst, dst.path.dirname(to));
  }
  for (const item of items) {
    const target = dst.path.join(to, ...item.rel);
    if (item.stat.kind === 'dir') {
      await Private.folder(dst, target);
      continue;
    }
    const r = await copyFile(
      src,
      src.path.join(from, ...item.rel),
      item.stat,
      dst,
      target,
      options
    );
    if (r.upToDate) {
      result.upToDate++;
      continue;
    }
    if (r.restarted) {
      options.notice(`${target}: started over (${r.restarted})`);
    }
    result.files++;
    result.bytes += r.bytes;
    result.resumed += r.resumedFrom;
  }
  return result;
}

namespace Private {
  /** Every folder and file below root, parents before children, sorted. */
  export async function list(
    src: IEndpoint,
    root: string,
    notice: (text: string) => void
  ): Promise<IItem[]> {
    const realRoot = await src.realpath(root);
    const out: IItem[] = [];
    const walk = async (rel: string[]): Promise<void> => {
      const dir = src.path.join(root, ...rel);
      for (const name of (await src.readdir(dir)).sort()) {
        const p = src.path.join(dir, name);
        const bad = unsafeName(name);
        if (bad) {
          notice(`${src.label}: skipped an entry of ${dir}: ${bad}`);
          continue;
        }
        let stat = await src.lstat(p);
        if (stat?.kind === 'link') {
          const real = await src.realpath(p).catch(() => undefined);
          const target =
            real && isInside(realRoot, real) ? await src.stat(p) : undefined;
          if (target?.kind !== 'file') {
            notice(
              `${src.label}: skipped the link ${p}: ${target ? 'it points to a folder' : 'it points out of the folder being copied (or nowhere)'}`
            );
            continue;
          }
          stat = target;
        }
        if (!stat || (stat.kind !== 'file' && stat.kind !== 'dir')) {
          if (stat) {
            notice(`${src.label}: skipped ${p}: not a file or a folder`);
          }
          continue;
        }
        out.push({ rel: [...rel, name], stat });
        if (stat.kind === 'dir') {
          await walk([...rel, name]);
        }
      }
    };
    await walk([]);
    return out;
  }

  /** The destination of a folder: made, or an existing folder (a link to one is fine: the user named it). */
  export async function rootFolder(dst: IEndpoint, to: string): Promise<void> {
    const s = await dst.stat(to);
    if (!s) {
      await mkdirs(dst, to);
    } else if (s.kind !== 'dir') {
      throw new Error(
        `${dst.label}: ${to} is a file; a folder will not replace it. Remove it or choose another destination.`
      );
    }
  }

  /** A folder below the destination root: made, or an existing real folder (never a link). */
  export async function folder(dst: IEndpoint, p: string): Promise<void> {
    const s = await dst.lstat(p);
    if (!s) {
      await dst.mkdir(p);
    } else if (s.kind !== 'dir') {
      throw new Error(
        `${dst.label}: ${p} is ${s.kind === 'link' ? 'a link (nothing is written through links)' : 'a file'}; ` +
          'the folder will not replace it. Remove it or choose another destination.'
      );
    }
  }

  /** Makes p and its missing parents. */
  export async function mkdirs(dst: IEndpoint, p: string): Promise<void> {
    if ((await dst.stat(p))?.kind === 'dir') {
      return;
    }
    const parent = dst.path.dirname(p);
    if (parent !== p) {
      await mkdirs(dst, parent);
    }
    await dst.mkdir(p);
  }
}
