// Memory: explicit disposal, the GC safety net (finalizers), the scope flag and the counters tests assert on.
#include "common.h"

namespace rft {

// Safety net: runs when V8 collects a handle. It is a "basic" finalizer (it calls no JS), so Node runs it
// synchronously inside the GC instead of queueing it: the queue (a hash set insert and erase per handle) cost
// more than a small op itself. Handles disposed explicitly only free their small Handle struct here.
void finalize_handle(node_api_basic_env env, void* data, void*) {
  auto* h = static_cast<Handle*>(data);
  if (!h->disposed) {
    g_finalized++;
    release_basic(env, h, /*in_gc=*/true);
  }
  delete h;
}

namespace {

// dispose(h): frees the tensor reference now. A handle without finalizer also frees its struct: the JS side drops
// every reference to a handle it disposed (Tensor.dispose clears it), so nothing can reach the struct afterwards.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) {
    Handle* h = info[0].As<Napi::External<Handle>>().Data();
    if (h->disposed) return info.Env().Undefined();
    release(info.Env(), h);
    if (!h->has_finalizer) delete h;
  }
  return info.Env().Undefined();
}

// attachFinalizer(h): gives a handle created inside a scope the GC safety net, when it leaves every scope.
Napi::Value AttachFinalizer(const Napi::CallbackInfo& info) {
  return guard(info, "attachFinalizer", [&]() -> Napi::Value {
    if (!info[0].IsExternal()) throw std::invalid_argument("expected a tensor handle");
    Handle* h = info[0].As<Napi::External<Handle>>().Data();
    if (h->disposed || h->has_finalizer) return info.Env().Undefined();
    napi_status st = napi_add_finalizer(info.Env(), info[0], h, finalize_handle, nullptr, nullptr);
    if (st != napi_ok) throw std::runtime_error("napi_add_finalizer failed");
    h->has_finalizer = true;
    return info.Env().Undefined();
  });
}

Napi::Value SetScoped(const Napi::CallbackInfo& info) {
  g_scoped = info[0].As<Napi::Boolean>().Value();
  return info.Env().Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("liveHandles", static_cast<double>(g_live_handles));
  o.Set("cpuBytes", static_cast<double>(g_cpu_bytes));
  o.Set("createdHandles", static_cast<double>(g_created));
  o.Set("finalizedHandles", static_cast<double>(g_finalized));
  return o;
}

}  // namespace

void register_memory(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "dispose", Dispose);
  export_fn(env, exports, "attachFinalizer", AttachFinalizer);
  export_fn(env, exports, "setScoped", SetScoped);
  export_fn(env, exports, "memory", Memory);
}

}  // namespace rft
