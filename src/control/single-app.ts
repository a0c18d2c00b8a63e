// A SystemApi over one SupervisorApi: the control socket and the metrics speak
// to systems; a lone supervisor (and the tests' fake one) is a system of one app.

import type { SystemApi, SystemStatus } from '../core/system-api.js';
import type { SupervisorApi } from '../core/types.js';

export function singleAppSystem(api: SupervisorApi, name = 'app'): SystemApi {
  return {
    status(): SystemStatus {
      const status = api.status();
      return { ...status, apps: [{ name, ...status }] };
    },
    appNames: () => [name],
    app: (wanted) => (wanted === name ? api : undefined),
    async reloadAll(reason) {
      const result = await api.reload(reason);
      return result.ok ? { ok: true, apps: { [name]: result } } : { ok: false, error: result.error, apps: { [name]: result } };
    },
    apply: async () => ({ ok: false, invalid: true, error: 'this supervisor runs no system file: nothing to apply' }),
    stop: (reason) => api.stop(reason),
    onEvent: (listener) => api.onEvent((event) => listener(name, event)),
  };
}
