import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildConfig, type ConfigInput } from '../../src/config.js';
import { UsageError } from '../../src/errors.js';
import { parseDuration, parseSize } from '../../src/units.js';

const dir = mkdtempSync(join(tmpdir(), 'supervise-config-'));
writeFileSync(join(dir, 'app.js'), '');
after(() => rmSync(dir, { recursive: true, force: true }));
const input = (over: Partial<ConfigInput>): ConfigInput => ({
  flags: {},
  positional: ['app.js'],
  command: undefined,
  configFile: undefined,
  cwd: dir,
  stdoutIsTTY: false,
  ...over,
});

describe('units', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('500'), 500);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseDuration('-1s'), undefined);
  });
  it('parses sizes', () => {
    assert.equal(parseSize('512K'), 512 * 1024);
    assert.equal(parseSize('512M'), 512 * 1024 ** 2);
    assert.equal(parseSize('1G'), 1024 ** 3);
    assert.equal(parseSize('1gb'), 1024 ** 3);
    assert.equal(parseSize('2048'), 2048);
    assert.equal(parseSize('lots'), undefined);
  });
});

describe('config', () => {
  it('has the documented defaults', () => {
    const config = buildConfig(input({}));
    assert.equal(config.mode, 'cluster');
    assert.equal(config.port, 8080);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.basePort, 8000);
    assert.equal(config.proxy, 'tcp');
    assert.equal(config.balance, 'round-robin');
    assert.deepEqual(config.health, { path: undefined, intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3 });
    assert.equal(config.readyTimeoutMs, 30_000);
    assert.equal(config.killTimeoutMs, 10_000);
    assert.equal(config.watch, undefined);
    assert.equal(config.control, join(dir, '.supervise.sock'));
    assert.equal(config.logFormat, 'json');
    assert.ok(Object.isFrozen(config));
  });

  it('spawn mode takes the command after --', () => {
    const config = buildConfig(input({ positional: [], command: ['uvicorn', 'main:app', '--port', '{port}'] }));
    assert.equal(config.mode, 'spawn');
    assert.deepEqual(config.args, ['uvicorn', 'main:app', '--port', '{port}']);
  });

  const errors: Array<[string, Partial<ConfigInput>, RegExp]> = [
    ['workers out of range', { flags: { workers: '0' } }, /--workers must be an integer from 1 to 1024 \(got "0"\)/],
    ['workers not a number', { flags: { workers: 'four' } }, /--workers must be an integer from 1 to 1024/],
    ['bad duration', { flags: { killTimeout: 'soon' } }, /--kill-timeout must be a duration/],
    ['bad size', { flags: { maxMemory: 'lots' } }, /--max-memory must be a size/],
    ['bad health path', { flags: { health: 'healthz' } }, /--health must be an HTTP path starting with \//],
    ['missing script', { positional: ['nope.js'] }, /script not found: .*nope\.js/],
    ['not a script', { positional: ['uvicorn'] }, /not a \.js, \.mjs or \.cjs script.*--/],
    ['nothing to run', { positional: [] }, /missing script or command/],
    ['empty command', { positional: [], command: [] }, /missing command after --/],
    ['a zero timeout of the edge', { flags: { clientBodyTimeout: '0' } }, /--client-body-timeout must be a duration of at least 1ms/],
    ['a forwarded-allow-ips entry that is no address', { flags: { forwardedAllowIps: ['10.0.0.0/8', 'proxy.local'] } }, /--forwarded-allow-ips: "proxy\.local" is not an address, a CIDR/],
  ];
  for (const [name, over, message] of errors) {
    it(`rejects ${name} with a usage error naming it`, () => {
      assert.throws(() => buildConfig(input(over)), (error: unknown) => error instanceof UsageError && error.exitCode === 2 && message.test(error.message));
    });
  }

  it('reads YAML and JSON files; flags win; unknown keys are named', () => {
    const yamlFile = join(dir, 'supervise.yaml');
    writeFileSync(yamlFile, 'workers: 3\nbase-port: 9000\nkillTimeout: 2s\ncommand: [uvicorn, main:app, --port, "{port}"]\n');
    const fromFile = buildConfig(input({ positional: [], configFile: yamlFile, flags: { workers: '5' } }));
    assert.equal(fromFile.workers, 5);
    assert.equal(fromFile.basePort, 9000);
    assert.equal(fromFile.killTimeoutMs, 2000);
    assert.equal(fromFile.mode, 'spawn');

    const jsonFile = join(dir, 'bad.json');
    writeFileSync(jsonFile, '{"workerz": 2}');
    assert.throws(() => buildConfig(input({ configFile: jsonFile })), /bad\.json \(line 1\): unknown setting "workerz"\. Did you mean "workers"\?/);
    writeFileSync(jsonFile, '{"workers": 2000}');
    assert.throws(() => buildConfig(input({ configFile: jsonFile })), /"workers" in .*bad\.json \(line 1\) must be an integer from 1 to 1024/);
    writeFileSync(jsonFile, '{"workers": ');
    assert.throws(() => buildConfig(input({ configFile: jsonFile })), /bad\.json is not valid/);
  });
});
