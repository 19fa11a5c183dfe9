{
  "targets": [
    {
      "target_name": "rft_native",
      "sources": ["src/loader.cc", "src/tensors.cc", "src/memory.cc", "src/ops.cc", "src/autograd.cc", "src/rng.cc", "src/threads.cc", "src/distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node torch-config.cjs include)"
      ],
      "libraries": ["<!@(node torch-config.cjs libs)"],
      "defines": ["NAPI_EXPERIMENTAL", "NAPI_CPP_EXCEPTIONS", "<!@(node torch-config.cjs defines)"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=c++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
