/**
 * Identity files: reads private keys, tells encrypted ones apart, and
 * decrypts them with a passphrase asked through the prompter. Decrypted keys
 * live only in memory (a per-transport cache), never on disk.
 */
import * as fs from 'fs';
import { utils, type ParsedKey } from 'ssh2';

export interface IIdentity {
  file: string;
  /** Parsed key, when it was not encrypted. */
  key?: ParsedKey;
  /** True when a passphrase is needed. */
  encrypted: boolean;
  /** The file's bytes (to decrypt later). */
  data: Buffer;
}

export interface ILoadedIdentities {
  identities: IIdentity[];
  /** Problems worth telling the user (an explicit file that is missing or unparsable). */
  problems: string[];
}

/** Loads the candidates that exist. Missing default files are silently skipped, as ssh does. */
export function loadIdentities(
  files: string[],
  explicit: boolean
): ILoadedIdentities {
  const identities: IIdentity[] = [];
  const problems: string[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch (err) {
      if (explicit) {
        problems.push(
          `identity file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`
        );
      }
      continue;
    }
    const parsed = parseIdentity(data);
    if (parsed === 'encrypted') {
      identities.push({ file, encrypted: true, data });
    } else if (parsed instanceof Error) {
      problems.push(
        `identity file ${file} is not a usable private key (${parsed.message})`
      );
    } else {
      identities.push({ file, key: parsed, encrypted: false, data });
    }
  }
  return { identities, problems };
}

/** Parses a key; 'encrypted' when it needs a passphrase. */
export function parseIdentity(
  data: Buffer,
  passphrase?: string
): ParsedKey | 'encrypted' | Error {
  const r = utils.parseKey(data, passphrase);
  const key = Array.isArray(r) ? r[0] : r;
  if (key instanceof Error) {
    if (passphrase === undefined && /encrypted|passphrase/i.test(key.message)) {
      return 'encrypted';
    }
    return key;
  }
  return key;
}
