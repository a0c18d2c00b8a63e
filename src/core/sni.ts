// Which certificate a TLS handshake gets (SNI, RFC 6066), and what a host
// pattern of `hosts:` may be. Pure: the JavaScript path (tls/sni-contexts.ts)
// and the native one (C, given the same list in the same order) decide alike.
//
// The choice, as nginx's `server_name` and HAProxy's `crt-list`: an exact
// name first, then a wildcard of one label (`*.example.com` covers
// `api.example.com`, not `example.com` nor `a.b.example.com`, as RFC 6125
// §6.4.3 lets a client accept), then the first certificate (the default).

/** A certificate's names as the choice sees them: lower case, no trailing dot. */
export interface SniCandidate {
  readonly hosts: readonly string[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** `api.example.com` (a name of one or more labels): true; an IP address, `*`, `a..b`, `-a.com`: false. */
export function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split('.');
  if (labels.every((label) => /^\d+$/.test(label))) return false; // 10.0.0.1 is an address, not a name
  return labels.every((label) => LABEL.test(label));
}

/** Why `pattern` cannot be a `hosts:` entry (undefined: it can): a host name, or `*.` and a host name. */
export function hostPatternError(pattern: unknown): string | undefined {
  if (typeof pattern !== 'string' || pattern === '') return `must be a host name like api.example.com, or *.example.com (got ${JSON.stringify(pattern)})`;
  const name = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
  if (isHostname(name)) return undefined;
  return `"${pattern}" is not a host name: write api.example.com, or *.example.com for one label of subdomains`;
}

/** A name as compared: lower case, without the trailing dot of a fully qualified name. */
export function normalizeHost(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The index of the certificate for `servername` (the client's SNI, or
 * undefined when it sent none): exact, then one-label wildcard, then 0.
 */
export function chooseCertificate(candidates: readonly SniCandidate[], servername: string | undefined): number {
  if (servername === undefined || servername === '' || candidates.length === 0) return 0;
  const name = normalizeHost(servername);
  for (const [index, candidate] of candidates.entries()) {
    if (candidate.hosts.includes(name)) return index;
  }
  const dot = name.indexOf('.');
  if (dot <= 0) return 0;
  const wildcard = `*${name.slice(dot)}`;
  for (const [index, candidate] of candidates.entries()) {
    if (candidate.hosts.includes(wildcard)) return index;
  }
  return 0;
}
