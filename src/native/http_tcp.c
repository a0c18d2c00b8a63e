// The tcp kind of the front (DP_KIND_TCP, --proxy tcp): L4 connections on the
// same data-plane threads, listener, snapshot, pick, connect retries, queue,
// counters and commands as the http front's requests. A connection is one
// "exchange" that never ends by itself: decided when it is accepted (the
// client held unread while it waits, in the queue or on a connect), then
// piped both ways (http_relay.c's tunnel, the state an upgraded http
// connection is in) until both sides ended, or --tunnel-timeout idle.
//
// What differs from the http kind is here:
// - a connection opens: counted as one (the thread's "requests"), not timed
//   as a response;
// - an error the front would answer in HTTP (no backend, queue timeout, the
//   front closing) closes the client instead: L4 has no way to say why;
// - draining: the bytes are followed as HTTP/1.x (h1frame.c, which turns
//   itself off for any other protocol) so that, once the connection's
//   backend leaves the rotation, the connection ends at its next response
//   boundary, that response saying "Connection: close": keep-alive clients
//   reconnect to a ready backend and lose no request.

#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

bool hf_tcp_begin(client_t* cl) {
  cl->h1 = malloc(sizeof(*cl->h1));
  if (cl->h1 == NULL) return false;
  h1_init(cl->h1);
  cl->keep_alive = false;
  cl->started_ns = hf_now_ns();
  return true;
}

void hf_tcp_open(client_t* cl) {
  uint64_t now = hf_now_ms();
  cl->state = S_TUNNEL;
  cl->status = 101;
  cl->resp_head_done = true;  // an upstream that breaks now cuts the connection (http_relay.c)
  cl->counted = true;         // a connection, not a response: no latency, no status class
  cl->front->requests++;
  cl->phase_ms = now;
  cl->c.read_ms = now;  // --tunnel-timeout counts from here
  cl->up->c.read_ms = now;
  cl->up->c.writable = true;
  cl->c.readable = true;
}

void hf_tcp_refuse(client_t* cl, int status, int reason) {
  hf_emit(cl->front, HF_EV_ERROR, cl->slot, status * 100 + reason);
  hf_release_upstream(cl, false);
  hf_end_exchange(cl, 0);
  cl->dead = true;
}

void hf_tcp_request_bytes(client_t* cl, const char* data, uint32_t len) {
  if (cl->h1 != NULL && !cl->h1->off) h1_request(cl->h1, data, len);
}

bool hf_tcp_response_bytes(client_t* cl, const char* data, uint32_t len) {
  if (cl->h1 == NULL || cl->h1->off) return hf_buf_append(&cl->c.out, data, len);
  h1_cut_t cut;
  h1_response(cl->h1, data, len, cl->draining, &cut);
  if (cut.insert_at < 0 && cut.end_at < 0) return hf_buf_append(&cl->c.out, data, len);
  uint32_t keep = cut.end_at >= 0 ? (uint32_t)cut.end_at : len;
  bool ok;
  if (cut.insert_at < 0) {
    ok = hf_buf_append(&cl->c.out, data, keep);
  } else {
    uint32_t at = (uint32_t)cut.insert_at;
    ok = hf_buf_append(&cl->c.out, data, at) && hf_buf_str(&cl->c.out, H1_CONNECTION_CLOSE) && hf_buf_append(&cl->c.out, data + at, keep - at);
  }
  if (ok && cut.end_at >= 0) {
    // The response that ends the connection: the backend's side closes now (one connection fewer for it), the client
    // gets everything, then its end; what it still sends is dropped.
    hf_release_upstream(cl, false);
    hf_end_exchange(cl, 0);
    hf_linger(cl);
  }
  return ok;
}

void hf_tcp_drain(hf_front_t* front) {
  const dp_snapshot_t* snapshot = front->snapshot;
  if (!front->options.raw || snapshot == NULL) return;
  for (client_t* cl = front->clients; cl != NULL; cl = cl->next) {
    if (cl->slot < 0 || cl->draining || (uint32_t)cl->slot >= front->pick.slot_capacity) continue;
    int32_t backend = front->pick.slots[cl->slot].backend;
    if (backend < 0 || (uint32_t)backend >= snapshot->backend_count || (snapshot->backends[backend].flags & DP_F_DRAINING) != 0) cl->draining = true;
  }
}
