/**
 * known_hosts: parsing, matching and recording host keys the way OpenSSH
 * does. Entries: plain names, comma lists, [host]:port, wildcards (* ?),
 * negation (!), hashed |1|salt|hash (HMAC-SHA1), @revoked (refuse the key)
 * and @cert-authority (ignored: we do not verify host certificates, so such
 * lines never make a key trusted).
 */
import { createHash, createHmac, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { globToRegExp } from '../util/glob';

export interface IKnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** The host field as written (patterns or a hashed name). */
  hosts: string;
  keyType: string;
  /** The key blob (base64-decoded). */
  key: Buffer;
  file: string;
  line: number;
}

export type HostKeyVerdict =
  /** A matching entry holds exactly this key. */
  | { status: 'trusted'; entry: IKnownHostEntry }
  /** This key is marked @revoked. */
  | { status: 'revoked'; entry: IKnownHostEntry }
  /** Entries of the same key type exist for this host, with another key. */
  | { status: 'changed'; entries: IKnownHostEntry[] }
  /** No entry of this key type for this host (`otherTypes` lists known ones). */
  | { status: 'unknown'; otherTypes: string[] };

/** The name known_hosts uses for a host and port: `host` on 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(
  text: string,
  file = '<memory>'
): IKnownHostEntry[] {
  const entries: IKnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) {
      continue;
    }
    const fields = line.split(/\s+/);
    let marker: IKnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') {
        marker = 'revoked';
      } else if (m === '@cert-authority') {
        marker = 'cert-authority';
      } else {
        continue; // unknown marker: ignore the line, as OpenSSH does
      }
    }
    if (fields.length < 3) {
      continue;
    }
    const [hosts, keyType, b64] = fields;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
      continue;
    }
    entries.push({
      marker,
      hosts,
      keyType,
      key: Buffer.from(b64, 'base64'),
      file,
      line: i + 1
    });
  }
  return entries;
}

/** Whether an entry's host field names `name` (already in `[host]:port` form when not 22). */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) {
      return false;
    }
    const mac = createHmac('sha1', Buffer.from(salt, 'base64'))
      .update(name)
      .digest('base64');
    return mac === hash;
  }
  let matched = false;
  const lower = name.toLowerCase();
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (Private.glob(pattern, lower)) {
      if (negated) {
        return false; // a matching negation vetoes the whole line
      }
      matched = true;
    }
  }
  return matched;
}

/** The key type inside an SSH key blob (its first string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) {
    return 'unknown';
  }
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint: `SHA256:` + unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return (
    'SHA256:' +
    createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
  );
}

/** `ssh-ed25519` -> `ED25519`, as OpenSSH names key types in its prompts. */
export function keyTypeLabel(keyType: string): string {
  if (keyType === 'ssh-ed25519') {
    return 'ED25519';
  }
  if (keyType.startsWith('ecdsa-')) {
    return 'ECDSA';
  }
  if (keyType === 'ssh-rsa') {
    return 'RSA';
  }
  return keyType.toUpperCase();
}

/** Checks a host key against entries (from every known_hosts file, in order). */
export function checkHostKey(
  entries: IKnownHostEntry[],
  name: string,
  key: Buffer
): HostKeyVerdict {
  const keyType = keyTypeOf(key);
  for (const e of entries) {
    if (
      e.marker === 'revoked' &&
      e.key.equals(key) &&
      hostFieldMatches(e.hosts, name)
    ) {
      return { status: 'revoked', entry: e };
    }
  }
  const forHost = entries.filter(
    e => !e.marker && hostFieldMatches(e.hosts, name)
  );
  const same = forHost.find(e => e.key.equals(key));
  if (same) {
    return { status: 'trusted', entry: same };
  }
  const sameType = forHost.filter(e => e.keyType === keyType);
  if (sameType.length) {
    return { status: 'changed', entries: sameType };
  }
  return {
    status: 'unknown',
    otherTypes: [...new Set(forHost.map(e => e.keyType))]
  };
}

/** Key types known for a host, so the client can prefer them (as OpenSSH does). */
export function knownKeyTypes(
  entries: IKnownHostEntry[],
  name: string
): string[] {
  return [
    ...new Set(
      entries
        .filter(e => !e.marker && hostFieldMatches(e.hosts, name))
        .map(e => e.keyType)
    )
  ];
}

/** Reads every file that exists; unreadable or missing files count as empty. */
export function readKnownHosts(files: string[]): IKnownHostEntry[] {
  const entries: IKnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return entries;
}

/**
 * Appends a host key (creating the file, and ~/.ssh, with private modes).
 * `hashed` writes a |1|salt|hash name as HashKnownHosts yes would.
 */
export function appendKnownHost(
  file: string,
  name: string,
  key: Buffer,
  hashed = false
): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let field = name;
  if (hashed) {
    const salt = randomBytes(20);
    field = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  }
  let prefix = '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length && !text.endsWith('\n')) {
      prefix = '\n';
    }
  } catch {
    // A new file.
  }
  fs.appendFileSync(
    file,
    `${prefix}${field} ${keyTypeOf(key)} ${key.toString('base64')}\n`,
    {
      mode: 0o600
    }
  );
}

namespace Private {
  /** ssh's match_pattern. */
  export function glob(pattern: string, s: string): boolean {
    return globToRegExp(pattern).test(s);
  }
}
