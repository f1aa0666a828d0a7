/**
 * A shell-style wildcard pattern as a RegExp over the whole string, the way
 * ssh's match_pattern and glob(3) treat it: `*` any run, `?` one character
 * (newlines included), everything else literal.
 */
export function globToRegExp(pattern: string): RegExp {
  let body = '';
  for (const ch of pattern) {
    body +=
      ch === '*'
        ? '.*'
        : ch === '?'
          ? '.'
          : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${body}$`, 's');
}
