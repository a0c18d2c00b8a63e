// The request smuggling corpus (http-smuggling.test.ts sends it whole,
// http-framing.test.ts split at every byte): name → the bytes a client sends.
// Each is one request that must be refused, and not one byte of it forwarded.

const H = 'Host: example.test\r\n';

/** Refused with 400, unless http-smuggling.test.ts's REFUSED_WITH says otherwise. */
export const SMUGGLING_CORPUS: Record<string, string> = {
  'Content-Length and Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding and Content-Length': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`,
  'two different Content-Lengths': `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  'a Content-Length list': `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!`,
  'a signed Content-Length': `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`,
  'a negative Content-Length': `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nhello`,
  'a hexadecimal Content-Length': `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`,
  'a Content-Length with a space inside': `POST / HTTP/1.1\r\n${H}Content-Length: 1 2\r\n\r\nhello`,
  'a huge Content-Length': `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nhello`,
  'white space before the colon': `POST / HTTP/1.1\r\n${H}Content-Length : 5\r\n\r\nhello`,
  'Transfer-Encoding other than chunked': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nhello`,
  'Transfer-Encoding: chunked, then another coding': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
  'an obfuscated Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding with white space before the colon': `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
  'Transfer-Encoding in an HTTP/1.0 request': `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  'an obs-fold continuation line': `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`,
  'an obs-folded Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`,
  'bare LF line ends': `GET / HTTP/1.1\n${H.replace('\r\n', '\n')}\n`,
  'a bare LF in the headers': `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`,
  'a bare CR in a header value': `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`,
  'a NUL in a header value': `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`,
  'a header name with a space': `GET / HTTP/1.1\r\n${H}X A: 1\r\n\r\n`,
  'an oversize head (40 KiB of headers)': `GET / HTTP/1.1\r\n${H}${'X-Big: '.concat('a'.repeat(1000), '\r\n').repeat(40)}\r\n`,
  'a bad chunk size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  'a chunk size with leading white space': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`,
  'an overflowing chunk size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n`,
  'a chunk without its CRLF': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`,
  'an HTTP/1.1 request without Host': 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n',
  'two Hosts': `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`,
  'an unknown HTTP version': `GET / HTTP/1.2\r\n${H}\r\n`,
  'a request line without a version': `GET /\r\n${H}\r\n`,
};
