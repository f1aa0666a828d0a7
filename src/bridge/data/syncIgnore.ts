/**
 * What `--sync` leaves out: the default excludes and the common subset of
 * `.gitignore` (comments, globs with `*`, `?`, `[...]` and `**`, folder-only
 * `dir/`, anchored `/x` or `a/b`, negation `!`), each file applying below its
 * own folder, the last matching line winning, as git does.
 */

/** Names never mirrored: version control, caches, dependency folders. */
export const DEFAULT_EXCLUDES = [
  '.git',
  '.hg',
  '.svn',
  '__pycache__',
  '.ipynb_checkpoints',
  'node_modules',
  '.venv',
  '*.pyc',
  '*.pyo'
];

/** Files whose presence marks a folder as a Python environment (venv, conda), never mirrored. */
export const ENV_MARKERS = ['pyvenv.cfg', 'conda-meta'];

interface IRule {
  /** Folder of the .gitignore, relative to the root ('' at the root). */
  base: string;
  regex: RegExp;
  negated: boolean;
  dirOnly: boolean;
  /** Matched against the whole path below `base`, else against the last name. */
  anchored: boolean;
}

/** The rules in force in one folder: its ancestors' .gitignore lines, then its own. */
export class IgnoreRules {
  static defaults(): IgnoreRules {
    return new IgnoreRules([]).add('', DEFAULT_EXCLUDES.join('\n'));
  }

  private constructor(rules: IRule[]) {
    this._rules = rules;
  }

  /** The rules below `base` once its .gitignore (`text`) is read. */
  add(base: string, text: string): IgnoreRules {
    const rules = Private.parse(base, text);
    return rules.length ? new IgnoreRules([...this._rules, ...rules]) : this;
  }

  /** Whether `path` (relative to the root, '/'-separated) is left out. */
  ignored(path: string, isDir: boolean): boolean {
    for (let i = this._rules.length - 1; i >= 0; i--) {
      const rule = this._rules[i];
      if (rule.dirOnly && !isDir) {
        continue;
      }
      let rel = path;
      if (rule.base) {
        if (!path.startsWith(rule.base + '/')) {
          continue;
        }
        rel = path.slice(rule.base.length + 1);
      }
      const subject = rule.anchored ? rel : rel.slice(rel.lastIndexOf('/') + 1);
      if (rule.regex.test(subject)) {
        return !rule.negated;
      }
    }
    return false;
  }

  private _rules: IRule[];
}

/** A .gitignore glob as a RegExp over a '/'-separated path. */
export function gitGlob(pattern: string): RegExp {
  let body = '';
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      const before = i === 0 || pattern[i - 1] === '/';
      const after = i + 2 === pattern.length || pattern[i + 2] === '/';
      if (before && after) {
        if (i + 2 === pattern.length) {
          body += '.*'; // `a/**`: everything inside
        } else {
          body += '(?:.*/)?'; // `**/` : zero or more folders
          i++;
        }
        i += 2;
        continue;
      }
    }
    if (ch === '*') {
      body += '[^/]*';
    } else if (ch === '?') {
      body += '[^/]';
    } else if (ch === '\\' && i + 1 < pattern.length) {
      i++;
      body += Private.escape(pattern[i]);
    } else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        body += '\\[';
      } else {
        let set = pattern.slice(i + 1, end);
        if (set.startsWith('!') || set.startsWith('^')) {
          set = '^' + set.slice(1);
        }
        body += `(?!/)[${set.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else {
      body += Private.escape(ch);
    }
    i++;
  }
  return new RegExp(`^${body}$`, 's');
}

namespace Private {
  export function parse(base: string, text: string): IRule[] {
    const rules: IRule[] = [];
    for (let line of text.split('\n')) {
      line = line.replace(/\r$/, '');
      if (!line.endsWith('\\ ')) {
        line = line.replace(/[ \t]+$/, '');
      }
      if (line === '' || line.startsWith('#')) {
        continue;
      }
      let negated = false;
      if (line.startsWith('!')) {
        negated = true;
        line = line.slice(1);
      } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
        line = line.slice(1);
      }
      let dirOnly = false;
      if (line.endsWith('/')) {
        dirOnly = true;
        line = line.replace(/\/+$/, '');
      }
      const anchored = line.includes('/');
      line = line.replace(/^\/+/, '');
      if (line === '') {
        continue;
      }
      try {
        rules.push({ base, regex: gitGlob(line), negated, dirOnly, anchored });
      } catch {
        // A line git would not understand either: skipped, as git does.
      }
    }
    return rules;
  }

  export function escape(ch: string): string {
    return ch.replace(/[.+^${}()|[\]\\*?/]/g, '\\$&');
  }
}
