// Prints compiler/linker flags for libtorch, for binding.gyp.
// LIBTORCH=/path/to/libtorch (an unpacked libtorch zip, CUDA builds included) wins; else Debian's libtorch-dev.
const fs = require("fs");
const path = require("path");
const what = process.argv[2];
const root = process.env.LIBTORCH;
let inc, lib;
if (root) {
  inc = [path.join(root, "include"), path.join(root, "include/torch/csrc/api/include")];
  lib = path.join(root, "lib");
} else {
  inc = ["/usr/include", "/usr/include/torch/csrc/api/include"];
  lib = "/usr/lib/" + (fs.existsSync("/usr/lib/x86_64-linux-gnu") ? "x86_64-linux-gnu" : "aarch64-linux-gnu");
}
// c10d: built when the Gloo headers are present (Debian: libgloo-dev; libtorch zips ship them); NCCL when the build
// has CUDA and nccl.h is found.
function findHeader(rel) {
  return [...inc, "/usr/include", "/usr/local/include", "/usr/local/cuda/include"].some((d) => fs.existsSync(path.join(d, rel)));
}
if (what === "defines") {
  const defs = [];
  if (findHeader("gloo/algorithm.h")) defs.push("RFT_WITH_C10D", "USE_C10D_GLOO");
  if (defs.length && fs.existsSync(path.join(lib, "libtorch_cuda.so")) && findHeader("nccl.h"))
    defs.push("RFT_WITH_NCCL", "USE_C10D_NCCL");
  console.log(defs.join(" "));
} else if (what === "include") console.log(inc.filter((d) => d !== "/usr/include").join(" "));
else if (what === "libs") {
  const flags = [`-L${lib}`, "-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10"];
  if (fs.existsSync(path.join(lib, "libtorch_cuda.so"))) flags.push("-ltorch_cuda", "-lc10_cuda");
  if (root) flags.push(`-Wl,-rpath,${lib}`);
  console.log(flags.join(" "));
}
