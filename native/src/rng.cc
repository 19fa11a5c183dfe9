// Random number generators. Two kinds of stream:
//  - the default generators (one per device) that ops use when their `Generator? generator` argument is None:
//    manualSeed seeds all of them, getRngState/setRngState save and restore one device's state;
//  - explicit Generator objects (`new Generator(seed, device)`), each an independent at::Generator that any op
//    whose schema takes `Generator? generator` (multinomial, bernoulli, normal, rand*, randperm, ...) accepts,
//    with its own seed and state. A JS Generator is a Napi::ObjectWrap; ops.cc converts it with unwrap_generator.
#include "common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <cmath>
#include <cstring>
#include <mutex>

namespace rft {
namespace {

uint64_t to_seed(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw std::invalid_argument(std::string(what) + ": seed must be a number, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || std::abs(d) > 9007199254740991.0)
    throw std::invalid_argument(std::string(what) + ": seed must be a safe integer, got " + describe(v));
  // Negative seeds wrap to 64 bits, as torch.manual_seed does.
  return static_cast<uint64_t>(static_cast<int64_t>(d));
}

c10::Device to_device(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return c10::Device(c10::kCPU);
  if (!v.IsString()) throw std::invalid_argument("device must be a string such as 'cpu' or 'cuda:0'");
  return c10::Device(v.As<Napi::String>().Utf8Value());
}

/** The default generator of a device (CPU, or CUDA when libtorch has it). */
at::Generator default_generator(const c10::Device& d) {
  if (d.is_cpu()) return at::detail::getDefaultCPUGenerator();
  if (d.is_cuda()) {
    if (!at::hasCUDA()) throw std::invalid_argument("device " + d.str() + ": this libtorch has no CUDA");
    return at::detail::getCUDAHooks().getDefaultCUDAGenerator(d.has_index() ? d.index() : -1);
  }
  throw std::invalid_argument("no generator for device " + d.str() + " (cpu or cuda)");
}

Napi::Value state_buffer(Napi::Env env, at::Generator gen) {
  at::Tensor s;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    s = gen.get_state();
  }
  return Napi::Buffer<uint8_t>::Copy(env, s.data_ptr<uint8_t>(), s.numel());
}

void set_state(at::Generator& gen, const Napi::Value& v) {
  if (!v.IsBuffer()) throw std::invalid_argument("state must be a Buffer from getState()/getRngState()");
  auto b = v.As<Napi::Buffer<uint8_t>>();
  auto s = at::empty({static_cast<int64_t>(b.Length())}, at::kByte);
  if (b.Length()) std::memcpy(s.data_ptr(), b.Data(), b.Length());
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(s);  // checks the size and throws a c10::Error for a state of another kind
}

class GeneratorWrap : public Napi::ObjectWrap<GeneratorWrap> {
 public:
  static Napi::FunctionReference* ctor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Generator",
                       {InstanceMethod("manualSeed", &GeneratorWrap::ManualSeed),
                        InstanceMethod("initialSeed", &GeneratorWrap::InitialSeed),
                        InstanceMethod("getState", &GeneratorWrap::GetState),
                        InstanceMethod("setState", &GeneratorWrap::SetState),
                        InstanceMethod("device", &GeneratorWrap::Device)});
  }

  // new Generator(seed?, device?)
  explicit GeneratorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorWrap>(info) {
    guard(info, "Generator", [&]() -> Napi::Value {
      c10::Device d = to_device(info[1]);
      if (d.is_cpu()) {
        gen = at::make_generator<at::CPUGeneratorImpl>();
      } else {
        at::Generator def = default_generator(d);
        std::lock_guard<std::mutex> lock(def.mutex());
        gen = def.clone();
      }
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(info[0].IsUndefined() || info[0].IsNull() ? c10::detail::getNonDeterministicRandom()
                                                                       : to_seed(info[0], "Generator"));
      return info.Env().Undefined();
    });
  }

  at::Generator gen;

 private:
  Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
    return guard(info, "Generator.manualSeed", [&]() -> Napi::Value {
      uint64_t s = to_seed(info[0], "Generator.manualSeed");
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(s);
      return info.Env().Undefined();
    });
  }
  Napi::Value InitialSeed(const Napi::CallbackInfo& info) {
    // Seeds above 2^53 are not exact as JS numbers; seeds set from JS always are.
    return Napi::Number::New(info.Env(), static_cast<double>(gen.current_seed()));
  }
  Napi::Value GetState(const Napi::CallbackInfo& info) {
    return guard(info, "Generator.getState", [&]() -> Napi::Value { return state_buffer(info.Env(), gen); });
  }
  Napi::Value SetState(const Napi::CallbackInfo& info) {
    return guard(info, "Generator.setState", [&]() -> Napi::Value {
      set_state(gen, info[0]);
      return info.Env().Undefined();
    });
  }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), gen.device().str()); }
};

Napi::FunctionReference* GeneratorWrap::ctor = nullptr;

// manualSeed(seed): seeds every default generator (CPU and CUDA), as torch.manual_seed.
Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  return guard(info, "manualSeed", [&]() -> Napi::Value {
    at::manual_seed(to_seed(info[0], "manualSeed"));
    return info.Env().Undefined();
  });
}

// getRngState(device?) -> Buffer: the full state of a device's default generator.
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  return guard(info, "getRngState", [&]() -> Napi::Value {
    return state_buffer(info.Env(), default_generator(to_device(info[0])));
  });
}

// setRngState(state, device?)
Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  return guard(info, "setRngState", [&]() -> Napi::Value {
    at::Generator gen = default_generator(to_device(info[1]));
    set_state(gen, info[0]);
    return info.Env().Undefined();
  });
}

}  // namespace

at::Generator unwrap_generator(const Napi::Value& v, const char* what) {
  if (v.IsObject() && GeneratorWrap::ctor != nullptr && v.As<Napi::Object>().InstanceOf(GeneratorWrap::ctor->Value()))
    return GeneratorWrap::Unwrap(v.As<Napi::Object>())->gen;
  throw std::invalid_argument(std::string("argument '") + what + "' expects a Generator (or null for the default), got " +
                              describe(v));
}

void register_rng(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = GeneratorWrap::Define(env);
  GeneratorWrap::ctor = new Napi::FunctionReference(Napi::Persistent(cls));  // lives as long as the process
  exports.Set("Generator", cls);
  export_fn(env, exports, "manualSeed", ManualSeed);
  export_fn(env, exports, "getRngState", GetRngState);
  export_fn(env, exports, "setRngState", SetRngState);
}

}  // namespace rft
