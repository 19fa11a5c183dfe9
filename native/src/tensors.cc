// Tensors: data in and out (one copy in, copy or zero-copy view out), metadata, and the text used in errors.
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rft {

std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); i++) s << (i ? "," : "") << t.size(i);
  s << "] " << c10::toString(t.scalar_type());
  if (!t.is_cpu()) s << " " << t.device();
  return s.str();
}

std::string describe(const Napi::Value& v) {
  if (v.IsExternal()) {
    Handle* h = v.As<Napi::External<Handle>>().Data();
    if (h->disposed) return "<disposed tensor>";
    return h->t.defined() ? shape_str(h->t) : "<undefined tensor>";
  }
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "None";
  if (v.IsNumber()) {
    std::ostringstream s;
    s << v.As<Napi::Number>().DoubleValue();
    return s.str();
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsString()) return "'" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsArray()) {
    auto a = v.As<Napi::Array>();
    std::string s = "(";
    for (uint32_t i = 0; i < a.Length() && i < 8; i++) s += (i ? ", " : "") + describe(a.Get(i));
    if (a.Length() > 8) s += ", ...";
    return s + ")";
  }
  return "<object>";
}


std::vector<int64_t> to_shape(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("shape must be an array of ints");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> s(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    double d = a.Get(i).As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d)))
      throw std::invalid_argument("shape entries must be non-negative integers");
    s[i] = static_cast<int64_t>(d);
  }
  return s;
}

at::ScalarType to_dtype(const Napi::Value& v) {
  int d = v.As<Napi::Number>().Int32Value();
  if (d < 0 || d >= static_cast<int>(at::ScalarType::NumOptions)) throw std::invalid_argument("bad dtype code");
  return static_cast<at::ScalarType>(d);
}

// fromBuffer(typedArrayOrBuffer, shape, dtype) -> tensor (one copy into torch-owned memory)

namespace {

Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  return guard(info, "fromBuffer", [&]() -> Napi::Value {
    const uint8_t* data;
    size_t len;
    if (info[0].IsTypedArray()) {
      auto ta = info[0].As<Napi::TypedArray>();
      data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      len = ta.ByteLength();
    } else if (info[0].IsArrayBuffer()) {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      data = static_cast<const uint8_t*>(ab.Data());
      len = ab.ByteLength();
    } else {
      throw std::invalid_argument("expected a TypedArray, Buffer or ArrayBuffer");
    }
    auto shape = to_shape(info[1]);
    auto dtype = to_dtype(info[2]);
    auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
    size_t need = t.nbytes();
    if (need != len)
      throw std::invalid_argument("buffer has " + std::to_string(len) + " bytes, shape " + shape_str(t) + " needs " +
                                  std::to_string(need));
    if (need) std::memcpy(t.data_ptr(), data, need);
    return wrap(info.Env(), std::move(t));
  });
}

// fromFile(path, offset, shape, dtype) -> tensor read with pread straight into torch memory (no JS copy)
Napi::Value FromFile(const Napi::CallbackInfo& info) {
  return guard(info, "fromFile", [&]() -> Napi::Value {
    std::string path = info[0].As<Napi::String>();
    int64_t offset = info[1].As<Napi::Number>().Int64Value();
    auto t = at::empty(to_shape(info[2]), at::TensorOptions().dtype(to_dtype(info[3])));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    size_t need = t.nbytes(), done = 0;
    auto* dst = static_cast<char*>(t.data_ptr());
    while (done < need) {
      ssize_t r = ::pread(fd, dst + done, need - done, offset + static_cast<int64_t>(done));
      if (r <= 0) {
        ::close(fd);
        throw std::runtime_error(path + ": short read at offset " + std::to_string(offset + done) + " (file truncated?)");
      }
      done += static_cast<size_t>(r);
    }
    ::close(fd);
    return wrap(info.Env(), std::move(t));
  });
}

// toBuffer(t) -> ArrayBuffer holding a copy of the (contiguous, CPU) data
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  return guard(info, "toBuffer", [&]() -> Napi::Value {
    at::Tensor t = unwrap(info[0], "toBuffer");
    if (!t.is_cpu()) t = t.cpu();
    t = t.contiguous();
    auto ab = Napi::ArrayBuffer::New(info.Env(), t.nbytes());
    if (t.nbytes()) std::memcpy(ab.Data(), t.data_ptr(), t.nbytes());
    return ab;
  });
}

// view(t) -> external ArrayBuffer over the tensor's own memory (zero-copy). The buffer keeps the storage alive
// (it holds its own at::Tensor reference); writes through it are visible to the tensor and vice versa.
Napi::Value View(const Napi::CallbackInfo& info) {
  return guard(info, "view", [&]() -> Napi::Value {
    const at::Tensor& t = unwrap(info[0], "view");
    if (!t.is_cpu() || !t.is_contiguous()) throw std::invalid_argument("view needs a contiguous CPU tensor");
    auto* keep = new at::Tensor(t);
    return Napi::ArrayBuffer::New(info.Env(), t.data_ptr(), t.nbytes(),
                                  [](Napi::Env, void*, at::Tensor* k) { delete k; }, keep);
  });
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  return guard(info, "item", [&]() -> Napi::Value {
    const at::Tensor& t = unwrap(info[0], "item");
    auto s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(info.Env(), s.toBool());
    return Napi::Number::New(info.Env(), s.isIntegral(false) ? static_cast<double>(s.toLong()) : s.toDouble());
  });
}

// meta(t) -> [shape, dtype, device, requiresGrad]
Napi::Value Meta(const Napi::CallbackInfo& info) {
  return guard(info, "meta", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    const at::Tensor& t = unwrap(info[0], "meta");
    auto shape = Napi::Array::New(env, t.dim());
    for (int64_t i = 0; i < t.dim(); i++) shape.Set(i, Napi::Number::New(env, static_cast<double>(t.size(i))));
    auto out = Napi::Array::New(env, 4);
    out.Set(0u, shape);
    out.Set(1u, Napi::Number::New(env, static_cast<int>(t.scalar_type())));
    out.Set(2u, Napi::String::New(env, t.device().str()));
    out.Set(3u, Napi::Boolean::New(env, t.requires_grad()));
    return out;
  });
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  return guard(info, "shape", [&]() -> Napi::Value {
    const at::Tensor& t = unwrap(info[0], "shape");
    auto shape = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); i++) shape.Set(i, Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return shape;
  });
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return guard(info, "dtype", [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<int>(unwrap(info[0], "dtype").scalar_type()));
  });
}

// dispose(h): frees the tensor reference now. A handle without finalizer also frees its struct: the JS side drops
}  // namespace

void register_tensors(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "fromBuffer", FromBuffer);
  export_fn(env, exports, "fromFile", FromFile);
  export_fn(env, exports, "toBuffer", ToBuffer);
  export_fn(env, exports, "view", View);
  export_fn(env, exports, "item", Item);
  export_fn(env, exports, "meta", Meta);
  export_fn(env, exports, "shape", Shape);
  export_fn(env, exports, "dtype", Dtype);
}

}  // namespace rft
