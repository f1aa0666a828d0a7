/**
 * Host keys of an SSH endpoint: which algorithms to ask for (known ones
 * first, as OpenSSH does) and the known_hosts verdict on the key offered
 * (trusted, revoked, changed, or unknown: asked, then recorded on yes).
 */
import { TransportError } from './errors';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  keyTypeLabel,
  keyTypeOf,
  type readKnownHosts
} from './knownHosts';
import type { ISshEndpoint } from './sshRoute';

const ALL_HOST_KEY = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa'
];

/** Prefer the key types known_hosts already has for this host (as OpenSSH does). */
export function hostKeyAlgorithms(known: string[]): string[] {
  const first: string[] = [];
  for (const t of known) {
    const algos =
      t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t];
    for (const a of algos) {
      if (ALL_HOST_KEY.includes(a) && !first.includes(a)) {
        first.push(a);
      }
    }
  }
  return [...first, ...ALL_HOST_KEY.filter(a => !first.includes(a))];
}

export async function verifyHostKey(
  endpoint: ISshEndpoint,
  keyName: string,
  key: Buffer,
  entries: ReturnType<typeof readKnownHosts>,
  ask: (prompt: string, password: boolean) => Promise<string>
): Promise<void> {
  const verdict = checkHostKey(entries, keyName, key);
  const type = keyTypeLabel(keyTypeOf(key));
  const fp = fingerprint(key);
  if (verdict.status === 'trusted') {
    return;
  }
  if (verdict.status === 'revoked') {
    throw new TransportError(
      'hostkey',
      `refusing to connect to ${keyName}: its ${type} host key ${fp} is marked as REVOKED in ${verdict.entry.file}:${verdict.entry.line}.`
    );
  }
  if (verdict.status === 'changed') {
    const where = verdict.entries.map(e => `${e.file}:${e.line}`).join(', ');
    throw new TransportError(
      'hostkey',
      [
        '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
        '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
        '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
        'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
        'Someone could be eavesdropping on you right now (man-in-the-middle attack)!',
        'It is also possible that a host key has just been changed.',
        `The ${type} key sent by the remote host ${keyName} is`,
        `${fp}.`,
        `The key recorded for it is in ${where}.`,
        'Connection refused. If the change is expected, remove the old key (e.g.',
        `ssh-keygen -R '${keyName}'${verdict.entries[0] ? ` -f ${verdict.entries[0].file}` : ''}) and connect again.`
      ].join('\n')
    );
  }
  const strict = endpoint.strictHostKeyChecking;
  const recordIn = endpoint.knownHostsFiles[0];
  if (strict === 'yes') {
    throw new TransportError(
      'hostkey',
      `refusing to connect to ${keyName}: its ${type} host key ${fp} is not in ${endpoint.knownHostsFiles.join(' or ')} and StrictHostKeyChecking is yes.`
    );
  }
  // 'no' and 'accept-new' are not honoured: a cell never accepts a key silently.
  const note = verdict.otherTypes.length
    ? `\nbut keys of different type are already known for this host (${verdict.otherTypes.join(', ')}).`
    : '';
  const prompt =
    `The authenticity of host '${keyName}' can't be established.\n` +
    `${type} key fingerprint is ${fp}.${note}\n` +
    `Are you sure you want to continue connecting (yes/no)? `;
  let answer: string;
  try {
    answer = await ask(prompt, false);
  } catch (err) {
    throw new TransportError(
      'hostkey',
      `refusing to connect to ${keyName}: its ${type} host key ${fp} is unknown (not in ${endpoint.knownHostsFiles.join(' or ')}) and the user could not be asked to confirm it. Add the key to known_hosts (e.g. connect once with ssh) and try again.`,
      err
    );
  }
  if (answer.trim().toLowerCase() !== 'yes') {
    throw new TransportError(
      'hostkey',
      `host key verification failed: the ${type} key ${fp} of ${keyName} was not accepted.`
    );
  }
  try {
    appendKnownHost(recordIn, keyName, key, endpoint.hashKnownHosts);
  } catch (err) {
    throw new TransportError(
      'hostkey',
      `accepted the host key of ${keyName} but cannot record it in ${recordIn}: ${(err as Error).message}`,
      err
    );
  }
}
