// Autograd and modes: backward, grad, gradient accessors, grad/inference/autocast modes.
#include "common.h"

#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>

#include <memory>

namespace rft {
namespace {

std::vector<at::Tensor> tensor_list(const Napi::Value& v, const char* what, bool allow_null) {
  std::vector<at::Tensor> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (allow_null && (x.IsNull() || x.IsUndefined()))
      out.emplace_back();
    else
      out.push_back(unwrap(x, what));
  }
  return out;
}

// backward(tensors[], grads[]|null, retainGraph, createGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  return guard(info, "backward", [&]() -> Napi::Value {
    auto ts = tensor_list(info[0], "backward", false);
    auto gs = tensor_list(info[1], "backward", true);
    bool retain = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
    bool create = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
    torch::autograd::backward(ts, gs, retain ? c10::optional<bool>(true) : c10::nullopt, create);
    return info.Env().Undefined();
  });
}

// grad(outputs[], inputs[], gradOutputs[]|null, retainGraph, createGraph, allowUnused) -> (tensor|null)[]
Napi::Value AutogradGrad(const Napi::CallbackInfo& info) {
  return guard(info, "grad", [&]() -> Napi::Value {
    auto outs = tensor_list(info[0], "grad", false);
    auto ins = tensor_list(info[1], "grad", false);
    auto gouts = tensor_list(info[2], "grad", true);
    bool retain = info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
    bool create = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    bool unused = info[5].IsBoolean() && info[5].As<Napi::Boolean>().Value();
    auto res = torch::autograd::grad(outs, ins, gouts, retain ? c10::optional<bool>(true) : c10::nullopt, create,
                                     unused);
    auto a = Napi::Array::New(info.Env(), res.size());
    for (size_t i = 0; i < res.size(); i++) a.Set(i, wrap(info.Env(), res[i]));
    return a;
  });
}

Napi::Value GetGrad(const Napi::CallbackInfo& info) {
  return guard(info, "getGrad", [&]() -> Napi::Value { return wrap(info.Env(), unwrap(info[0], "getGrad").grad()); });
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  return guard(info, "setGrad", [&]() -> Napi::Value {
    const at::Tensor& t = unwrap(info[0], "setGrad");
    if (info[1].IsNull() || info[1].IsUndefined())
      t.mutable_grad() = at::Tensor();
    else
      t.mutable_grad() = unwrap(info[1], "setGrad");
    return info.Env().Undefined();
  });
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  return guard(info, "setRequiresGrad", [&]() -> Napi::Value {
    unwrap(info[0], "setRequiresGrad").set_requires_grad(info[1].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return guard(info, "isLeaf", [&]() -> Napi::Value {
    return Napi::Boolean::New(info.Env(), unwrap(info[0], "isLeaf").is_leaf());
  });
}

Napi::Value GradFnName(const Napi::CallbackInfo& info) {
  return guard(info, "gradFn", [&]() -> Napi::Value {
    const auto& fn = unwrap(info[0], "gradFn").grad_fn();
    if (!fn) return info.Env().Null();
    return Napi::String::New(info.Env(), fn->name());
  });
}

// setGradEnabled(bool) -> previous
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// Inference mode is an RAII guard in C++; JS enters and exits it in strict LIFO order (enforced here).
std::vector<std::unique_ptr<c10::InferenceMode>> g_inference;

Napi::Value InferenceEnter(const Napi::CallbackInfo& info) {
  return guard(info, "inferenceMode", [&]() -> Napi::Value {
    bool enabled = info.Length() == 0 || info[0].ToBoolean().Value();
    g_inference.push_back(std::make_unique<c10::InferenceMode>(enabled));
    return Napi::Number::New(info.Env(), static_cast<double>(g_inference.size()));
  });
}

Napi::Value InferenceExit(const Napi::CallbackInfo& info) {
  return guard(info, "inferenceMode", [&]() -> Napi::Value {
    size_t depth = info[0].As<Napi::Number>().Uint32Value();
    if (depth != g_inference.size()) throw std::logic_error("inference mode scopes exited out of order");
    g_inference.pop_back();
    return info.Env().Undefined();
  });
}

Napi::Value IsInferenceMode(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::InferenceMode::is_enabled());
}

// setAutocastCpu(enabled, dtype) -> previous enabled. Leaving autocast clears its weight-cast cache.
Napi::Value SetAutocastCpu(const Napi::CallbackInfo& info) {
  return guard(info, "setAutocastCpu", [&]() -> Napi::Value {
    bool prev = at::autocast::is_cpu_enabled();
    bool enabled = info[0].As<Napi::Boolean>().Value();
    if (info.Length() > 1 && info[1].IsNumber()) at::autocast::set_autocast_cpu_dtype(to_dtype(info[1]));
    if (enabled && !prev) at::autocast::increment_nesting();
    if (!enabled && prev && at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(enabled);
    return Napi::Boolean::New(info.Env(), prev);
  });
}

}  // namespace

void register_autograd(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "backward", Backward);
  export_fn(env, exports, "grad", AutogradGrad);
  export_fn(env, exports, "getGrad", GetGrad);
  export_fn(env, exports, "setGrad", SetGrad);
  export_fn(env, exports, "setRequiresGrad", SetRequiresGrad);
  export_fn(env, exports, "isLeaf", IsLeaf);
  export_fn(env, exports, "gradFn", GradFnName);
  export_fn(env, exports, "setGradEnabled", SetGradEnabled);
  export_fn(env, exports, "isGradEnabled", IsGradEnabled);
  export_fn(env, exports, "inferenceEnter", InferenceEnter);
  export_fn(env, exports, "inferenceExit", InferenceExit);
  export_fn(env, exports, "isInferenceMode", IsInferenceMode);
  export_fn(env, exports, "setAutocastCpu", SetAutocastCpu);
}

}  // namespace rft
