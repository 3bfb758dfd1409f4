{
  "targets": [
    {
      "target_name": "magma_native",
      "sources": ["src/kernels.c"],
      "cflags": ["-O3", "-std=c11", "-fno-trapping-math"],
      "conditions": [
        ["OS=='mac'", {
          "defines": ["MAGMA_ACCELERATE", "ACCELERATE_NEW_LAPACK"],
          "libraries": ["-framework Accelerate"]
        }, {
          "include_dirs": ["/usr/include/openblas", "/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu"],
          "libraries": ["-lopenblas", "-lm", "-lpthread"]
        }]
      ]
    }
  ]
}
