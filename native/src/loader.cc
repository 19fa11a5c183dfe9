// Module entry: registers every concern's functions (see common.h for the file layout), refuses a second JS
// thread, and reports build info.
#include "common.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <mutex>
#include <thread>

namespace rft {
namespace {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH));
  o.Set("config", at::show_config());
  o.Set("parallel", at::get_parallel_info());
  o.Set("hasCuda", at::hasCUDA());
  o.Set("hasMkldnn", at::hasMKLDNN());
  return o;
}

// The JS thread that loaded the addon first. The binding's globals (common.h) are unsynchronised and belong to it;
// Node initialises an addon once per JS thread (each worker_thread has its own environment), so a second Init is a
// second thread.
std::mutex g_owner_mutex;
bool g_owned = false;
std::thread::id g_owner;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  {
    std::lock_guard<std::mutex> lock(g_owner_mutex);
    if (g_owned) {
      throw Napi::Error::New(
          env, std::string("rft_native: the tensor engine is already in use by ") +
                   (g_owner == std::this_thread::get_id() ? "another JS environment" : "another JS thread") +
                   "; it may be used from one JS thread per process only (not from a worker_thread as well as the "
                   "main thread): its scope flag, memory counters and op table are not shared between threads. "
                   "Run tensor work in one thread, or in a child process (docs/engine.md)");
    }
    g_owned = true;
    g_owner = std::this_thread::get_id();
  }
  register_tensors(env, exports);
  register_memory(env, exports);
  register_ops(env, exports);
  register_autograd(env, exports);
  register_rng(env, exports);
  register_threads(env, exports);
  register_distributed(env, exports);
  export_fn(env, exports, "buildInfo", BuildInfo);
  return exports;
}

}  // namespace
}  // namespace rft

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return rft::Init(env, exports); }

NODE_API_MODULE(rft_native, InitModule)
