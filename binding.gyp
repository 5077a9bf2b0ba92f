{
  # node-gyp build of the shared-memory image addon (what `npm install` runs through
  # scripts/build-addon.mjs). The core (native/shmem_*.cc) has no Node-API in it; the bindings
  # (addon.cc, consumer_binding.cc, producer_binding.cc, binding_*.cc) are thin layers over it.
  "targets": [
    {
      "target_name": "ensight_shmem",
      "sources": [
        "native/addon.cc",
        "native/consumer_binding.cc",
        "native/producer_binding.cc",
        "native/binding_support.cc",
        "native/binding_views.cc",
        "native/shmem_layout.cc",
        "native/shmem_handoff.cc",
        "native/shmem_file.cc",
        "native/shmem_stream.cc",
        "native/shmem_copy.cc",
        "native/shmem_waiter.cc",
        "native/frame_pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++20", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "GCC_ENABLE_CPP_EXCEPTIONS": "NO"
      }
    }
  ]
}
