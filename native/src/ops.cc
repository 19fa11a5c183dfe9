// Operator calls: every ATen operator by name through the c10 dispatcher. Operator handles and per-argument
// conversion plans are cached by id (opHandle); `call` converts JS values by the schema's types, boxed for any
// operator, unboxed (typed dispatcher call) for about fifteen common signatures. Also the schemas the code
// generator reads (allOps, allOpInfos).
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/variable.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>

namespace rft {
namespace {

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
      return c10::IValue(unwrap_generator(v, p.name.c_str()));
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

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  export_fn(env, exports, "opHandle", OpHandle);
  export_fn(env, exports, "call", Call);
  export_fn(env, exports, "opSchema", OpSchema);
  export_fn(env, exports, "allOps", AllOps);
  export_fn(env, exports, "allOpInfos", AllOpInfos);
}

}  // namespace rft
