// SPDX-License-Identifier: Apache-2.0
/// \file
/// Factory<T>: the type-erased recipe a proxy calls to produce its target.
#pragma once

// Usage
// -----
// A `Factory<T>` wraps any callable returning `T` — most often one of
//
//   SimpleFactory<T>(value)    the value travels inside the factory;
//   StoreFactory<T>            a key plus the store's config (store_factory.hpp);
//   LambdaFactory<T>(fn)       any callable; works in-process only.
//
// Copy semantics: a Factory is a value. Copying it copies the concrete
// factory (like std::function); a Proxy shares one factory between its
// copies and calls it at most once.
//
// What throws: calling an empty Factory throws Error; calling any other
// rethrows whatever the concrete factory throws (StoreFactory throws
// ProxyResolveMissingKeyError when its key is gone).
//
// What travels: a Factory serializes as (kind, signature, payload) with any
// cereal archive — the payload is the concrete factory encoded with the
// library's wire format (base64 inside text archives); the signature is an
// HMAC of the result type's name, the kind and the payload when a signing
// key is set (security.hpp), else empty. Kinds
// "simple", "store" and "future" are always loadable. A factory with no kind — a
// lambda, a LambdaFactory — throws NotSerializableError when serialized.
//
// Custom factory types: give F a `static constexpr std::string_view kind`,
// cereal support (`serialize` or `save`/`load`) and a default constructor,
// then call `register_factory_type<F>()` in every process that loads it
// (before the first load). See examples/03_custom_factory.cpp.

#include <proxystore/detail/factory_model.hpp>
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/fwd.hpp>
#include <proxystore/security.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>
#include <cereal/external/base64.hpp>
#include <cereal/types/string.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace proxystore {

namespace detail {
/// Factory<T>::load's reads from the wire archive — kind, signature and
/// payload, as cereal reads three strings — compiled once, in the library
/// (store_factory_wire.cpp).
void load_factory_fields(WireInputArchive& ar, std::string& kind, std::string& signature,
                         std::string& payload);
}  // namespace detail

/// A type-erased, copyable factory producing a `T`.
template <class T>
class Factory {
  static_assert(!std::is_reference_v<T> && !std::is_void_v<T>,
                "proxystore::Factory<T>: T must be an object type");

 public:
  /// What the factory produces.
  using result_type = T;

  /// An empty factory; calling it throws Error.
  Factory() = default;

  /// Wraps any callable `F` returning something convertible to `T`.
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, Factory> && std::is_invocable_r_v<T, D&>>>
  Factory(F&& factory)  // NOLINT(google-explicit-constructor): like std::function
      : model_(std::make_unique<detail::FactoryModel<T, D>>(std::forward<F>(factory))) {}

  /// @{
  /// A factory is a value: copying copies the concrete factory (like
  /// std::function); moving leaves the source empty.
  Factory(const Factory& other) : model_(other.model_ ? other.model_->clone() : nullptr) {}
  Factory(Factory&&) noexcept = default;
  Factory& operator=(const Factory& other) {
    if (this != &other)
      model_ = other.model_ ? other.model_->clone() : nullptr;
    return *this;
  }
  Factory& operator=(Factory&&) noexcept = default;
  /// @}
  ~Factory() = default;

  /// Produces the target.
  /// @throws Error if the factory is empty; otherwise whatever the concrete
  ///         factory throws.
  T operator()() const {
    if (!model_) {
      throw Error(fmt::format("cannot call an empty Factory<{}>", type_name<T>()));
    }
    return model_->call();
  }

  /// False for an empty factory.
  explicit operator bool() const noexcept { return model_ != nullptr; }

  /// The concrete factory if it is an `F`, else null.
  template <class F>
  const F* target() const noexcept {
    if (!model_ || model_->type() != typeid(F))
      return nullptr;
    return static_cast<const F*>(model_->target());
  }

  /// The wire kind of the concrete factory, empty if it cannot travel.
  std::string_view kind() const noexcept { return model_ ? model_->kind() : std::string_view(); }

  /// Writes (kind, signature, payload). The signature is the HMAC-SHA256
  /// of (type_name<T>(), kind, payload) under the signing key in force (security.hpp), or
  /// empty — one byte in the wire format — when no key is set.
  /// @throws NotSerializableError if the concrete factory has no kind.
  template <class Archive>
  void save(Archive& ar) const {
    std::string kind;
    std::string payload;
    std::string signature;
    if (model_) {
      if (model_->kind().empty()) {
        throw NotSerializableError(
            fmt::format("factory '{}' for '{}' cannot be serialized: it has no kind (a lambda or "
                        "LambdaFactory?); use SimpleFactory, StoreFactory or register_factory_type",
                        detail::demangle(model_->type().name()), type_name<T>()));
      }
      kind = std::string(model_->kind());
      payload = model_->payload();
      signature = detail::sign_factory(kind, payload, type_name<T>());
    }
    if constexpr (cereal::traits::is_text_archive<Archive>::value) {
      payload = cereal::base64::encode(reinterpret_cast<const unsigned char*>(payload.data()),
                                       payload.size());
      signature = cereal::base64::encode(reinterpret_cast<const unsigned char*>(signature.data()),
                                         signature.size());
    }
    ar(cereal::make_nvp("kind", kind), cereal::make_nvp("signature", signature),
       cereal::make_nvp("payload", payload));
  }

  /// Reads (kind, signature, payload). When a signing key is in force the
  /// signature is verified before the payload is decoded; an empty factory
  /// (no kind, no payload) needs none, since it can do nothing.
  /// @throws SignatureError if signing is on and the factory is unsigned or
  ///         its signature does not match.
  /// @throws SerializationError on an unknown kind or a corrupt payload.
  template <class Archive>
  void load(Archive& ar) {
    std::string kind;
    std::string payload;
    std::string signature;
    if constexpr (std::is_same_v<Archive, detail::WireInputArchive>) {
      // The same three reads, compiled once in the library.
      detail::load_factory_fields(ar, kind, signature, payload);
    } else {
      ar(cereal::make_nvp("kind", kind), cereal::make_nvp("signature", signature),
         cereal::make_nvp("payload", payload));
    }
    if constexpr (cereal::traits::is_text_archive<Archive>::value) {
      payload = cereal::base64::decode(payload);
      signature = cereal::base64::decode(signature);
    }
    if (kind.empty() && payload.empty()) {
      *this = Factory();
      return;
    }
    detail::verify_factory(kind, payload, signature, type_name<T>());
    *this = load_kind(kind, payload);
  }

 private:
  static Factory load_kind(std::string_view kind, std::string_view payload);
  explicit Factory(std::unique_ptr<detail::FactoryConcept<T>> model) : model_(std::move(model)) {}

  std::unique_ptr<detail::FactoryConcept<T>> model_;
};

/// A factory that carries its value: serializable when `T` is; calling it
/// returns a copy. Needs a copyable `T`.
template <class T>
class SimpleFactory {
 public:
  /// The wire kind of simple factories.
  static constexpr std::string_view kind = "simple";

  /// A factory of a value-initialised `T` (for deserialization).
  SimpleFactory() = default;
  /// A factory returning copies of `value`.
  explicit SimpleFactory(T value) : value_(std::move(value)) {}

  /// A copy of the value.
  T operator()() const { return value_; }
  /// The value itself.
  const T& value() const noexcept { return value_; }

  /// cereal hook: the value.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("value", value_));
  }

 private:
  T value_{};
};

/// Any callable as a factory. Works in this process only: serializing it
/// throws NotSerializableError.
template <class T>
class LambdaFactory {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, LambdaFactory> &&
                                              std::is_invocable_r_v<T, std::decay_t<F>&>>>
  /// Wraps `function`, any callable returning something convertible to `T`.
  explicit LambdaFactory(F&& function) : function_(std::forward<F>(function)) {}

  /// Calls the wrapped callable.
  T operator()() const { return function_(); }

 private:
  std::function<T()> function_;
};

/// Makes the factory type `F` loadable from serialized proxies and
/// factories of its result type. `F` needs `static constexpr
/// std::string_view kind` (unique per result type; "simple", "store" and "future" are
/// taken), cereal support and a default constructor. Registering a kind
/// again replaces its loader.
template <class F>
void register_factory_type() {
  using T = std::decay_t<decltype(std::declval<F&>()())>;
  static_assert(detail::HasFactoryKind<F>::value,
                "register_factory_type<F>: F needs `static constexpr std::string_view kind`");
  static_assert(std::is_default_constructible_v<F>,
                "register_factory_type<F>: F needs a default constructor");
  static_assert(detail::IsSerializableFactory<F>::value,
                "register_factory_type<F>: F needs cereal serialize or save/load");
  detail::FactoryKinds<T>::add(std::string(F::kind), [](std::string_view payload) {
    return Factory<T>(detail::decode_body<F>(payload));
  });
}

namespace detail {
template <class T>
struct IsSerializableFactory<SimpleFactory<T>>
    : std::bool_constant<cereal::traits::is_output_serializable<T, WireOutputArchive>::value> {};
}  // namespace detail

template <class T>
struct TypeName<Factory<T>> {
  static std::string get() { return "factory<" + type_name<T>() + ">"; }
};

}  // namespace proxystore

// StoreFactory<T> and FutureFactory<T> are built-in kinds; they need Store, which needs
// Proxy, which needs Factory: so it comes after Factory is complete.
#include <proxystore/store_factory.hpp>  // and, through store.hpp, future.hpp

namespace proxystore {

template <class T>
Factory<T> Factory<T>::load_kind(std::string_view kind, std::string_view payload) {
  return detail::decoding<Factory<T>>([&]() -> Factory<T> {
    if (kind == SimpleFactory<T>::kind) {
      if constexpr (std::is_default_constructible_v<T> &&
                    cereal::traits::is_input_serializable<T, detail::WireInputArchive>::value) {
        // A SimpleFactory's payload is its value's wire encoding (the
        // archive writes no names or class framing), so it is decoded with
        // decode_body<T> — which loading a T needs anyway — except for
        // byte-like types, whose decode_body takes raw bytes.
        SimpleFactory<T> simple = [&] {
          if constexpr (detail::is_byte_like_v<T>)
            return detail::decode_body<SimpleFactory<T>>(payload);
          else
            return SimpleFactory<T>(detail::decode_body<T>(payload));
        }();
        return Factory<T>(std::make_unique<detail::LoadedFactoryModel<T, SimpleFactory<T>>>(
            std::move(simple), std::string(payload)));
      } else {
        throw SerializationError(fmt::format(
            "a SimpleFactory<{}> cannot be loaded: the type is not default-constructible "
            "and cereal-loadable",
            type_name<T>()));
      }
    }
    if (kind == StoreFactory<T>::kind)
      return detail::WireCodec<StoreFactory<T>>::decode(payload);
    if (kind == FutureFactory<T>::kind)
      return detail::WireCodec<FutureFactory<T>>::decode(payload);
    if (auto loader = detail::FactoryKinds<T>::find(kind))
      return loader(payload);
    throw SerializationError(
        fmt::format("unknown factory kind '{}' for '{}' (call register_factory_type<F>() first)",
                    detail::printable(kind), type_name<T>()));
  });
}

}  // namespace proxystore
