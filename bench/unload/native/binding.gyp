{
  # Benchmark-only native code (bench/unload/), built by bench/run.mjs with
  # `node-gyp rebuild --directory=bench/unload/native` when missing or stale:
  #  - uvd_bench_probe.node: loop iteration counter (uv_metrics_info) and the
  #    record the C module writes its last-callback time into;
  #  - uvd_bench_module.so: a C module (native/include/uv_drain_module.h) with
  #    K handles and P commits, in 'drain' or 'blocking' mode.
  "targets": [
    {
      "target_name": "uvd_bench_probe",
      "sources": ["probe.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "uvd_bench_module",
      "type": "loadable_module",
      # addon.gypi forces ".node" from its target_conditions; ours run after.
      "target_conditions": [["_type=='loadable_module'", {"product_extension": "so"}]],
      "sources": ["bench_module.c"],
      "include_dirs": ["../../../native/include"],
      "cflags_c": ["-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
