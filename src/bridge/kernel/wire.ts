/**
 * The Jupyter wire protocol (5.3) over ZeroMQ multipart frames, with no sockets:
 *   [identities..., '<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]
 * The signature is HMAC-SHA256 (hex) over the four JSON frames, keyed by the
 * connection file's key; an empty key disables signing, as the spec allows.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'crypto';

export const DELIMITER = '<IDS|MSG>';
export const PROTOCOL_VERSION = '5.3';

export type Channel = 'shell' | 'control' | 'stdin' | 'iopub';

export interface IHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [key: string]: unknown;
}

export type JSONObject = { [key: string]: unknown };

export interface IMessage {
  /** ZeroMQ routing identities (shell/control/stdin), or the iopub topic. */
  identities: Buffer[];
  header: IHeader;
  /** Empty object for messages with no parent. */
  parent_header: IHeader | Record<string, never>;
  metadata: JSONObject;
  content: JSONObject;
  buffers: Buffer[];
}

export type DecodeResult =
  | { ok: true; message: IMessage }
  | { ok: false; reason: string; identities: Buffer[] };

/** Signs and checks messages with one key; the key never leaves this object. */
export class Signer {
  constructor(key: string, scheme = 'hmac-sha256') {
    if (key !== '' && scheme !== 'hmac-sha256') {
      throw new Error(
        `unsupported signature scheme ${scheme} (only hmac-sha256)`
      );
    }
    this._key = key;
  }

  get enabled(): boolean {
    return this._key !== '';
  }

  sign(frames: Buffer[]): string {
    if (!this.enabled) {
      return '';
    }
    const hmac = createHmac('sha256', this._key);
    for (const f of frames) {
      hmac.update(f);
    }
    return hmac.digest('hex');
  }

  /** Constant-time comparison of the expected and the given signature. */
  verify(signature: Buffer, frames: Buffer[]): boolean {
    if (!this.enabled) {
      return true;
    }
    const expected = Buffer.from(this.sign(frames), 'ascii');
    if (signature.length !== expected.length) {
      return false;
    }
    return timingSafeEqual(signature, expected);
  }

  private _key: string;
}

/** Parses and verifies a multipart message; never throws. */
export function decode(frames: Buffer[], signer: Signer): DecodeResult {
  const delim = frames.findIndex(
    f => f.length === DELIMITER.length && f.toString() === DELIMITER
  );
  const identities = delim < 0 ? [] : frames.slice(0, delim);
  if (delim < 0) {
    return { ok: false, reason: 'no <IDS|MSG> delimiter', identities };
  }
  if (frames.length < delim + 6) {
    return {
      ok: false,
      reason: `too few frames (${frames.length})`,
      identities
    };
  }
  const signature = frames[delim + 1];
  const parts = frames.slice(delim + 2, delim + 6);
  if (!signer.verify(signature, parts)) {
    return { ok: false, reason: 'bad signature', identities };
  }
  let parsed: unknown[];
  try {
    parsed = parts.map(p => JSON.parse(p.toString('utf8')));
  } catch (err) {
    return {
      ok: false,
      reason: `invalid JSON: ${(err as Error).message}`,
      identities
    };
  }
  const [header, parent, metadata, content] = parsed;
  if (
    !Private.isObject(header) ||
    typeof header.msg_type !== 'string' ||
    typeof header.msg_id !== 'string'
  ) {
    return { ok: false, reason: 'header without msg_id/msg_type', identities };
  }
  return {
    ok: true,
    message: {
      identities,
      header: header as IHeader,
      parent_header: (Private.isObject(parent)
        ? parent
        : {}) as IMessage['parent_header'],
      metadata: Private.isObject(metadata) ? metadata : {},
      content: Private.isObject(content) ? content : {},
      buffers: frames.slice(delim + 6)
    }
  };
}

/** Serializes and signs a message into frames. */
export function encode(message: IMessage, signer: Signer): Buffer[] {
  const parts = [
    message.header,
    message.parent_header,
    message.metadata,
    message.content
  ].map(p => Buffer.from(JSON.stringify(p), 'utf8'));
  return [
    ...message.identities,
    Buffer.from(DELIMITER),
    Buffer.from(signer.sign(parts), 'ascii'),
    ...parts,
    ...message.buffers
  ];
}

/** Session facts the kernel stamps on every message it creates. */
export interface ISessionInfo {
  session: string;
  username: string;
}

export function newSession(username = 'cluster-bridge'): ISessionInfo {
  return { session: randomUUID(), username };
}

export function makeHeader(msgType: string, session: ISessionInfo): IHeader {
  return {
    msg_id: randomUUID(),
    msg_type: msgType,
    session: session.session,
    username: session.username,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION
  };
}

/**
 * A new message whose parent is `parent` (a reply, or an iopub side effect).
 * Identities are the parent's for replies; iopub messages get a topic instead.
 */
export function makeMessage(
  msgType: string,
  content: JSONObject,
  session: ISessionInfo,
  parent?: IMessage,
  metadata: JSONObject = {},
  identities?: Buffer[]
): IMessage {
  return {
    identities: identities ?? (parent ? parent.identities : []),
    header: makeHeader(msgType, session),
    parent_header: parent ? parent.header : {},
    metadata,
    content,
    buffers: []
  };
}

/** The iopub topic frame ipykernel uses: `kernel.<id>.<msg_type>`. */
export function iopubTopic(kernelId: string, msgType: string): Buffer {
  return Buffer.from(`kernel.${kernelId}.${msgType}`);
}

namespace Private {
  export function isObject(v: unknown): v is JSONObject {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }
}
