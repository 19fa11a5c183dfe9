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
if (what === "include") console.log(inc.filter((d) => d !== "/usr/include").join(" "));
else if (what === "libs") {
  const flags = [`-L${lib}`, "-Wl,--no-as-needed", "-ltorch", "-ltorch_cpu", "-lc10"];
  if (fs.existsSync(path.join(lib, "libtorch_cuda.so"))) flags.push("-ltorch_cuda", "-lc10_cuda");
  if (root) flags.push(`-Wl,-rpath,${lib}`);
  console.log(flags.join(" "));
}
