// `GET /events`: the system's events as newline-delimited JSON, each with its
// time and app. The first line (`hello`) says the stream is live, so a client
// knows that whatever happens from then on will reach it.

import type http from 'node:http';
import type { SystemApi } from '../core/system-api.js';
import type { SupervisorEvent } from '../core/types.js';
import { Broadcast } from './broadcast.js';

export interface EventHub {
  /** Streams every event from now on to `response`. */
  subscribe(response: http.ServerResponse): void;
  close(): void;
}

type Tagged = { readonly app: string; readonly event: SupervisorEvent };

function line(fields: object): string {
  return `${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`;
}

export function createEventHub(system: SystemApi): EventHub {
  const clients = new Broadcast<Tagged>((count) => line({ type: 'dropped', count }));
  system.onEvent((app, event) => {
    // Observers must not throw: a client that breaks mid-write is dropped by its 'close'.
    try {
      clients.publish({ app, event }, () => line({ app, ...event }));
    } catch {
      // nothing to do: the next event tries again
    }
  });
  return {
    subscribe(response) {
      const status = system.status();
      const apps = status.apps.map((app) => ({ name: app.name, generation: app.generation }));
      response.write(line({ type: 'hello', pid: status.pid, apps }));
      clients.add(response);
    },
    close: () => clients.close(),
  };
}
