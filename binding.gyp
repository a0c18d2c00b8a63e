{
  "targets": [
    {
      "target_name": "supervise_tunnel",
      "sources": ["src/native/tunnel.c", "src/native/notify.c", "src/native/binding.c", "src/native/prctl.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", { "sources!": ["src/native/tunnel.c", "src/native/notify.c", "src/native/binding.c", "src/native/prctl.c"] }]]
    }
  ]
}
