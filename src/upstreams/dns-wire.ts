// The DNS wire format (RFC 1035), as little as a SRV lookup needs: a query, and
// the answer section of a response with each record's TTL (node's resolveSrv
// drops the TTL). Pure. Every answer is hostile: lengths are checked against the
// packet, compression pointers must point backwards and are followed at most
// 32 times, and anything malformed is an error, never a partial answer.

import type { SrvRecord } from '../core/upstreams.js';

export const TYPE_SRV = 33;
const CLASS_IN = 1;
const MAX_POINTERS = 32;

export class DnsFormatError extends Error {
  override readonly name = 'DnsFormatError';
}

/** A standard query for `name`, recursion desired. */
export function encodeQuery(id: number, name: string, type: number): Buffer {
  const labels = name.replace(/\.$/, '').split('.');
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id & 0xffff, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // one question
  parts.push(header);
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length === 0 || bytes.length > 63) throw new DnsFormatError(`bad label in ${JSON.stringify(name)}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  const tail = Buffer.alloc(5);
  tail.writeUInt16BE(type, 1);
  tail.writeUInt16BE(CLASS_IN, 3);
  parts.push(tail);
  return Buffer.concat(parts);
}

export interface SrvAnswer {
  readonly records: ReadonlyArray<SrvRecord & { readonly ttl: number }>;
  /** RCODE: 0 no error, 3 NXDOMAIN, … */
  readonly rcode: number;
  readonly truncated: boolean;
}

/** The response's SRV answers, or a DnsFormatError. `id` must match the query's. */
export function decodeSrvResponse(packet: Buffer, id: number): SrvAnswer {
  if (packet.length < 12) throw new DnsFormatError('response shorter than a DNS header');
  if (packet.readUInt16BE(0) !== (id & 0xffff)) throw new DnsFormatError('response id does not match the query');
  const flags = packet.readUInt16BE(2);
  if ((flags & 0x8000) === 0) throw new DnsFormatError('not a response');
  const questions = packet.readUInt16BE(4);
  const answers = packet.readUInt16BE(6);
  let offset = 12;
  for (let i = 0; i < questions; i++) {
    offset = skipName(packet, offset);
    offset = need(packet, offset, 4);
  }
  const records: Array<SrvRecord & { ttl: number }> = [];
  for (let i = 0; i < answers; i++) {
    offset = skipName(packet, offset);
    const header = offset;
    offset = need(packet, offset, 10);
    const type = packet.readUInt16BE(header);
    const klass = packet.readUInt16BE(header + 2);
    const ttl = packet.readUInt32BE(header + 4);
    const length = packet.readUInt16BE(header + 8);
    const data = offset;
    offset = need(packet, offset, length);
    if (type !== TYPE_SRV || klass !== CLASS_IN) continue; // a CNAME on the way, say
    if (length < 7) throw new DnsFormatError('SRV record too short');
    const target = readName(packet, data + 6);
    if (target.end > data + length) throw new DnsFormatError('SRV target runs past its record');
    records.push({
      priority: packet.readUInt16BE(data),
      weight: packet.readUInt16BE(data + 2),
      port: packet.readUInt16BE(data + 4),
      target: target.name,
      // RFC 2181: a TTL with the top bit set is 0.
      ttl: ttl > 0x7fffffff ? 0 : ttl,
    });
  }
  return { records, rcode: flags & 0xf, truncated: (flags & 0x0200) !== 0 };
}

function need(packet: Buffer, offset: number, length: number): number {
  if (offset + length > packet.length) throw new DnsFormatError('truncated DNS packet');
  return offset + length;
}

/** The offset after a (possibly compressed) name at `offset`. */
function skipName(packet: Buffer, offset: number): number {
  return readName(packet, offset).end;
}

function readName(packet: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let offset = start;
  let end: number | undefined;
  let pointers = 0;
  let length = 0;
  for (;;) {
    need(packet, offset, 1);
    const size = packet[offset] as number;
    if (size === 0) {
      end ??= offset + 1;
      break;
    }
    if ((size & 0xc0) === 0xc0) {
      need(packet, offset, 2);
      const target = packet.readUInt16BE(offset) & 0x3fff;
      // Backwards only, and a bounded number of times: no loops.
      if (target >= offset || ++pointers > MAX_POINTERS) throw new DnsFormatError('bad compression pointer');
      end ??= offset + 2;
      offset = target;
      continue;
    }
    if ((size & 0xc0) !== 0) throw new DnsFormatError('unknown label type');
    need(packet, offset + 1, size);
    const label = packet.toString('latin1', offset + 1, offset + 1 + size);
    length += size + 1;
    if (length > 255) throw new DnsFormatError('name longer than 255 bytes');
    if (!/^[A-Za-z0-9_-]+$/.test(label)) throw new DnsFormatError(`label with characters a host name cannot have: ${JSON.stringify(label)}`);
    labels.push(label);
    offset += 1 + size;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), end };
}
