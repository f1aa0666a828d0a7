import { createHmac } from 'crypto';

import {
  decode,
  DELIMITER,
  encode,
  IMessage,
  makeMessage,
  newSession,
  Signer
} from './wire';

const KEY = 'a0436f6c-1916-498b-8eb9-e81ab9368e84';

function sample(): IMessage {
  const session = newSession('tester');
  const parent = makeMessage(
    'execute_request',
    { code: '1' },
    session,
    undefined,
    {},
    [Buffer.from('client-1')]
  );
  return makeMessage(
    'execute_reply',
    { status: 'ok', text: 'é ✓' },
    session,
    parent
  );
}

describe('Signer', () => {
  it('computes HMAC-SHA256 over the four JSON frames as hex', () => {
    const frames = ['{"a":1}', '{}', '{}', '{"b":2}'].map(s => Buffer.from(s));
    const expected = createHmac('sha256', KEY)
      .update(frames[0])
      .update(frames[1])
      .update(frames[2])
      .update(frames[3])
      .digest('hex');
    expect(new Signer(KEY).sign(frames)).toBe(expected);
  });

  it('signs nothing with an empty key', () => {
    const s = new Signer('');
    expect(s.enabled).toBe(false);
    expect(s.sign([Buffer.from('x')])).toBe('');
    expect(s.verify(Buffer.from('anything'), [])).toBe(true);
  });

  it('rejects unknown schemes', () => {
    expect(() => new Signer(KEY, 'hmac-md5')).toThrow(
      /unsupported signature scheme/
    );
  });
});

describe('encode/decode', () => {
  it('round-trips identities, header, parent, content and buffers', () => {
    const signer = new Signer(KEY);
    const msg = { ...sample(), buffers: [Buffer.from([0, 1, 2])] };
    const frames = encode(msg, signer);
    expect(frames[0].toString()).toBe('client-1');
    expect(frames[1].toString()).toBe(DELIMITER);
    const result = decode(frames, signer);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.message.identities.map(b => b.toString())).toEqual([
        'client-1'
      ]);
      expect(result.message.header).toEqual(msg.header);
      expect(result.message.parent_header).toEqual(msg.parent_header);
      expect(result.message.content).toEqual({ status: 'ok', text: 'é ✓' });
      expect(result.message.buffers).toEqual([Buffer.from([0, 1, 2])]);
    }
  });

  it('accepts several identities and none', () => {
    const signer = new Signer(KEY);
    for (const ids of [[], [Buffer.from('a'), Buffer.from('b')]]) {
      const frames = encode({ ...sample(), identities: ids }, signer);
      const r = decode(frames, signer);
      expect(r.ok && r.message.identities.length).toBe(ids.length);
    }
  });

  it('drops a message signed with another key', () => {
    const frames = encode(sample(), new Signer('other-key'));
    const r = decode(frames, new Signer(KEY));
    expect(r).toMatchObject({ ok: false, reason: 'bad signature' });
    if (!r.ok) {
      expect(r.reason).not.toContain(KEY);
    }
  });

  it('drops a message whose content was altered after signing', () => {
    const signer = new Signer(KEY);
    const frames = encode(sample(), signer);
    frames[frames.length - 1] = Buffer.from('{"status":"evil"}');
    expect(decode(frames, signer)).toMatchObject({
      ok: false,
      reason: 'bad signature'
    });
  });

  it('drops unsigned messages and truncated signatures when a key is set', () => {
    const frames = encode(sample(), new Signer(''));
    expect(decode(frames, new Signer(KEY))).toMatchObject({
      ok: false,
      reason: 'bad signature'
    });
    const signed = encode(sample(), new Signer(KEY));
    const i = signed.findIndex(f => f.toString() === DELIMITER) + 1;
    signed[i] = signed[i].subarray(0, 10);
    expect(decode(signed, new Signer(KEY))).toMatchObject({
      ok: false,
      reason: 'bad signature'
    });
  });

  it('reports malformed multipart messages without throwing', () => {
    const signer = new Signer('');
    expect(decode([], signer)).toMatchObject({
      ok: false,
      reason: 'no <IDS|MSG> delimiter'
    });
    expect(
      decode([Buffer.from(DELIMITER), Buffer.from('')], signer)
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/too few frames/)
    });
    const bad = [DELIMITER, '', '{not json', '{}', '{}', '{}'].map(s =>
      Buffer.from(s)
    );
    expect(decode(bad, signer)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/invalid JSON/)
    });
    const noType = [DELIMITER, '', '{"msg_id":"x"}', '{}', '{}', '{}'].map(s =>
      Buffer.from(s)
    );
    expect(decode(noType, signer)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/msg_type/)
    });
    const arr = [DELIMITER, '', '[]', '{}', '{}', '{}'].map(s =>
      Buffer.from(s)
    );
    expect(decode(arr, signer).ok).toBe(false);
  });

  it('replaces non-object parent/metadata/content with empty objects', () => {
    const h = JSON.stringify({ msg_id: '1', msg_type: 'kernel_info_request' });
    const frames = [DELIMITER, '', h, 'null', '[1]', '"x"'].map(s =>
      Buffer.from(s)
    );
    const r = decode(frames, new Signer(''));
    expect(
      r.ok && [r.message.parent_header, r.message.metadata, r.message.content]
    ).toEqual([{}, {}, {}]);
  });
});

describe('makeMessage', () => {
  it('parents a reply to its request and keeps its identities', () => {
    const session = newSession();
    const req = makeMessage('kernel_info_request', {}, session, undefined, {}, [
      Buffer.from('id')
    ]);
    const rep = makeMessage('kernel_info_reply', {}, session, req);
    expect(rep.parent_header).toEqual(req.header);
    expect(rep.identities).toBe(req.identities);
    expect(rep.header.version).toBe('5.3');
    expect(rep.header.msg_id).not.toBe(req.header.msg_id);
    expect(new Date(rep.header.date).getTime()).not.toBeNaN();
  });
});
