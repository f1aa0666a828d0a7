import { spawnSync } from 'child_process';
import fc from 'fast-check';
import { envPrefix, isEnvName, shellJoin, shellQuote } from './quote';

/** Runs a command line in a real /bin/sh and returns its stdout as UTF-8. */
function sh(command: string): string {
  const r = spawnSync('/bin/sh', ['-c', command], { encoding: 'buffer' });
  if (r.status !== 0) {
    throw new Error(`sh failed (${r.status}): ${r.stderr.toString()}`);
  }
  return r.stdout.toString('utf8');
}

/** Shell metacharacters and friends, mixed with unicode, to build hostile words. */
const HOSTILE = [
  "'",
  '"',
  '$',
  '`',
  '\\',
  '\n',
  '\r',
  '\t',
  ' ',
  '*',
  '?',
  '[',
  ']',
  '{',
  '}',
  '~',
  '!',
  '#',
  ';',
  '&',
  '|',
  '<',
  '>',
  '(',
  ')',
  '$(id)',
  '`id`',
  '${HOME}',
  "'\\''",
  '-n',
  '-e',
  '%s',
  '%',
  '=',
  'é',
  '日本',
  '😀',
  '\u00a0',
  '\x1b[31m',
  '\x7f'
];

/** No lone UTF-16 surrogates: such strings cannot cross a UTF-8 boundary intact. */
function wellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(
    s
  );
}

const hostileString = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary' })), {
    maxLength: 12
  })
  .map(parts => parts.join(''))
  .filter(s => !s.includes('\0') && wellFormed(s));

describe('shellQuote', () => {
  it('round-trips any string through a real /bin/sh', () => {
    fc.assert(
      fc.property(hostileString, s => {
        expect(sh(`printf %s ${shellQuote(s)}`)).toBe(s);
      }),
      { numRuns: 300 }
    );
  });

  it('keeps each argument one word through shellJoin', () => {
    fc.assert(
      fc.property(
        fc.array(hostileString, { minLength: 1, maxLength: 5 }),
        args => {
          // printf repeats its format for each argument: one NUL-terminated record per word.
          const out = sh(`printf '%s\\001' ${shellJoin(args)}`);
          expect(out).toBe(args.map(a => a + '\x01').join(''));
        }
      ),
      { numRuns: 150 }
    );
  });

  it('quotes the empty string as an empty word', () => {
    expect(shellQuote('')).toBe("''");
    expect(sh(`set -- ${shellQuote('')}; printf %s "$#"`)).toBe('1');
  });

  it('leaves safe words readable and quotes the rest', () => {
    expect(shellQuote('abc/def-1.2_x')).toBe('abc/def-1.2_x');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });

  it('never runs command substitutions', () => {
    const marker = `/tmp/cb-quote-${process.pid}`;
    const s = `$(touch ${marker})\`touch ${marker}\``;
    expect(sh(`printf %s ${shellQuote(s)}`)).toBe(s);
    expect(spawnSync('test', ['-e', marker]).status).not.toBe(0);
  });

  it('rejects NUL bytes', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('envPrefix', () => {
  it('exports hostile values exactly', () => {
    fc.assert(
      fc.property(hostileString, value => {
        const out = sh(
          `${envPrefix({ CB_VALUE: value })}printf %s "$CB_VALUE"`
        );
        expect(out).toBe(value);
      }),
      { numRuns: 100 }
    );
  });

  it('rejects invalid names', () => {
    fc.assert(
      fc.property(
        hostileString.filter(n => !isEnvName(n)),
        name => {
          expect(() => envPrefix({ [name]: 'x' })).toThrow(
            /invalid environment/
          );
        }
      )
    );
  });

  it('is empty without variables', () => {
    expect(envPrefix()).toBe('');
    expect(envPrefix({})).toBe('');
  });
});
