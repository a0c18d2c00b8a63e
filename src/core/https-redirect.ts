// `redirect-http:`: where a plain-HTTP request is sent on (301), from its Host
// header and target. Pure. The Host is hostile input: only a host name or an
// IP address (with an optional port, which is dropped) makes a Location; any
// other gets a 400, so a redirect can never point a client at a URL of the
// client's own making beyond its own host.

import { isIP } from 'node:net';
import { isHostname } from './sni.js';

/** The `Location` for a request to `host` + `target`, or undefined when the Host is missing or not a host. */
export function httpsRedirectLocation(host: string | undefined, target: string | undefined, httpsPort: number): string | undefined {
  if (host === undefined) return undefined;
  const name = hostWithoutPort(host.trim());
  if (name === undefined) return undefined;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  // An origin-form target only ("/path?query"); anything else (absolute-form, "*") goes to "/".
  const path = target !== undefined && target.startsWith('/') && !target.startsWith('//') ? target : '/';
  return `https://${name}${port}${path}`;
}

/** `example.com:80` → `example.com`; `[::1]:80` → `[::1]`; undefined when it is neither a host name nor an address. */
function hostWithoutPort(host: string): string | undefined {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(host);
  if (bracketed !== null) return isIP(bracketed[1] as string) === 6 ? `[${(bracketed[1] as string).toLowerCase()}]` : undefined;
  const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (match === null) return undefined;
  const name = (match[1] as string).toLowerCase();
  if (isIP(name) === 4) return name;
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return isHostname(bare) ? bare : undefined;
}
