{
  "variables": {
    "addon_sources": ["src/native/binding.c", "src/native/h1frame.c", "src/native/notify.c", "src/native/prctl.c", "src/native/id_table.c", "src/native/fd_budget.c", "src/native/http_parse.c", "src/native/http_rules.c", "src/native/http_io.c", "src/native/http_exchange.c", "src/native/http_relay.c", "src/native/http_front.c", "src/native/http_tcp.c", "src/native/http_loop.c", "src/native/http_threads.c", "src/native/http_counters.c", "src/native/http_binding.c", "src/native/http_decide.c", "src/native/dp_snapshot.c", "src/native/dp_pick.c", "src/native/dp_binding.c", "src/native/probe.c", "src/native/tls_ctx.c", "src/native/tls_conn.c", "src/native/tls_binding.c", "src/native/listen_diag.c"]
  },
  "targets": [
    {
      "target_name": "supervise_tunnel",
      "sources": ["<@(addon_sources)"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      "libraries": ["-lpthread"],
      "conditions": [["OS!='linux'", { "sources!": ["<@(addon_sources)"] }]]
    },
    {
      "target_name": "supervise_reaper",
      "type": "executable",
      "sources": ["src/native/reaper.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", { "type": "none", "sources!": ["src/native/reaper.c"] }]]
    }
  ]
}
