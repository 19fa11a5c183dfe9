// reason-rft native binding: the only code in the project that includes torch headers.
//
// It exposes (1) an opaque tensor handle (a Napi::External owning one at::Tensor), (2) a boxed call of any ATen
// operator through the c10 dispatcher, with operator handles and per-argument conversion plans cached by id, and
// (3) the few things that are not operators: data in/out, autograd, grad/inference/autocast modes, RNG state,
// threads and memory counters. No model logic lives here. Every entry point catches c10 and std exceptions and
// rethrows a JS Error naming the operator and the argument shapes/dtypes, so bad input never aborts the process.
#include <napi.h>

// Node versions whose Node-API has no "basic" finalizers (before 20.10/21) queue every finalizer; the code is the
// same, only slower there.
#ifndef NODE_API_EXPERIMENTAL_HAS_POST_FINALIZER
typedef napi_env node_api_basic_env;
#endif

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/version.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

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
bool g_scoped = false;

int64_t g_live_handles = 0;
int64_t g_cpu_bytes = 0;  // bytes of unique CPU storages referenced by live handles
int64_t g_created = 0;    // total handles ever created (for per-op allocation checks)
int64_t g_finalized = 0;  // handles freed by the GC safety net rather than dispose()
struct StorageCount {
  int64_t refs;
  int64_t bytes;
};
std::unordered_map<const void*, StorageCount> g_storages;

// V8 is told about native bytes in batches: telling it on every small tensor costs more than the op itself.
int64_t g_pending_external = 0;
constexpr int64_t kExternalBatch = 1 << 20;

void adjust_external(node_api_basic_env env, int64_t delta) {
  g_pending_external += delta;
  if (g_pending_external >= kExternalBatch || g_pending_external <= -kExternalBatch) {
    int64_t adjusted;
    napi_adjust_external_memory(env, g_pending_external, &adjusted);
    g_pending_external = 0;
  }
}

void account_add(Napi::Env env, Handle* h) {
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

void release_basic(node_api_basic_env env, Handle* h) {
  if (h->disposed) return;
  h->disposed = true;
  g_live_handles--;
  if (h->storage != nullptr) {
    auto it = g_storages.find(h->storage);
    if (it != g_storages.end() && --it->second.refs == 0) {
      g_cpu_bytes -= it->second.bytes;
      if (it->second.bytes > 0) adjust_external(env, -it->second.bytes);
      g_storages.erase(it);
    }
    h->storage = nullptr;
  }
  h->t = at::Tensor();
}

void release(Napi::Env env, Handle* h) {
  release_basic(env, h);
}

// Safety net: runs when V8 collects a handle. It is a "basic" finalizer (it calls no JS), so Node runs it
// synchronously inside the GC instead of queueing it: the queue (a hash set insert and erase per handle) cost
// more than a small op itself. Handles disposed explicitly only free their small Handle struct here.
void finalize_handle(node_api_basic_env env, void* data, void*) {
  auto* h = static_cast<Handle*>(data);
  if (!h->disposed) {
    g_finalized++;
    release_basic(env, h);
  }
  delete h;
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
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

const at::Tensor& unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsExternal()) throw std::invalid_argument(std::string(what) + ": expected a tensor handle, got " + describe(v));
  Handle* h = v.As<Napi::External<Handle>>().Data();
  if (h->disposed) throw std::invalid_argument(std::string(what) + ": tensor is disposed");
  return h->t;
}

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

// Error boundary: every entry point runs inside guard(), which turns any C++ exception into a JS Error.
std::string clean(const std::string& msg) {
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

// ---------------------------------------------------------------------------------------------------------------
// Boxed operator calls
// ---------------------------------------------------------------------------------------------------------------

enum class Kind {
  Tensor,
  TensorList,
  OptTensorList,
  Int,
  IntList,
  Float,
  FloatList,
  Bool,
  BoolList,
  Scalar,
  String,
  Device,
  Generator,
  Unsupported
};

struct ArgPlan {
  std::string name;
  Kind kind;
  bool optional;
  c10::optional<c10::IValue> default_value;
  int n;  // fixed list size (int[2]) or 0
  std::string type_str;
};

struct OpEntry;
using FastFn = Napi::Value (*)(const OpEntry&, const Napi::CallbackInfo&);

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;  // aten::name.overload
  std::vector<ArgPlan> args;
  size_t num_returns;
  // Unboxed fast path for the most common signatures (see fast_paths()): skips IValue boxing and unboxing.
  FastFn fast = nullptr;
  std::shared_ptr<void> typed;  // c10::TypedOperatorHandle<Sig> for `fast`
};

void attach_fast_path(OpEntry& e);

std::vector<OpEntry> g_ops;
std::unordered_map<std::string, size_t> g_op_ids;

Kind kind_of(const c10::TypePtr& t) {
  using K = c10::TypeKind;
  switch (t->kind()) {
    case K::TensorType:
      return Kind::Tensor;
    case K::IntType:
    case K::SymIntType:
      return Kind::Int;
    case K::FloatType:
      return Kind::Float;
    case K::BoolType:
      return Kind::Bool;
    case K::NumberType:
      return Kind::Scalar;
    case K::StringType:
      return Kind::String;
    case K::DeviceObjType:
      return Kind::Device;
    case K::GeneratorType:
      return Kind::Generator;
    case K::ListType: {
      auto elem = t->castRaw<c10::ListType>()->getElementType();
      if (elem->kind() == K::TensorType) return Kind::TensorList;
      if (elem->kind() == K::OptionalType &&
          elem->castRaw<c10::OptionalType>()->getElementType()->kind() == K::TensorType)
        return Kind::OptTensorList;
      if (elem->kind() == K::IntType || elem->kind() == K::SymIntType) return Kind::IntList;
      if (elem->kind() == K::FloatType) return Kind::FloatList;
      if (elem->kind() == K::BoolType) return Kind::BoolList;
      return Kind::Unsupported;
    }
    default:
      return Kind::Unsupported;
  }
}

size_t register_op(const std::string& name, const std::string& overload) {
  std::string key = overload.empty() ? name : name + "." + overload;
  auto it = g_op_ids.find(key);
  if (it != g_op_ids.end()) return it->second;
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) throw std::invalid_argument("unknown operator " + key + " (see allOps())");
  const auto& schema = handle->schema();
  OpEntry e{*handle, key, {}, schema.returns().size()};
  for (const auto& a : schema.arguments()) {
    ArgPlan p;
    p.name = a.name();
    p.type_str = a.type()->str();
    c10::TypePtr t = a.type();
    p.optional = false;
    if (t->kind() == c10::TypeKind::OptionalType) {
      p.optional = true;
      t = t->castRaw<c10::OptionalType>()->getElementType();
    }
    p.kind = kind_of(t);
    p.default_value = a.default_value();
    p.n = a.N() ? *a.N() : 0;
    e.args.push_back(std::move(p));
  }
  attach_fast_path(e);
  g_ops.push_back(std::move(e));
  g_op_ids.emplace(key, g_ops.size() - 1);
  return g_ops.size() - 1;
}

int64_t to_int(const Napi::Value& v, const ArgPlan& p) {
  if (!v.IsNumber()) throw std::invalid_argument("argument '" + p.name + "' expects int, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    throw std::invalid_argument("argument '" + p.name + "' expects an integer, got " + describe(v));
  return static_cast<int64_t>(d);
}

c10::IValue convert(const Napi::Value& v, const ArgPlan& p) {
  if (v.IsUndefined()) {
    if (p.default_value) return *p.default_value;
    if (p.optional) return c10::IValue();
    throw std::invalid_argument("missing argument '" + p.name + "' (" + p.type_str + ")");
  }
  if (v.IsNull()) {
    if (p.optional) return c10::IValue();
    throw std::invalid_argument("argument '" + p.name + "' (" + p.type_str + ") cannot be None");
  }
  switch (p.kind) {
    case Kind::Tensor:
      return unwrap(v, p.name.c_str());
    case Kind::Int:
      return to_int(v, p);
    case Kind::Float:
      if (!v.IsNumber()) throw std::invalid_argument("argument '" + p.name + "' expects float, got " + describe(v));
      return v.As<Napi::Number>().DoubleValue();
    case Kind::Bool:
      if (!v.IsBoolean()) throw std::invalid_argument("argument '" + p.name + "' expects bool, got " + describe(v));
      return v.As<Napi::Boolean>().Value();
    case Kind::Scalar: {
      if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
      if (!v.IsNumber()) throw std::invalid_argument("argument '" + p.name + "' expects a number, got " + describe(v));
      double d = v.As<Napi::Number>().DoubleValue();
      // Integral JS numbers become int Scalars (as Python's `2` would), others float Scalars.
      if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9.007199254740992e15)
        return c10::IValue(static_cast<int64_t>(d));
      return c10::IValue(d);
    }
    case Kind::String:
      if (!v.IsString()) throw std::invalid_argument("argument '" + p.name + "' expects str, got " + describe(v));
      return v.As<Napi::String>().Utf8Value();
    case Kind::Device:
      if (!v.IsString()) throw std::invalid_argument("argument '" + p.name + "' expects a device string");
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case Kind::Generator:
      throw std::invalid_argument("argument '" + p.name + "': explicit generators are not supported (pass null)");
    case Kind::IntList: {
      c10::List<int64_t> out;
      if (v.IsNumber()) {  // int[N] accepts a single int, repeated N times (as in Python)
        int64_t x = to_int(v, p);
        for (int i = 0; i < std::max(1, p.n); i++) out.push_back(x);
        return out;
      }
      if (!v.IsArray()) throw std::invalid_argument("argument '" + p.name + "' expects int[], got " + describe(v));
      auto a = v.As<Napi::Array>();
      out.reserve(a.Length());
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(to_int(a.Get(i), p));
      return out;
    }
    case Kind::FloatList: {
      if (!v.IsArray()) throw std::invalid_argument("argument '" + p.name + "' expects float[], got " + describe(v));
      auto a = v.As<Napi::Array>();
      c10::List<double> out;
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().DoubleValue());
      return out;
    }
    case Kind::BoolList: {
      if (!v.IsArray()) throw std::invalid_argument("argument '" + p.name + "' expects bool[], got " + describe(v));
      auto a = v.As<Napi::Array>();
      c10::List<bool> out;
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToBoolean().Value());
      return out;
    }
    case Kind::TensorList: {
      if (!v.IsArray()) throw std::invalid_argument("argument '" + p.name + "' expects Tensor[], got " + describe(v));
      auto a = v.As<Napi::Array>();
      c10::List<at::Tensor> out;
      out.reserve(a.Length());
      for (uint32_t i = 0; i < a.Length(); i++) out.push_back(unwrap(a.Get(i), p.name.c_str()));
      return out;
    }
    case Kind::OptTensorList: {
      if (!v.IsArray()) throw std::invalid_argument("argument '" + p.name + "' expects Tensor?[], got " + describe(v));
      auto a = v.As<Napi::Array>();
      c10::List<c10::optional<at::Tensor>> out;
      for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value x = a.Get(i);
        if (x.IsNull() || x.IsUndefined())
          out.push_back(c10::nullopt);
        else
          out.push_back(unwrap(x, p.name.c_str()));
      }
      return out;
    }
    case Kind::Unsupported:
      break;
  }
  throw std::invalid_argument("argument '" + p.name + "' has unsupported type " + p.type_str);
}

Napi::Value from_ivalue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return wrap(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto l = v.toTensorList();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a.Set(i, wrap(env, l.get(i)));
    return a;
  }
  if (v.isTuple()) {
    const auto& el = v.toTupleRef().elements();
    auto a = Napi::Array::New(env, el.size());
    for (size_t i = 0; i < el.size(); i++) a.Set(i, from_ivalue(env, el[i]));
    return a;
  }
  if (v.isList()) {
    auto l = v.toListRef();
    auto a = Napi::Array::New(env, l.size());
    for (size_t i = 0; i < l.size(); i++) a.Set(i, from_ivalue(env, l[i]));
    return a;
  }
  if (v.isScalar()) {
    auto s = v.toScalar();
    return Napi::Number::New(env, s.isIntegral(false) ? static_cast<double>(s.toLong()) : s.toDouble());
  }
  throw std::runtime_error("unsupported return type " + v.tagKind());
}

std::string call_context(const OpEntry& e, const Napi::CallbackInfo& info) {
  std::string s = e.name + " (";
  for (size_t i = 1; i < info.Length(); i++) {
    if (i > 1) s += ", ";
    if (i - 1 < e.args.size()) s += e.args[i - 1].name + "=";
    s += describe(info[i]);
  }
  return s + ")";
}


// ---------------------------------------------------------------------------------------------------------------
// Unboxed fast paths. A boxed call packs every argument into an IValue and the kernel's boxed wrapper unpacks it
// again; for the hot, simple signatures below we convert JS values straight to C++ types and make a typed
// dispatcher call (still through the dispatcher: autograd, autocast and every dispatch key apply as before).
// Which operators use them is decided from the schema at registration, not from a list of names.
// ---------------------------------------------------------------------------------------------------------------

struct FastArgs {
  const OpEntry& e;
  const Napi::CallbackInfo& info;
  Napi::Value at(size_t i) const { return i + 1 < info.Length() ? info[i + 1] : info.Env().Undefined(); }
  bool missing(size_t i) const { Napi::Value v = at(i); return v.IsUndefined(); }
  c10::IValue dflt(size_t i) const {
    const ArgPlan& p = e.args[i];
    if (p.default_value) return *p.default_value;
    if (p.optional) return c10::IValue();
    throw std::invalid_argument("missing argument '" + p.name + "' (" + p.type_str + ")");
  }
  const at::Tensor& tensor(size_t i) const {
    if (missing(i)) dflt(i);  // throws "missing argument" (tensors have no defaults)
    return unwrap(at(i), e.args[i].name.c_str());
  }
  c10::optional<at::Tensor> opt_tensor(size_t i) const {
    Napi::Value v = at(i);
    if (v.IsUndefined() || v.IsNull()) return c10::nullopt;
    return unwrap(v, e.args[i].name.c_str());
  }
  c10::Scalar scalar(size_t i) const {
    if (missing(i)) return dflt(i).toScalar();
    return convert(at(i), e.args[i]).toScalar();
  }
  int64_t integer(size_t i) const {
    if (missing(i)) return dflt(i).toInt();
    return to_int(at(i), e.args[i]);
  }
  c10::optional<int64_t> opt_integer(size_t i) const {
    Napi::Value v = at(i);
    if (v.IsUndefined()) { auto d = dflt(i); return d.isNone() ? c10::nullopt : c10::optional<int64_t>(d.toInt()); }
    if (v.IsNull()) return c10::nullopt;
    return to_int(v, e.args[i]);
  }
  bool boolean(size_t i) const {
    if (missing(i)) return dflt(i).toBool();
    Napi::Value v = at(i);
    if (!v.IsBoolean()) throw std::invalid_argument("argument '" + e.args[i].name + "' expects bool, got " + describe(v));
    return v.As<Napi::Boolean>().Value();
  }
  c10::optional<at::ScalarType> opt_dtype(size_t i) const {
    auto v = opt_integer(i);
    if (!v) return c10::nullopt;
    return static_cast<at::ScalarType>(*v);
  }
  std::vector<int64_t> ints(size_t i) const {
    c10::IValue v = missing(i) ? dflt(i) : convert(at(i), e.args[i]);
    return v.toIntVector();
  }
};

template <typename F>
const c10::TypedOperatorHandle<F>& typed(const OpEntry& e) {
  return *static_cast<const c10::TypedOperatorHandle<F>*>(e.typed.get());
}

using T = at::Tensor;
using CT = const at::Tensor&;
using OT = const c10::optional<at::Tensor>&;
using CS = const c10::Scalar&;

#define FAST(NAME, SIG, CALL)                                                  \
  Napi::Value NAME(const OpEntry& e, const Napi::CallbackInfo& info) {         \
    FastArgs a{e, info};                                                       \
    return wrap(info.Env(), typed<SIG>(e).call CALL);                         \
  }

FAST(fast_t, T(CT), (a.tensor(0)))
FAST(fast_tt, T(CT, CT), (a.tensor(0), a.tensor(1)))
FAST(fast_tts, T(CT, CT, CS), (a.tensor(0), a.tensor(1), a.scalar(2)))
FAST(fast_ts, T(CT, CS), (a.tensor(0), a.scalar(1)))
FAST(fast_tss, T(CT, CS, CS), (a.tensor(0), a.scalar(1), a.scalar(2)))
FAST(fast_ttot, T(CT, CT, OT), (a.tensor(0), a.tensor(1), a.opt_tensor(2)))
FAST(fast_ti, T(CT, int64_t), (a.tensor(0), a.integer(1)))
FAST(fast_tii, T(CT, int64_t, int64_t), (a.tensor(0), a.integer(1), a.integer(2)))
FAST(fast_ti_dtype, T(CT, int64_t, c10::optional<at::ScalarType>), (a.tensor(0), a.integer(1), a.opt_dtype(2)))
FAST(fast_ti_symint, T(CT, int64_t, c10::SymInt), (a.tensor(0), a.integer(1), c10::SymInt(a.integer(2))))
FAST(fast_toib, T(CT, c10::optional<int64_t>, bool), (a.tensor(0), a.opt_integer(1), a.boolean(2)))
FAST(fast_tsymints, T(CT, c10::SymIntArrayRef), (a.tensor(0), c10::fromIntArrayRef(a.ints(1))))
FAST(fast_tsymints_b, T(CT, c10::SymIntArrayRef, bool), (a.tensor(0), c10::fromIntArrayRef(a.ints(1)), a.boolean(2)))
FAST(fast_tints, T(CT, at::IntArrayRef), (a.tensor(0), a.ints(1)))

Napi::Value fast_slice(const OpEntry& e, const Napi::CallbackInfo& info) {
  FastArgs a{e, info};
  auto start = a.opt_integer(2), end = a.opt_integer(3);
  using Sig = T(CT, int64_t, c10::optional<c10::SymInt>, c10::optional<c10::SymInt>, c10::SymInt);
  return wrap(info.Env(), typed<Sig>(e).call(a.tensor(0), a.integer(1),
                                             start ? c10::optional<c10::SymInt>(c10::SymInt(*start)) : c10::nullopt,
                                             end ? c10::optional<c10::SymInt>(c10::SymInt(*end)) : c10::nullopt,
                                             c10::SymInt(a.integer(4))));
}

struct FastPattern {
  FastFn fn;
  std::function<std::shared_ptr<void>(const c10::OperatorHandle&)> make;
};

template <typename F>
FastPattern pattern(FastFn fn) {
  return {fn, [](const c10::OperatorHandle& h) -> std::shared_ptr<void> {
            return std::make_shared<c10::TypedOperatorHandle<F>>(h.typed<F>());
          }};
}

// Signature key: the schema's argument types (real types: ScalarType, not int) and return types.
const std::unordered_map<std::string, FastPattern>& fast_paths() {
  static const std::unordered_map<std::string, FastPattern> m = {
      {"Tensor->Tensor", pattern<T(CT)>(fast_t)},
      {"Tensor,Tensor->Tensor", pattern<T(CT, CT)>(fast_tt)},
      {"Tensor,Tensor,Scalar->Tensor", pattern<T(CT, CT, CS)>(fast_tts)},
      {"Tensor,Scalar->Tensor", pattern<T(CT, CS)>(fast_ts)},
      {"Tensor,Scalar,Scalar->Tensor", pattern<T(CT, CS, CS)>(fast_tss)},
      {"Tensor,Tensor,Tensor?->Tensor", pattern<T(CT, CT, OT)>(fast_ttot)},
      {"Tensor,int->Tensor", pattern<T(CT, int64_t)>(fast_ti)},
      {"Tensor,int,int->Tensor", pattern<T(CT, int64_t, int64_t)>(fast_tii)},
      {"Tensor,int,ScalarType?->Tensor", pattern<T(CT, int64_t, c10::optional<at::ScalarType>)>(fast_ti_dtype)},
      {"Tensor,int,SymInt->Tensor", pattern<T(CT, int64_t, c10::SymInt)>(fast_ti_symint)},
      {"Tensor,int?,bool->Tensor", pattern<T(CT, c10::optional<int64_t>, bool)>(fast_toib)},
      {"Tensor,SymInt[]->Tensor", pattern<T(CT, c10::SymIntArrayRef)>(fast_tsymints)},
      {"Tensor,SymInt[],bool->Tensor", pattern<T(CT, c10::SymIntArrayRef, bool)>(fast_tsymints_b)},
      {"Tensor,int[]->Tensor", pattern<T(CT, at::IntArrayRef)>(fast_tints)},
      {"Tensor,int,SymInt?,SymInt?,SymInt->Tensor",
       pattern<T(CT, int64_t, c10::optional<c10::SymInt>, c10::optional<c10::SymInt>, c10::SymInt)>(fast_slice)},
  };
  return m;
}

void attach_fast_path(OpEntry& e) {
  if (std::getenv("RFT_NO_FAST_PATH")) return;
  const auto& schema = e.handle.schema();
  std::string key;
  for (const auto& a : schema.arguments()) {
    if (a.alias_info() && a.alias_info()->isWrite()) return;  // in-place/out ops take `Tensor&`: boxed path
    if (!key.empty()) key += ",";
    key += a.real_type()->str();
  }
  key += "->";
  for (size_t i = 0; i < schema.returns().size(); i++) key += (i ? "," : "") + schema.returns()[i].real_type()->str();
  auto it = fast_paths().find(key);
  if (it == fast_paths().end()) return;
  try {
    e.typed = it->second.make(e.handle);  // asserts the C++ signature matches the registered kernel's
    e.fast = it->second.fn;
  } catch (const std::exception&) {
    e.typed.reset();  // signature differs from our guess: stay on the boxed path
  }
}

// opHandle(name, overload) -> id
Napi::Value OpHandle(const Napi::CallbackInfo& info) {
  return guard(info, "opHandle", [&]() -> Napi::Value {
    std::string name = info[0].As<Napi::String>();
    std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    return Napi::Number::New(info.Env(), static_cast<double>(register_op(name, overload)));
  });
}

// call(id, ...args) -> value | value[]   (one value when the schema has one return)
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id >= g_ops.size()) throw Napi::Error::New(env, "call: bad operator id");
  const OpEntry& e = g_ops[id];
  try {
    size_t nargs = info.Length() - 1;
    if (e.fast && nargs <= e.args.size()) return e.fast(e, info);
    if (nargs > e.args.size())
      throw std::invalid_argument("too many arguments: " + std::to_string(nargs) + " given, schema takes " +
                                  std::to_string(e.args.size()));
    torch::jit::Stack stack;
    stack.reserve(e.args.size());
    for (size_t i = 0; i < e.args.size(); i++) {
      stack.push_back(convert(i < nargs ? info[i + 1] : env.Undefined(), e.args[i]));
    }
    e.handle.callBoxed(stack);
    if (e.num_returns == 0) return env.Undefined();
    if (e.num_returns == 1) return from_ivalue(env, stack[0]);
    auto a = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); i++) a.Set(i, from_ivalue(env, stack[i]));
    return a;
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& ex) {
    throw Napi::Error::New(env, call_context(e, info) + ": " + clean(ex.what_without_backtrace()));
  } catch (const std::exception& ex) {
    throw Napi::Error::New(env, call_context(e, info) + ": " + clean(ex.what()));
  }
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  return guard(info, "opSchema", [&]() -> Napi::Value {
    uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    if (id >= g_ops.size()) throw std::invalid_argument("bad operator id");
    std::ostringstream s;
    s << g_ops[id].handle.schema();
    return Napi::String::New(info.Env(), s.str());
  });
}

// allOps() -> every registered schema as a string (input of the code generator)
Napi::Value AllOps(const Napi::CallbackInfo& info) {
  return guard(info, "allOps", [&]() -> Napi::Value {
    auto names = c10::Dispatcher::singleton().getAllOpNames();
    auto a = Napi::Array::New(info.Env());
    uint32_t k = 0;
    for (const auto& n : names) {
      auto h = c10::Dispatcher::singleton().findSchema(n);
      if (!h) continue;
      std::ostringstream s;
      s << h->schema();
      a.Set(k++, Napi::String::New(info.Env(), s.str()));
    }
    return a;
  });
}

// allOpInfos() -> [{name, overload, schema, args: [{name, type, kwargOnly, hasDefault, write}], returns: [type]}]
// Structured schemas for the code generator (codegen/gen_ops.ts).
Napi::Value AllOpInfos(const Napi::CallbackInfo& info) {
  return guard(info, "allOpInfos", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto names = c10::Dispatcher::singleton().getAllOpNames();
    auto out = Napi::Array::New(env);
    uint32_t k = 0;
    for (const auto& n : names) {
      auto h = c10::Dispatcher::singleton().findSchema(n);
      if (!h) continue;
      const auto& sc = h->schema();
      auto o = Napi::Object::New(env);
      o.Set("name", n.name);
      o.Set("overload", n.overload_name);
      std::ostringstream ss;
      ss << sc;
      o.Set("schema", ss.str());
      auto args = Napi::Array::New(env, sc.arguments().size());
      for (size_t i = 0; i < sc.arguments().size(); i++) {
        const auto& a = sc.arguments()[i];
        auto ao = Napi::Object::New(env);
        ao.Set("name", a.name());
        ao.Set("type", a.real_type()->str());
        ao.Set("kwargOnly", a.kwarg_only());
        ao.Set("hasDefault", a.default_value().has_value());
        ao.Set("write", a.alias_info() != nullptr && a.alias_info()->isWrite());
        args.Set(i, ao);
      }
      o.Set("args", args);
      auto rets = Napi::Array::New(env, sc.returns().size());
      for (size_t i = 0; i < sc.returns().size(); i++) rets.Set(i, Napi::String::New(env, sc.returns()[i].real_type()->str()));
      o.Set("returns", rets);
      o.Set("mutable", sc.is_mutable());
      out.Set(k++, o);
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Data in and out
// ---------------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------------
// Autograd and modes
// ---------------------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------------
// RNG, threads, memory, build info
// ---------------------------------------------------------------------------------------------------------------

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  return guard(info, "manualSeed", [&]() -> Napi::Value {
    at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
    return info.Env().Undefined();
  });
}

Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  return guard(info, "getRngState", [&]() -> Napi::Value {
    auto gen = at::detail::getDefaultCPUGenerator();
    at::Tensor s;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      s = gen.get_state();
    }
    auto buf = Napi::Buffer<uint8_t>::Copy(info.Env(), s.data_ptr<uint8_t>(), s.numel());
    return buf;
  });
}

Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  return guard(info, "setRngState", [&]() -> Napi::Value {
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    auto s = at::empty({static_cast<int64_t>(b.Length())}, at::kByte);
    std::memcpy(s.data_ptr(), b.Data(), b.Length());
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s);
    return info.Env().Undefined();
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info, "setNumThreads", [&]() -> Napi::Value {
    int n = info[0].As<Napi::Number>().Int32Value();
    if (n < 1) throw std::invalid_argument("thread count must be >= 1");
    at::set_num_threads(n);
    return info.Env().Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("liveHandles", static_cast<double>(g_live_handles));
  o.Set("cpuBytes", static_cast<double>(g_cpu_bytes));
  o.Set("createdHandles", static_cast<double>(g_created));
  o.Set("finalizedHandles", static_cast<double>(g_finalized));
  return o;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
  o.Set("config", at::show_config());
  o.Set("parallel", at::get_parallel_info());
  o.Set("hasCuda", at::hasCUDA());
  o.Set("hasMkldnn", at::hasMKLDNN());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto fn = [&](const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, f, name));
  };
  fn("opHandle", OpHandle);
  fn("call", Call);
  fn("opSchema", OpSchema);
  fn("allOps", AllOps);
  fn("allOpInfos", AllOpInfos);
  fn("fromBuffer", FromBuffer);
  fn("fromFile", FromFile);
  fn("toBuffer", ToBuffer);
  fn("view", View);
  fn("item", Item);
  fn("meta", Meta);
  fn("shape", Shape);
  fn("dtype", Dtype);
  fn("dispose", Dispose);
  fn("attachFinalizer", AttachFinalizer);
  fn("setScoped", SetScoped);
  fn("backward", Backward);
  fn("grad", AutogradGrad);
  fn("getGrad", GetGrad);
  fn("setGrad", SetGrad);
  fn("setRequiresGrad", SetRequiresGrad);
  fn("isLeaf", IsLeaf);
  fn("gradFn", GradFnName);
  fn("setGradEnabled", SetGradEnabled);
  fn("isGradEnabled", IsGradEnabled);
  fn("inferenceEnter", InferenceEnter);
  fn("inferenceExit", InferenceExit);
  fn("isInferenceMode", IsInferenceMode);
  fn("setAutocastCpu", SetAutocastCpu);
  fn("manualSeed", ManualSeed);
  fn("getRngState", GetRngState);
  fn("setRngState", SetRngState);
  fn("setNumThreads", SetNumThreads);
  fn("getNumThreads", GetNumThreads);
  fn("memory", Memory);
  fn("buildInfo", BuildInfo);
  return exports;
}

}  // namespace

NODE_API_MODULE(rft_native, Init)
