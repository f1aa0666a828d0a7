import { createHmac } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { utils } from 'ssh2';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  hostFieldMatches,
  hostKeyName,
  keyTypeOf,
  knownKeyTypes,
  parseKnownHosts,
  readKnownHosts
} from './knownHosts';

/** A fresh public key blob of the given type. */
function newKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): Buffer {
  const pair =
    type === 'ed25519'
      ? utils.generateKeyPairSync('ed25519')
      : utils.generateKeyPairSync('ecdsa', { bits: 256 });
  const parsed = utils.parseKey(pair.public);
  if (parsed instanceof Error) {
    throw parsed;
  }
  return parsed.getPublicSSH();
}

function line(hosts: string, key: Buffer, marker = ''): string {
  return `${marker ? marker + ' ' : ''}${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

function hashed(
  name: string,
  salt = Buffer.from('0123456789abcdefghij')
): string {
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  const k1 = newKey();
  const k2 = newKey();

  it('names hosts as ssh does', () => {
    expect(hostKeyName('example.org', 22)).toBe('example.org');
    expect(hostKeyName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('matches plain names, comma lists, ports, wildcards and negations', () => {
    expect(hostFieldMatches('a.org,b.org', 'b.org')).toBe(true);
    expect(hostFieldMatches('A.ORG', 'a.org')).toBe(true);
    expect(hostFieldMatches('a.org', '[a.org]:2222')).toBe(false);
    expect(hostFieldMatches('[a.org]:2222', '[a.org]:2222')).toBe(true);
    expect(hostFieldMatches('[a.org]:2222', '[a.org]:2223')).toBe(false);
    expect(hostFieldMatches('*.example.org', 'node1.example.org')).toBe(true);
    expect(hostFieldMatches('*.example.org', 'example.org')).toBe(false);
    expect(hostFieldMatches('node?.hpc', 'node7.hpc')).toBe(true);
    expect(hostFieldMatches('node?.hpc', 'node17.hpc')).toBe(false);
    expect(hostFieldMatches('*.hpc,!login.hpc', 'login.hpc')).toBe(false);
    expect(hostFieldMatches('*.hpc,!login.hpc', 'gpu.hpc')).toBe(true);
    // Regex metacharacters are literal.
    expect(hostFieldMatches('a.b', 'axb')).toBe(false);
  });

  it('matches hashed names (HMAC-SHA1), including [host]:port', () => {
    expect(hostFieldMatches(hashed('login.hpc'), 'login.hpc')).toBe(true);
    expect(hostFieldMatches(hashed('login.hpc'), 'other.hpc')).toBe(false);
    expect(
      hostFieldMatches(hashed('[login.hpc]:2222'), '[login.hpc]:2222')
    ).toBe(true);
    expect(hostFieldMatches('|1|broken', 'login.hpc')).toBe(false);
  });

  it('trusts the recorded key and reports a changed one', () => {
    const entries = parseKnownHosts(
      ['# comment', '', line('login.hpc', k1), line('other', k2)].join('\n'),
      'kh'
    );
    expect(checkHostKey(entries, 'login.hpc', k1).status).toBe('trusted');
    const changed = checkHostKey(entries, 'login.hpc', k2);
    expect(changed.status).toBe('changed');
    if (changed.status === 'changed') {
      expect(changed.entries[0]).toMatchObject({ file: 'kh', line: 3 });
    }
    expect(checkHostKey(entries, 'nowhere', k1)).toEqual({
      status: 'unknown',
      otherTypes: []
    });
  });

  it('refuses @revoked keys even when another line trusts them', () => {
    const entries = parseKnownHosts(
      [line('login.hpc', k1), line('*', k1, '@revoked')].join('\n')
    );
    expect(checkHostKey(entries, 'login.hpc', k1).status).toBe('revoked');
  });

  it('never trusts a key through @cert-authority lines', () => {
    const entries = parseKnownHosts(line('*.hpc', k1, '@cert-authority'));
    expect(checkHostKey(entries, 'login.hpc', k1).status).toBe('unknown');
  });

  it('treats a key of a new type as unknown, naming the known types', () => {
    const ec = newKey('ecdsa');
    const entries = parseKnownHosts(line('login.hpc', ec));
    expect(checkHostKey(entries, 'login.hpc', k1)).toEqual({
      status: 'unknown',
      otherTypes: ['ecdsa-sha2-nistp256']
    });
    expect(knownKeyTypes(entries, 'login.hpc')).toEqual([
      'ecdsa-sha2-nistp256'
    ]);
  });

  it('skips malformed lines', () => {
    const entries = parseKnownHosts(
      [
        'garbage',
        'host ssh-ed25519',
        'host ssh-ed25519 !!notbase64!!',
        '@weird host ssh-ed25519 AAAA',
        line('ok', k1)
      ].join('\n')
    );
    expect(entries.map(e => e.hosts)).toEqual(['ok']);
  });

  it('computes OpenSSH fingerprints', () => {
    // Same as `ssh-keygen -lf`: SHA256 of the blob, base64 without padding.
    expect(fingerprint(k1)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprint(k1)).not.toBe(fingerprint(k2));
  });

  it('records keys (plain or hashed) that then match', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-kh-'));
    try {
      const file = path.join(dir, 'sub', 'known_hosts');
      appendKnownHost(file, '[127.0.0.1]:2200', k1);
      appendKnownHost(file, 'login.hpc', k2, true);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const entries = readKnownHosts([file, path.join(dir, 'missing')]);
      expect(checkHostKey(entries, '[127.0.0.1]:2200', k1).status).toBe(
        'trusted'
      );
      expect(checkHostKey(entries, 'login.hpc', k2).status).toBe('trusted');
      expect(entries[1].hosts.startsWith('|1|')).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('agrees with ssh-keygen on real files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cb-kh-'));
    try {
      const file = path.join(dir, 'known_hosts');
      fs.writeFileSync(
        file,
        line('[h.example]:2222', k1) + '\n' + line('plain.example', k2) + '\n'
      );
      // ssh-keygen -H hashes the names in place: our matcher must still find them.
      const { status } = require('child_process').spawnSync(
        'ssh-keygen',
        ['-H', '-f', file],
        { stdio: 'ignore' }
      );
      expect(status).toBe(0);
      const entries = readKnownHosts([file]);
      expect(entries.every(e => e.hosts.startsWith('|1|'))).toBe(true);
      expect(checkHostKey(entries, '[h.example]:2222', k1).status).toBe(
        'trusted'
      );
      expect(checkHostKey(entries, 'plain.example', k2).status).toBe('trusted');
      expect(checkHostKey(entries, 'plain.example', k1).status).toBe('changed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
