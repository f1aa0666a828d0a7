/**
 * An ssh config file with its `Include` directives expanded in place, the
 * way ssh reads it (npm ssh-config parses Include but does not follow it):
 * relative paths are under ~/.ssh, `~` is the home directory, `*` and `?`
 * match file names (sorted, as ssh's glob does), missing files are skipped,
 * at most 16 levels deep. An Include inside a Host or Match block is inlined
 * there; when the included text opened blocks of its own, the enclosing
 * block's header is repeated after it, so the lines that follow the Include
 * keep belonging to that block, as in ssh. File access is injected for tests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { globToRegExp } from '../util/glob';

/** ssh's READCONF_MAX_DEPTH. */
export const MAX_INCLUDE_DEPTH = 16;

export interface IIncludeFileSystem {
  /** File text, or undefined when it cannot be read. */
  readFile(file: string): string | undefined;
  /** Entry names of a directory, or undefined when it cannot be listed. */
  readDir(dir: string): string[] | undefined;
}

export const nodeFileSystem: IIncludeFileSystem = {
  readFile: file => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  },
  readDir: dir => {
    try {
      return fs.readdirSync(dir);
    } catch {
      return undefined;
    }
  }
};

/** Reads an ssh config file with its Includes expanded; undefined when it cannot be read. */
export function readSshConfigText(
  file: string,
  home: string,
  files: IIncludeFileSystem = nodeFileSystem
): string | undefined {
  const text = files.readFile(file);
  return text === undefined ? undefined : expandIncludes(text, home, files);
}

export function expandIncludes(
  text: string,
  home: string,
  files: IIncludeFileSystem = nodeFileSystem
): string {
  return Private.expand(text, home, files, 0).text;
}

namespace Private {
  /** The expanded text, and whether it (or a file it includes) opens Host/Match blocks. */
  export function expand(
    text: string,
    home: string,
    files: IIncludeFileSystem,
    depth: number
  ): { text: string; opensBlocks: boolean } {
    const out: string[] = [];
    let header = '';
    let opensBlocks = false;
    for (const line of text.split(/\r?\n/)) {
      const parsed = directive(line);
      const keyword = parsed?.keyword.toLowerCase();
      if (keyword === 'host' || keyword === 'match') {
        header = line.trim();
        opensBlocks = true;
      }
      if (!parsed || keyword !== 'include') {
        out.push(line);
        continue;
      }
      out.push(`# ${line.trim()}`);
      if (depth >= MAX_INCLUDE_DEPTH) {
        continue; // ssh refuses deeper nesting; so do we, without failing
      }
      let opened = false;
      for (const pattern of words(parsed.value)) {
        for (const file of glob(absolute(pattern, home), files)) {
          const included = files.readFile(file);
          if (included !== undefined) {
            const inner = expand(included, home, files, depth + 1);
            opened = opened || inner.opensBlocks;
            out.push(inner.text);
          }
        }
      }
      if (opened) {
        // Back to the block the Include was written in (top level: every host).
        out.push(header || 'Match all');
        opensBlocks = true;
      }
    }
    return { text: out.join('\n'), opensBlocks };
  }

  export function directive(
    line: string
  ): { keyword: string; value: string } | undefined {
    const m = /^\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$/.exec(line);
    return m && !line.trimStart().startsWith('#')
      ? { keyword: m[1], value: m[2] }
      : undefined;
  }

  /** Whitespace-separated words; double quotes group. */
  export function words(value: string): string[] {
    const found: string[] = [];
    const re = /"([^"]*)"|(\S+)/g;
    for (let m = re.exec(value); m; m = re.exec(value)) {
      found.push(m[1] ?? m[2]);
    }
    return found;
  }

  export function absolute(pattern: string, home: string): string {
    if (pattern === '~' || pattern.startsWith('~/')) {
      return path.join(home, pattern.slice(1));
    }
    return path.isAbsolute(pattern)
      ? pattern
      : path.join(home, '.ssh', pattern);
  }

  /** Files matching an absolute pattern with * and ? in any segment, sorted. */
  export function glob(pattern: string, files: IIncludeFileSystem): string[] {
    const segments = pattern.split('/').filter(Boolean);
    let found = ['/'];
    for (const segment of segments) {
      const next: string[] = [];
      for (const dir of found) {
        if (!/[*?]/.test(segment)) {
          next.push(path.join(dir, segment));
          continue;
        }
        const re = globToRegExp(segment);
        for (const name of (files.readDir(dir) ?? []).sort()) {
          if (
            re.test(name) &&
            !(name.startsWith('.') && !segment.startsWith('.'))
          ) {
            next.push(path.join(dir, name));
          }
        }
      }
      found = next;
    }
    return found;
  }
}
