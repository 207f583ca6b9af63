// SPDX-License-Identifier: Apache-2.0
//
// Looking for secrets where they must never be: a secret is searched for as
// written and in the encodings a careless log line or header would give it
// (base64, base64url, hex, percent-encoding), plus its distinctive random
// core, so a prefix-truncated or re-encoded leak is caught too. Used by
// security.test.mjs (the whole stack) and governance.test.mjs (keys).

/** Every form of one secret worth searching for; [label, text] pairs. */
export function secretForms(secret, core) {
  const b = Buffer.from(secret, 'utf8');
  const forms = [
    ['raw', secret],
    ['base64', b.toString('base64')],
    ['base64 (unpadded)', b.toString('base64').replace(/=+$/, '')],
    ['base64url', b.toString('base64url')],
    ['hex', b.toString('hex')],
    ['HEX', b.toString('hex').toUpperCase()],
    ['percent-encoded', encodeURIComponent(secret)],
  ];
  if (core) forms.push(['core', core]);
  // base64 of a secret seen at another offset in a longer value ("Bearer KEY") shares no
  // prefix with the plain base64; search the three alignments' stable middles instead
  for (let off = 0; off < 3; off++) {
    const mid = Buffer.concat([Buffer.alloc(off, 0x20), b]).toString('base64').slice(4, -4);
    if (mid.length >= 12) forms.push([`base64 (offset ${off})`, mid]);
  }
  return forms;
}

/**
 * Returns a list of "<name> (<form>) found in <where>" for every secret form
 * found in any of the places ({where: text}); [] when clean. secrets is
 * {name: value} or {name: {value, core}}.
 */
export function findSecrets(secrets, places) {
  const found = [];
  for (const [name, s] of Object.entries(secrets)) {
    const { value, core } = typeof s === 'string' ? { value: s, core: undefined } : s;
    for (const [form, text] of secretForms(value, core)) {
      for (const [where, hay] of Object.entries(places)) {
        if (hay.includes(text)) found.push(`${name} (${form}) found in ${where}`);
      }
    }
  }
  return found;
}
