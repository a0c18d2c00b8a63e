// The front as an edge (SPEC §12): its timeouts, and which peers' forwarded
// headers it trusts. Pure: parsing the allow list and matching an address
// against it; the native front gets the parsed list (trustedPeerBytes) and
// matches in C the same way.

import { isIPv4, isIPv6 } from 'node:net';
import type { EdgeTimeouts } from './types.js';

export type { EdgeTimeouts } from './types.js';

export const DEFAULT_EDGE_TIMEOUTS: EdgeTimeouts = Object.freeze({
  clientHeaderTimeoutMs: 60_000,
  clientBodyTimeoutMs: 60_000,
  connectTimeoutMs: 5000,
  responseTimeoutMs: 60_000,
  backendReadTimeoutMs: 60_000,
  clientSendTimeoutMs: 60_000,
  keepaliveTimeoutMs: 75_000,
  tunnelTimeoutMs: 3_600_000,
});

/** uvicorn's and gunicorn's default: only a proxy on this machine is trusted. */
export const DEFAULT_FORWARDED_ALLOW_IPS: readonly string[] = Object.freeze(['127.0.0.1', '::1']);

/** One entry of the allow list: an address as 16 bytes (IPv4 as ::ffff:a.b.c.d) and the bits of it that must match. */
export interface PeerRange {
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** The parsed allow list: every peer (`*`), or these ranges. */
export type TrustedPeers = 'all' | readonly PeerRange[];

/** 16 bytes of an IPv4 or IPv6 address (IPv4 mapped), or undefined when it is neither. */
export function addressBytes(address: string): Uint8Array | undefined {
  const bytes = new Uint8Array(16);
  if (isIPv4(address)) {
    bytes[10] = bytes[11] = 0xff;
    address.split('.').forEach((part, i) => (bytes[12 + i] = Number(part)));
    return bytes;
  }
  if (!isIPv6(address)) return undefined;
  const zone = address.indexOf('%');
  let text = zone === -1 ? address : address.slice(0, zone);
  // A dotted IPv4 tail (::ffff:1.2.3.4): as two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = (dotted[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

/**
 * The allow list from its entries: `*`, addresses, CIDRs (`10.0.0.0/8`,
 * `fd00::/8`). Throws a one-line error naming the entry that is none of these.
 */
export function parseTrustedPeers(entries: readonly string[]): TrustedPeers {
  const ranges: PeerRange[] = [];
  for (const raw of entries.flatMap((entry) => entry.split(',')).map((entry) => entry.trim()).filter((entry) => entry !== '')) {
    if (raw === '*') return 'all';
    const slash = raw.indexOf('/');
    const address = slash === -1 ? raw : raw.slice(0, slash);
    const bytes = addressBytes(address);
    const max = isIPv4(address) ? 32 : 128;
    const prefix = slash === -1 ? max : /^\d+$/.test(raw.slice(slash + 1)) ? Number(raw.slice(slash + 1)) : NaN;
    if (bytes === undefined || !(prefix >= 0 && prefix <= max)) {
      throw new RangeError(`forwarded-allow-ips: "${raw}" is not an address, a CIDR (10.0.0.0/8, fd00::/8) or *`);
    }
    ranges.push({ bytes, bits: prefix + (128 - max) });
  }
  return ranges;
}

/** Whether `address` (as a socket reports it) is one of the trusted peers. */
export function isTrustedPeer(peers: TrustedPeers, address: string | undefined): boolean {
  if (peers === 'all') return true;
  const bytes = address === undefined ? undefined : addressBytes(address);
  if (bytes === undefined) return false;
  return peers.some(({ bytes: range, bits }) => {
    for (let bit = 0; bit < bits; bit += 8) {
      const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
      if (((range[bit / 8] as number) & mask) !== ((bytes[bit / 8] as number) & mask)) return false;
    }
    return true;
  });
}

/** The list as C takes it (http_front.h's hf_options_t): 17 bytes per range (the address, then its bits); `*` is one byte 255. */
export function trustedPeerBytes(peers: TrustedPeers): Uint8Array {
  if (peers === 'all') return Uint8Array.of(255);
  const out = new Uint8Array(peers.length * 17);
  peers.forEach(({ bytes, bits }, i) => {
    out.set(bytes, i * 17);
    out[i * 17 + 16] = bits;
  });
  return out;
}

/**
 * Errors that say this process ran out of something (descriptors, buffers,
 * memory, local ports), not that the peer failed: never counted against a
 * backend (passive or active health checks).
 */
const LOCAL_RESOURCE_CODES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

export function isLocalResourceError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && LOCAL_RESOURCE_CODES.has(code);
}
