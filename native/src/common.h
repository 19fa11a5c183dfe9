// Shared declarations of the native binding (native/src/*.cc). The binding is the only code in the project that
// includes torch headers. Files by concern:
//   loader.cc   module init, the one-JS-thread guard, build info
//   tensors.cc  data in/out and tensor metadata
//   memory.cc   handle disposal, GC finalizers, scope flag, memory counters
//   ops.cc      boxed and unboxed operator calls through the c10 dispatcher, schemas for the code generator
//   autograd.cc backward/grad, grad/inference/autocast modes
//   rng.cc      Generator objects, the default generators' seed and state
//   threads.cc  intra-op thread count
//   distributed.cc c10d: TCPStore and process groups (Gloo, NCCL) for data-parallel training
// Hot helpers (wrap/unwrap/accounting) are inline here so every translation unit can inline them.
//
// One JS thread: the globals below (g_scoped, the counters, g_storages, the op table in ops.cc, the inference-mode
// stack in autograd.cc) are plain variables read and written only from the JS thread that loaded the addon, with
// no locks. loader.cc refuses to initialise the addon in a second JS thread (a worker_thread).
#pragma once

#include <napi.h>

// Node versions whose Node-API has no "basic" finalizers (before 20.10/21) queue every finalizer; the code is the
// same, only slower there.
#ifndef NODE_API_EXPERIMENTAL_HAS_POST_FINALIZER
typedef napi_env node_api_basic_env;
#endif

#include <ATen/ATen.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace rft {

// ---------------------------------------------------------------------------------------------------------------
// Tensor handles and memory accounting
// ---------------------------------------------------------------------------------------------------------------

struct Handle {
  at::Tensor t;
  const void* storage = nullptr;  // StorageImpl* counted in g_storages (CPU only)
  bool disposed = false;
  // Whether a GC finalizer owns this struct. Handles created inside a tidy() scope have none: the scope is certain
  // to dispose them, and creating a V8 weak reference per tensor costs more than a small op. A handle that leaves
  // every scope (returned from the outermost one, or kept) gets its finalizer then (attachFinalizer).
  bool has_finalizer = false;
};

// True while JS has a tidy() scope open (setScoped): new handles are then created without a finalizer.
inline bool g_scoped = false;

inline int64_t g_live_handles = 0;
inline int64_t g_cpu_bytes = 0;  // bytes of unique CPU storages referenced by live handles
inline int64_t g_created = 0;    // total handles ever created (for per-op allocation checks)
inline int64_t g_finalized = 0;  // handles freed by the GC safety net rather than dispose()
struct StorageCount {
  int64_t refs;
  int64_t bytes;
};
inline std::unordered_map<const void*, StorageCount> g_storages;

// V8 is told about native bytes in batches: telling it on every small tensor costs more than the op itself.
inline int64_t g_pending_external = 0;
constexpr int64_t kExternalBatch = 1 << 20;

// `in_gc`: called from a GC finalizer. V8 must not be told about external memory from inside a collection (it can
// start another GC step re-entrantly and abort with "Check failed: marking_done_"), so the change is only recorded
// and reported by the next call made outside the GC.
inline void adjust_external(node_api_basic_env env, int64_t delta, bool in_gc = false) {
  g_pending_external += delta;
  if (in_gc) return;
  if (g_pending_external >= kExternalBatch || g_pending_external <= -kExternalBatch) {
    int64_t adjusted;
    napi_adjust_external_memory(env, g_pending_external, &adjusted);
    g_pending_external = 0;
  }
}

inline void account_add(Napi::Env env, Handle* h) {
  g_live_handles++;
  g_created++;
  if (!h->t.defined() || !h->t.has_storage() || !h->t.is_cpu()) return;
  const void* key = h->t.storage().unsafeGetStorageImpl();
  h->storage = key;
  auto it = g_storages.find(key);
  if (it != g_storages.end()) {
    it->second.refs++;
    return;
  }
  int64_t bytes = static_cast<int64_t>(h->t.storage().nbytes());
  g_storages.emplace(key, StorageCount{1, bytes});
  g_cpu_bytes += bytes;
  if (bytes > 0) adjust_external(env, bytes);
}

inline void release_basic(node_api_basic_env env, Handle* h, bool in_gc = false) {
  if (h->disposed) return;
  h->disposed = true;
  g_live_handles--;
  if (h->storage != nullptr) {
    auto it = g_storages.find(h->storage);
    if (it != g_storages.end() && --it->second.refs == 0) {
      g_cpu_bytes -= it->second.bytes;
      if (it->second.bytes > 0) adjust_external(env, -it->second.bytes, in_gc);
      g_storages.erase(it);
    }
    h->storage = nullptr;
  }
  h->t = at::Tensor();
}

inline void release(Napi::Env env, Handle* h) {
  release_basic(env, h);
}

// GC safety net for a handle (memory.cc).
void finalize_handle(node_api_basic_env env, void* data, void*);

inline Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* h = new Handle{std::move(t)};
  account_add(env, h);
  h->has_finalizer = !g_scoped;
  napi_value out;
  napi_status st = napi_create_external(env, h, h->has_finalizer ? finalize_handle : nullptr, nullptr, &out);
  if (st != napi_ok) {
    release(env, h);
    delete h;
    NAPI_THROW_IF_FAILED(env, st, Napi::Value());
  }
  return Napi::Value(env, out);
}

std::string describe(const Napi::Value& v);
std::string shape_str(const at::Tensor& t);

inline const at::Tensor& unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) throw std::invalid_argument(std::string(what) + ": expected a tensor handle, got " + describe(v));
  Handle* h = v.As<Napi::External<Handle>>().Data();
  if (h->disposed) throw std::invalid_argument(std::string(what) + ": tensor is disposed");
  return h->t;
}

// Error boundary: every entry point runs inside guard(), which turns any C++ exception into a JS Error.
inline std::string clean(const std::string& msg) {
  // c10 messages end with a C++ backtrace on some builds; keep the first paragraph only.
  auto pos = msg.find("\nException raised from");
  std::string s = pos == std::string::npos ? msg : msg.substr(0, pos);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

template <typename F>
Napi::Value guard(const Napi::CallbackInfo& info, const char* name, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + clean(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string(name) + ": " + clean(e.what()));
  }
}

std::vector<int64_t> to_shape(const Napi::Value& v);
at::ScalarType to_dtype(const Napi::Value& v);

/** The at::Generator of a JS Generator object (rng.cc); throws a clear error for anything else. */
at::Generator unwrap_generator(const Napi::Value& v, const char* what);

using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
inline void export_fn(Napi::Env env, Napi::Object exports, const char* name, Fn f) {
  exports.Set(name, Napi::Function::New(env, f, name));
}

void register_tensors(Napi::Env env, Napi::Object exports);
void register_memory(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_autograd(Napi::Env env, Napi::Object exports);
void register_rng(Napi::Env env, Napi::Object exports);
void register_threads(Napi::Env env, Napi::Object exports);
void register_distributed(Napi::Env env, Napi::Object exports);

}  // namespace rft
