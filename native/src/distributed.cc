// libtorch's distributed engine (c10d), thinly: a TCPStore (the rendezvous key-value store torchrun and
// torch.distributed use) and process groups (Gloo on CPU; NCCL when the libtorch build has it) with all-reduce,
// broadcast, all-gather and barrier on tensors. Every collective is blocking from JS's point of view: the call
// returns when the work is done, and throws a JS Error when the backend reports one (a dead peer: Gloo sees the
// connection close) or when the timeout passes (a stuck peer). Nothing here knows about training; src/dist/ does.
//
// Built only when the Gloo headers are present (Debian: libgloo-dev; binding.gyp defines RFT_WITH_C10D then).
// Without them the module exports `distributedAvailable() === false` and src/dist/ says what to install.
#include "common.h"

#ifdef RFT_WITH_C10D
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RFT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <chrono>
#include <cmath>
#include <cstdlib>
#endif

namespace rft {
namespace {

#ifdef RFT_WITH_C10D

std::chrono::milliseconds to_ms(const Napi::Value& v, const char* what, std::chrono::milliseconds dflt) {
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw std::invalid_argument(std::string(what) + ": expected milliseconds, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d <= 0) throw std::invalid_argument(std::string(what) + ": must be > 0 ms, got " + describe(v));
  return std::chrono::milliseconds(static_cast<int64_t>(d));
}

Napi::Value opt(const Napi::Value& o, const char* key) {
  if (!o.IsObject()) return o.Env().Undefined();
  return o.As<Napi::Object>().Get(key);
}

int to_int(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw std::invalid_argument(std::string(what) + ": expected an integer, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != std::trunc(d) || d < 0 || d > 1e9) throw std::invalid_argument(std::string(what) + ": expected an integer >= 0");
  return static_cast<int>(d);
}

// ---- the store ----------------------------------------------------------------------------------------------------

class StoreWrap : public Napi::ObjectWrap<StoreWrap> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Store",
                       {InstanceMethod("set", &StoreWrap::Set), InstanceMethod("get", &StoreWrap::Get),
                        InstanceMethod("add", &StoreWrap::Add), InstanceMethod("wait", &StoreWrap::Wait),
                        InstanceMethod("check", &StoreWrap::Check), InstanceMethod("numKeys", &StoreWrap::NumKeys),
                        InstanceMethod("setTimeout", &StoreWrap::SetTimeout)});
  }

  // new Store(host, port, { isServer, worldSize?, timeoutMs?, waitWorkers? })
  explicit StoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreWrap>(info) {
    guard(info, "Store", [&]() -> Napi::Value {
      if (!info[0].IsString()) throw std::invalid_argument("host must be a string");
      int port = to_int(info[1], "port");
      if (port > 65535) throw std::invalid_argument("port must be 0..65535");
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(port);
      o.isServer = opt(info[2], "isServer").ToBoolean();
      Napi::Value ws = opt(info[2], "worldSize");
      if (!ws.IsUndefined() && !ws.IsNull()) o.numWorkers = static_cast<size_t>(to_int(ws, "worldSize"));
      Napi::Value ww = opt(info[2], "waitWorkers");
      o.waitWorkers = ww.IsUndefined() ? false : ww.ToBoolean().Value();
      o.timeout = to_ms(opt(info[2], "timeoutMs"), "timeoutMs", std::chrono::milliseconds(300000));
      store = c10::make_intrusive<c10d::TCPStore>(info[0].As<Napi::String>().Utf8Value(), o);
      return info.Env().Undefined();
    });
  }

  c10::intrusive_ptr<c10d::Store> store;

 private:
  static std::string key(const Napi::Value& v) {
    if (!v.IsString()) throw std::invalid_argument("key must be a string, got " + describe(v));
    return v.As<Napi::String>().Utf8Value();
  }
  Napi::Value Set(const Napi::CallbackInfo& info) {
    return guard(info, "Store.set", [&]() -> Napi::Value {
      std::vector<uint8_t> val;
      if (info[1].IsBuffer()) {
        auto b = info[1].As<Napi::Buffer<uint8_t>>();
        val.assign(b.Data(), b.Data() + b.Length());
      } else if (info[1].IsString()) {
        std::string s = info[1].As<Napi::String>().Utf8Value();
        val.assign(s.begin(), s.end());
      } else {
        throw std::invalid_argument("value must be a Buffer or a string");
      }
      store->set(key(info[0]), val);
      return info.Env().Undefined();
    });
  }
  Napi::Value Get(const Napi::CallbackInfo& info) {
    return guard(info, "Store.get", [&]() -> Napi::Value {
      std::vector<uint8_t> v = store->get(key(info[0]));
      return Napi::Buffer<uint8_t>::Copy(info.Env(), v.data(), v.size());
    });
  }
  Napi::Value Add(const Napi::CallbackInfo& info) {
    return guard(info, "Store.add", [&]() -> Napi::Value {
      if (!info[1].IsNumber()) throw std::invalid_argument("Store.add: delta must be a number");
      int64_t r = store->add(key(info[0]), info[1].As<Napi::Number>().Int64Value());
      return Napi::Number::New(info.Env(), static_cast<double>(r));
    });
  }
  static std::vector<std::string> keys(const Napi::Value& v) {
    if (!v.IsArray()) throw std::invalid_argument("keys must be an array of strings");
    auto a = v.As<Napi::Array>();
    std::vector<std::string> out;
    for (uint32_t i = 0; i < a.Length(); i++) out.push_back(key(a.Get(i)));
    return out;
  }
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    return guard(info, "Store.wait", [&]() -> Napi::Value {
      auto ks = keys(info[0]);
      if (info[1].IsUndefined()) store->wait(ks);
      else store->wait(ks, to_ms(info[1], "Store.wait timeoutMs", std::chrono::milliseconds(1)));
      return info.Env().Undefined();
    });
  }
  Napi::Value Check(const Napi::CallbackInfo& info) {
    return guard(info, "Store.check", [&]() -> Napi::Value {
      return Napi::Boolean::New(info.Env(), store->check(keys(info[0])));
    });
  }
  Napi::Value NumKeys(const Napi::CallbackInfo& info) {
    return guard(info, "Store.numKeys", [&]() -> Napi::Value {
      return Napi::Number::New(info.Env(), static_cast<double>(store->getNumKeys()));
    });
  }
  Napi::Value SetTimeout(const Napi::CallbackInfo& info) {
    return guard(info, "Store.setTimeout", [&]() -> Napi::Value {
      store->setTimeout(to_ms(info[0], "Store.setTimeout", std::chrono::milliseconds(1)));
      return info.Env().Undefined();
    });
  }
};

Napi::FunctionReference* StoreWrap::ctor = nullptr;

// ---- process groups -----------------------------------------------------------------------------------------------

c10d::ReduceOp to_reduce_op(const Napi::Value& v) {
  std::string s = v.IsUndefined() ? "sum" : (v.IsString() ? v.As<Napi::String>().Utf8Value() : "");
  if (s == "sum") return c10d::ReduceOp(c10d::ReduceOp::SUM);
  if (s == "max") return c10d::ReduceOp(c10d::ReduceOp::MAX);
  if (s == "min") return c10d::ReduceOp(c10d::ReduceOp::MIN);
  if (s == "product") return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
  throw std::invalid_argument("reduce op must be 'sum', 'max', 'min' or 'product', got " + describe(v));
}

std::vector<at::Tensor> tensor_list(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw std::invalid_argument(std::string(what) + ": expected an array of tensors");
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const at::Tensor& t = unwrap(a.Get(i), what);
    if (!t.is_contiguous()) throw std::invalid_argument(std::string(what) + ": tensors must be contiguous");
    out.push_back(t);
  }
  if (out.empty()) throw std::invalid_argument(std::string(what) + ": no tensors");
  return out;
}

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {InstanceMethod("allReduce", &ProcessGroupWrap::AllReduce),
                        InstanceMethod("broadcast", &ProcessGroupWrap::Broadcast),
                        InstanceMethod("allGather", &ProcessGroupWrap::AllGather),
                        InstanceMethod("barrier", &ProcessGroupWrap::Barrier),
                        InstanceMethod("rank", &ProcessGroupWrap::Rank), InstanceMethod("size", &ProcessGroupWrap::Size),
                        InstanceMethod("backend", &ProcessGroupWrap::Backend)});
  }

  // new ProcessGroup(store, rank, size, { backend: 'gloo'|'nccl', timeoutMs, prefix, hostname, iface })
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
    guard(info, "ProcessGroup", [&]() -> Napi::Value {
      if (!info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(StoreWrap::ctor->Value()))
        throw std::invalid_argument("the first argument must be a Store");
      auto base = StoreWrap::Unwrap(info[0].As<Napi::Object>())->store;
      int rank = to_int(info[1], "rank");
      int size = to_int(info[2], "size");
      if (size < 1 || rank >= size) throw std::invalid_argument("rank must be in [0, size) and size >= 1");
      const Napi::Value o = info[3];
      std::string backend = opt(o, "backend").IsString() ? opt(o, "backend").As<Napi::String>().Utf8Value() : "gloo";
      std::string prefix = opt(o, "prefix").IsString() ? opt(o, "prefix").As<Napi::String>().Utf8Value() : "default_pg";
      timeout = to_ms(opt(o, "timeoutMs"), "timeoutMs", std::chrono::milliseconds(1800000));
      auto store = c10::make_intrusive<c10d::PrefixStore>(prefix, base);
      if (backend == "gloo") {
        auto go = c10d::ProcessGroupGloo::Options::create(timeout);
        Napi::Value iface = opt(o, "iface");
        Napi::Value host = opt(o, "hostname");
        if (iface.IsString()) {
          go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface.As<Napi::String>().Utf8Value()));
        } else if (host.IsString()) {
          go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host.As<Napi::String>().Utf8Value()));
        } else {
          go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        go->threads = 2;
        pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, go);
      } else if (backend == "nccl") {
#ifdef RFT_WITH_NCCL
        auto no = c10d::ProcessGroupNCCL::Options::create();
        no->timeout = timeout;
        pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, no);
#else
        throw std::invalid_argument("backend 'nccl': this libtorch build has no NCCL (use 'gloo', or build against a CUDA libtorch)");
#endif
      } else {
        throw std::invalid_argument("backend must be 'gloo' or 'nccl', got '" + backend + "'");
      }
      return info.Env().Undefined();
    });
  }

  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::chrono::milliseconds timeout{1800000};

 private:
  std::chrono::milliseconds op_timeout(const Napi::Value& v) { return to_ms(v, "timeoutMs", timeout); }
  // Waits for a work item; the backend's exception (a dead peer) or the timeout (a stuck one) becomes a JS error.
  void finish(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds t) {
    if (!work->wait(t)) throw std::runtime_error("timed out after " + std::to_string(t.count()) + " ms");
  }
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    return guard(info, "allReduce", [&]() -> Napi::Value {
      auto ts = tensor_list(info[0], "allReduce");
      c10d::AllreduceOptions o;
      o.reduceOp = to_reduce_op(info[1]);
      o.timeout = op_timeout(info[2]);
      finish(pg->allreduce(ts, o), o.timeout);
      return info.Env().Undefined();
    });
  }
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    return guard(info, "broadcast", [&]() -> Napi::Value {
      auto ts = tensor_list(info[0], "broadcast");
      c10d::BroadcastOptions o;
      o.rootRank = to_int(info[1], "broadcast root");
      if (o.rootRank >= pg->getSize()) throw std::invalid_argument("broadcast: root rank out of range");
      o.timeout = op_timeout(info[2]);
      finish(pg->broadcast(ts, o), o.timeout);
      return info.Env().Undefined();
    });
  }
  // allGather(outputs: Tensor[size], input: Tensor)
  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    return guard(info, "allGather", [&]() -> Napi::Value {
      std::vector<std::vector<at::Tensor>> outs{tensor_list(info[0], "allGather outputs")};
      if (static_cast<int>(outs[0].size()) != pg->getSize())
        throw std::invalid_argument("allGather: need one output tensor per rank (" + std::to_string(pg->getSize()) + ")");
      std::vector<at::Tensor> in{unwrap(info[1], "allGather input")};
      c10d::AllgatherOptions o;
      o.timeout = op_timeout(info[2]);
      finish(pg->allgather(outs, in, o), o.timeout);
      return info.Env().Undefined();
    });
  }
  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return guard(info, "barrier", [&]() -> Napi::Value {
      c10d::BarrierOptions o;
      o.timeout = op_timeout(info[0]);
      finish(pg->barrier(o), o.timeout);
      return info.Env().Undefined();
    });
  }
  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pg->getRank()); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pg->getSize()); }
  Napi::Value Backend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pg->getBackendName()); }
};

#endif  // RFT_WITH_C10D

Napi::Value DistributedAvailable(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
#ifdef RFT_WITH_C10D
  o.Set("gloo", true);
#else
  o.Set("gloo", false);
#endif
#ifdef RFT_WITH_NCCL
  o.Set("nccl", true);
#else
  o.Set("nccl", false);
#endif
  return o;
}

}  // namespace

void register_distributed(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "distributedBackends", DistributedAvailable);
#ifdef RFT_WITH_C10D
  Napi::Function store = StoreWrap::Define(env);
  StoreWrap::ctor = new Napi::FunctionReference(Napi::Persistent(store));
  exports.Set("Store", store);
  exports.Set("ProcessGroup", ProcessGroupWrap::Define(env));
#endif
}

}  // namespace rft
