// The one native addon (binding.gyp's `supervise_tunnel`: every src/native/*.c
// file, each adding its functions to the same exports), loaded once per process
// for every JavaScript module that uses a part of it.
//
// node-gyp-build finds it, in this order: build/Release (compiled here by
// `npm install`), then prebuilds/<platform>-<arch>/ (shipped inside the npm
// package by `npm pack`, built with prebuildify as N-API: one file serves
// every Node version). Where neither exists or loads (another platform, no
// compiler, a musl libc), callers fall back to their JavaScript paths.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, from dist/src/native/ (the only place this module runs from). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface NativeAddon {
  /** The module's exports: each C file's functions (binding.c's module init). */
  readonly exports: Readonly<Record<string, unknown>>;
  /** The file it was loaded from. */
  readonly path: string;
  /** Whether that file is a prebuild shipped in the package, or compiled on this machine. */
  readonly origin: 'prebuild' | 'build';
}

type Loaded = { readonly addon: NativeAddon } | { readonly addon: undefined; readonly error: string };

let loaded: Loaded | undefined;

/** The addon, or undefined when there is none for this platform or it does not load (nativeLoadError() says why). */
export function loadNative(): NativeAddon | undefined {
  loaded ??= tryLoad();
  return loaded.addon;
}

/** Why loadNative() found nothing; undefined when it loaded (or was not tried yet). */
export function nativeLoadError(): string | undefined {
  return loaded !== undefined && loaded.addon === undefined ? loaded.error : undefined;
}

/** Where the addon would be loaded from, without loading it; undefined when there is none for this machine. */
export function nativeAddonPath(): string | undefined {
  try {
    return nodeGypBuild().resolve(PACKAGE_ROOT);
  } catch {
    return undefined;
  }
}

/**
 * A program built with the addon (binding.gyp's executable targets) and shipped
 * beside it: build/Release/<name>, or prebuilds/<platform>-<arch>/<name> (copied
 * there by scripts/prebuild.mjs). Undefined when there is no addon for this
 * machine; the file itself may still be missing (an older prebuild).
 */
export function nativeExecutablePath(name: string): string | undefined {
  const addon = nativeAddonPath();
  return addon === undefined ? undefined : join(dirname(addon), name);
}

interface NodeGypBuild {
  (dir: string): unknown;
  resolve(dir: string): string;
}

function nodeGypBuild(): NodeGypBuild {
  return createRequire(import.meta.url)('node-gyp-build') as NodeGypBuild;
}

function tryLoad(): Loaded {
  let path: string;
  try {
    path = nodeGypBuild().resolve(PACKAGE_ROOT);
  } catch (error) {
    // node-gyp-build's message lists the platform tags it looked for; the first line says enough.
    return { addon: undefined, error: firstLine(error) };
  }
  try {
    const exports = createRequire(import.meta.url)(path) as Record<string, unknown>;
    const origin = path.startsWith(join(PACKAGE_ROOT, 'prebuilds')) ? 'prebuild' : 'build';
    return { addon: Object.freeze({ exports, path, origin }) };
  } catch (error) {
    return { addon: undefined, error: `${path} does not load: ${firstLine(error)}` };
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
