// Intra-op threads (OpenMP / at::parallel). The loader (src/native/index.ts) chooses the count at startup; the
// setter bounds it here too, because an absurd count (e.g. 99999) makes OpenMP start thousands of threads and hang.
#include "common.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <thread>

namespace rft {
namespace {

int max_threads() {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(1024, 4 * cores);
}

// setNumThreads(n): n must be an integer in [1, min(1024, 4 × cores)].
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info, "setNumThreads", [&]() -> Napi::Value {
    double d = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : NAN;
    int hi = max_threads();
    if (!(d >= 1 && d <= hi && d == std::trunc(d)))
      throw std::invalid_argument("thread count must be an integer from 1 to " + std::to_string(hi) +
                                  " (4 x cores, at most 1024), got " + describe(info[0]));
    at::set_num_threads(static_cast<int>(d));
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value MaxThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), max_threads()); }

}  // namespace

void register_threads(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "setNumThreads", SetNumThreads);
  export_fn(env, exports, "getNumThreads", GetNumThreads);
  export_fn(env, exports, "maxThreads", MaxThreads);
}

}  // namespace rft
