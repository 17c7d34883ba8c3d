// The client verifies the receiver: a certificate for another host name, or from another
// CA, is refused at the handshake; nothing is sent, nothing moves, nothing is quarantined.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeWorld, type World } from '../helpers/world.js';

let w: World;
beforeEach(async () => {
  w = await makeWorld({ receiver: false });
});
afterEach(async () => {
  await w.close();
});

describe('a receiver the client must not trust', () => {
  for (const which of ['wrongNameServer', 'otherServer'] as const) {
    const what = which === 'wrongNameServer' ? 'whose certificate names another host' : 'whose certificate comes from another CA';
    it(`refuses a receiver ${what}: --ping and --once exit 69, the episode stays, the receiver gets nothing`, async () => {
      const cert = w.pki[which];
      await w.startReceiver({ tls: { ca: w.pki.ca.certPem, cert: cert.certPem, key: cert.keyPem } });
      await w.writeConfig();
      await w.makeEpisode('ep-1');
      const ping = await w.run(['--ping']);
      expect(ping.code).toBe(69);
      expect(ping.stdout + ping.stderr).toMatch(/certificate at https:\/\/127\.0\.0\.1:\d+ is not trusted; check receiver\.ca .* and receiver\.server_name/);
      const once = await w.run(['--once']);
      expect(once.code).toBe(69);
      expect(once.stderr).toMatch(/event=pass_stopped class=unreachable code=SHIP_RECEIVER_UNREACHABLE kind=tls_server_cert /);
      expect(await w.list(w.episodes)).toEqual(['ep-1']);
      expect(await w.list(w.quarantine)).toEqual([]);
      expect(await w.stored()).toEqual([]);
    });
  }

  it('a server_name that the receiver certificate does not carry is refused the same way', async () => {
    await w.startReceiver();
    await w.writeConfig({ 'receiver.server_name': 'someone-else.example' });
    await w.makeEpisode('ep-1');
    const once = await w.run(['--once']);
    expect(once.code).toBe(69);
    expect(once.stderr).toMatch(/kind=tls_server_cert/);
    expect(await w.stored()).toEqual([]);
  });
});
