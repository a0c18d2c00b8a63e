{
  "targets": [
    {
      "target_name": "supervise_tunnel",
      "sources": ["src/native/binding.c", "src/native/tunnel-napi.c", "src/native/tunnel.c", "src/native/tunnel-loop.c", "src/native/h1frame.c", "src/native/notify.c", "src/native/prctl.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", { "sources!": ["src/native/binding.c", "src/native/tunnel-napi.c", "src/native/tunnel.c", "src/native/tunnel-loop.c", "src/native/h1frame.c", "src/native/notify.c", "src/native/prctl.c"] }]]
    }
  ]
}
