// What the native modules' JavaScript sides share (the addon is found and
// loaded by src/native/load.ts, the one place that loads it): where the addon
// is, its exports for the small modules (prctl), and node-style errors for the
// negative errnos it returns. The tcp front's data plane is the http front's
// (http-native.ts, kind 'tcp'; src/native/http_tcp.c): the old tunnel module
// of its own is gone. The file keeps its name: tests across branches import
// nativeTunnelPath from it.

import { getSystemErrorName } from 'node:util';
import { loadNative, nativeAddonPath } from '../native/load.js';

/** Where the compiled module is, if there is one for this machine (build/Release, or the package's prebuild). */
export function nativeTunnelPath(): string | undefined {
  return nativeAddonPath();
}

/** The addon's exports (every native module of src/native/), for the small modules that have no loader of their own (prctl). */
export function loadNativeAddon(): Readonly<Record<string, unknown>> | undefined {
  return loadNative()?.exports;
}

/** A node-style error for a negative errno from the native module. */
export function errnoError(status: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const error: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(`${syscall} ${code}${where}`);
  error.errno = status;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) {
    error.address = address;
    error.port = port;
  }
  return error;
}
