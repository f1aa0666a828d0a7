/**
 * POSIX shell quoting. Every string that reaches a remote (or local) shell
 * goes through shellQuote(): a single-quoted word in which only `'` needs
 * care ('\'' closes, escapes and reopens). Works in sh, bash, dash, zsh, ksh.
 */

/** Words that never need quoting (no leading `=`: zsh expands `=cmd`); keeps logs readable. */
const SAFE = /^[A-Za-z0-9_@%+:,./-][A-Za-z0-9_@%+=:,./-]*$/;

/**
 * Quotes one string as a single shell word. NUL cannot be passed through
 * argv or a shell word, so it is rejected rather than silently truncated.
 */
export function shellQuote(s: string): string {
  if (typeof s !== 'string') {
    throw new TypeError(`shellQuote: expected a string, got ${typeof s}`);
  }
  if (s.includes('\0')) {
    throw new Error('shellQuote: a shell word cannot contain a NUL byte');
  }
  if (s === '') {
    return "''";
  }
  if (SAFE.test(s)) {
    return s;
  }
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each argument and joins them with spaces: a command line for `sh -c`. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/** A valid shell variable name (for `env NAME=value` prefixes and exports). */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name);
}

/**
 * `export A='1' B='2'; ` prefix for a command line (works for compound
 * commands, unlike `env A=1 cmd`; ssh's own env requests are usually refused
 * by sshd's AcceptEnv). Invalid names are rejected: they could not be set.
 */
export function envPrefix(env?: { [name: string]: string }): string {
  if (!env) {
    return '';
  }
  const names = Object.keys(env);
  if (names.length === 0) {
    return '';
  }
  for (const name of names) {
    if (!isEnvName(name)) {
      throw new Error(
        `invalid environment variable name: ${JSON.stringify(name)}`
      );
    }
  }
  return (
    'export ' + names.map(n => `${n}=${shellQuote(env[n])}`).join(' ') + '; '
  );
}
