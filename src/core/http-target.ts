// The request-target and Host rules of the http front (RFC 9112 §3.2, SPEC
// §12), for the JavaScript data path: the native parser applies the same
// rules in C (http_parse.c's request_target, http_rules.c's hp_valid_host),
// and http-framing.test.ts holds both paths to one table. Node's parser lets
// these through; a front that forwarded them would route by one host and let
// the backend read another.

/** What the front does with a request's target: forward it (origin-form path, and the host it is for), or refuse it. */
export type TargetVerdict = { readonly refuse: 400 | 405; readonly reason: string } | { readonly path: string; readonly host: string | undefined };

const HOST_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=%]+$/;

/** host[:port] as RFC 9110 §7.2 allows it: a reg-name or IPv4 address, or a bracketed IPv6 literal, then at most 5 digits of port. */
export function isValidHost(value: string, mayBeEmpty: boolean): boolean {
  if (value === '') return mayBeEmpty;
  let rest: string;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close <= 1 || !/^[0-9A-Fa-f:.]+$/.test(value.slice(1, close))) return false;
    rest = value.slice(close + 1);
  } else {
    const colon = value.indexOf(':');
    const name = colon < 0 ? value : value.slice(0, colon);
    if (!HOST_CHAR.test(name)) return false;
    rest = colon < 0 ? '' : value.slice(colon);
  }
  return rest === '' || /^:[0-9]{0,5}$/.test(rest);
}

/**
 * The verdict on `method target` with `host` (the Host header, if any):
 * CONNECT → 405 (a reverse proxy, not a tunnel); `*` for OPTIONS only;
 * absolute-form (`http://host/p`) accepted, forwarded in origin-form with
 * the target's authority as its host; anything else that is not a path → 400;
 * an invalid Host → 400.
 */
export function requestTarget(method: string, target: string, host: string | undefined): TargetVerdict {
  if (method === 'CONNECT') return { refuse: 405, reason: 'CONNECT is not served here: the front is a reverse proxy, not a tunnel' };
  if (host !== undefined && !isValidHost(host, true)) return { refuse: 400, reason: 'the Host header is not a valid host[:port]' };
  if (target.startsWith('/')) return { path: target, host };
  if (target === '*') return method === 'OPTIONS' ? { path: target, host } : { refuse: 400, reason: 'the target * is for OPTIONS only' };
  const scheme = /^https?:\/\//i.exec(target)?.[0].length ?? 0;
  if (scheme === 0 || target.length === scheme) return { refuse: 400, reason: 'the request target is not a path, an http(s) URL, or * for OPTIONS' };
  let end = scheme;
  while (end < target.length && target[end] !== '/' && target[end] !== '?') end++;
  const authority = target.slice(scheme, end);
  if (!isValidHost(authority, false)) return { refuse: 400, reason: "the request target's host is not a valid host[:port]" };
  const rest = target.slice(end);
  return { path: rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest, host: authority };
}
