{
  "targets": [
    {
      "target_name": "supervise_tunnel",
      "sources": ["src/native/tunnel.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS=='win'", { "sources!": ["src/native/tunnel.c"] }]]
    }
  ]
}
