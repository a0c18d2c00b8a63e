// Every path of src/native/prctl.c, meant to run once under ASan/UBSan
// (.ci/asan): good and bad arguments, a real orphan adopted and
// reaped, the parent-death signal raised at once for a parent already gone.
const ADDON = require('node:path').join(__dirname, '../../build/Release/supervise_tunnel.node');
const a = require(ADDON);
const { spawnSync, spawn } = require('node:child_process');
const assert = require('node:assert/strict');
assert.equal(a.setChildSubreaper(), true);
for (const bad of [[], ['x']]) assert.throws(() => a.reap(...bad));
assert.throws(() => a.reap(1));
assert.throws(() => a.setParentDeathSignal(0, 1));
assert.throws(() => a.setParentDeathSignal(15));
assert.equal(a.reap(process.pid + 100000 > 4194304 ? 4194000 : process.pid + 100000) < 0, true);
// An orphan: sh forks a sleeper and exits; the sleeper is reparented to us.
const sh = spawnSync('sh', ['-c', 'sleep 0.3 & echo $!']);
const orphan = Number(String(sh.stdout).trim());
setTimeout(() => {
  let status = -1;
  for (let i = 0; i < 100 && status === -1; i++) status = a.reap(orphan);
  assert.equal(status, 0, `reaped the adopted orphan (status ${status})`);
  // A child arms PDEATHSIG for a parent that is not its parent: raised at once.
  const child = spawn(process.execPath, ['-e', `require(${JSON.stringify(ADDON)}).setParentDeathSignal(15, 1); setTimeout(()=>{}, 5000)`], { stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    assert.equal(signal, 'SIGTERM');
    console.log('prctl.c under ASan/UBSan: all paths ok');
  });
}, 600);
