{
  "targets": [
    {
      "target_name": "uv_drain",
      "sources": [
        "native/addon.cc",
        "native/constants.cc",
        "native/handle_path.cc",
        "native/loop_state.cc",
        "native/owner_index.cc",
        "native/pacer.cc",
        "native/walk.cc",
        "native/capi.cc",
        "native/shared_objects.cc",
        "native/probe.cc",
        "native/watcher.cc",
        "native/c_module.cc",
        "native/c_module_later.cc",
        "native/c_module_ranges.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-ldl"],
      "ldflags": ["-Wl,--version-script=<(module_root_dir)/native/exports.map"],
      # Prebuilds (scripts/prebuild.sh sets UVD_PORTABLE=1) carry their own
      # libstdc++ and libgcc, as Node's binaries do, and export none of it.
      "variables": {"uvd_portable%": "<!(node -p \"process.env.UVD_PORTABLE === '1' ? 1 : 0\")"},
      "conditions": [
        ["uvd_portable==1", {"ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL"]}]
      ]
    },
    {
      # A real C module for the unload coordinator (native/include/uv_drain_module.h):
      # build/Release/commit_module.so. Plain C; libuv's symbols resolve to the
      # ones the node binary exports when it is dlopened. Only the ABI and
      # the query functions are exported (visibility attributes in the source).
      "target_name": "commit_module",
      "type": "loadable_module",
      # node-gyp's addon.gypi forces ".node" on loadable modules from its
      # target_conditions; ours are evaluated after it.
      "target_conditions": [["_type=='loadable_module'", {"product_extension": "so"}]],
      "sources": ["examples/c-module/commit_module.c"],
      "include_dirs": ["native/include"],
      "cflags_c": ["-std=c11", "-D_GNU_SOURCE", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
