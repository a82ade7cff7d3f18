// SPDX-License-Identifier: Apache-2.0
// Storage and dispatch behind the type-erased Factory<T>.
#pragma once

// ┌──────────────────────────────────────────────────────────────────────────┐
// │ Factory<T> owns one heap-allocated FactoryModel<T, F> through a          │
// │ unique_ptr to its base FactoryConcept<T>. Copying a Factory clones the   │
// │ model (value semantics, like std::function); moving steals the pointer. │
// │ The model answers four questions the Factory cannot know statically:     │
// │   call()     run the concrete factory;                                   │
// │   type()     typeid(F), so target<F>() can hand back the concrete object;│
// │   kind()     the wire name of F ("" when F cannot be serialized);        │
// │   payload()  F encoded with the wire archive (only when kind() != "").   │
// │ Loading goes the other way through a per-T table of kind → loader that   │
// │ register_factory_type<F>() fills; "simple" and "store" are built in.     │
// └──────────────────────────────────────────────────────────────────────────┘

#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/fwd.hpp>
#include <proxystore/serialize.hpp>

#include <cereal/details/traits.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace proxystore::detail {

/// True when F declares `static constexpr std::string_view kind` (or any
/// static member convertible to string_view).
template <class F, class = void>
struct HasFactoryKind : std::false_type {};
template <class F>
struct HasFactoryKind<F, std::void_t<decltype(std::string_view(F::kind))>> : std::true_type {};

/// Whether a factory of type F can travel: it has a kind and cereal can
/// write it with the wire archive. Specialised where a factory's
/// serialisability depends on its parameters (SimpleFactory<T>).
template <class F>
struct IsSerializableFactory
    : std::bool_constant<HasFactoryKind<F>::value &&
                         cereal::traits::is_output_serializable<F, WireOutputArchive>::value> {};

/// How a factory of type F is encoded as a wire payload and decoded from
/// one: with cereal and the wire archives (encode_body / decode_body),
/// unless specialised. StoreFactory<T> and FutureFactory<T> specialise it
/// to codecs compiled into the library, so the translation units that load
/// proxies never instantiate cereal for their configs and keys.
template <class F>
struct WireCodec {
  static std::string encode(const F& factory) { return encode_body(factory); }
  static F decode(std::string_view payload) { return decode_body<F>(payload); }
};

template <class T>
class FactoryConcept {
 public:
  virtual ~FactoryConcept() = default;
  virtual T call() = 0;
  virtual std::unique_ptr<FactoryConcept> clone() const = 0;
  virtual const std::type_info& type() const noexcept = 0;
  virtual const void* target() const noexcept = 0;
  virtual std::string_view kind() const noexcept = 0;
  virtual std::string payload() const = 0;
};

template <class T, class F>
class FactoryModel final : public FactoryConcept<T> {
 public:
  explicit FactoryModel(F factory) : factory_(std::move(factory)) {}

  T call() override { return factory_(); }
  std::unique_ptr<FactoryConcept<T>> clone() const override {
    return std::make_unique<FactoryModel>(factory_);
  }
  const std::type_info& type() const noexcept override { return typeid(F); }
  const void* target() const noexcept override { return &factory_; }
  std::string_view kind() const noexcept override {
    if constexpr (IsSerializableFactory<F>::value) {
      return F::kind;
    } else {
      return {};
    }
  }
  std::string payload() const override {
    if constexpr (IsSerializableFactory<F>::value) {
      return WireCodec<F>::encode(factory_);
    } else {
      return {};  // never asked: kind() is empty
    }
  }

 private:
  F factory_;
};

/// Per-T table of user factory kinds: kind name → loader of the payload.
/// A factory loaded from the wire (Factory<T>::load of a "simple"
/// payload): the same answers as FactoryModel<T, F>, except that payload()
/// hands back the bytes it was loaded from rather than encoding it again —
/// so loading a proxy never instantiates the encoder of `T`, only its
/// decoder. (A forwarded proxy carries the payload it arrived with.)
template <class T, class F>
class LoadedFactoryModel final : public FactoryConcept<T> {
 public:
  LoadedFactoryModel(F factory, std::string payload)
      : factory_(std::move(factory)), payload_(std::move(payload)) {}

  T call() override { return factory_(); }
  std::unique_ptr<FactoryConcept<T>> clone() const override {
    return std::make_unique<LoadedFactoryModel>(factory_, payload_);
  }
  const std::type_info& type() const noexcept override { return typeid(F); }
  const void* target() const noexcept override { return &factory_; }
  std::string_view kind() const noexcept override { return F::kind; }
  std::string payload() const override { return payload_; }

 private:
  F factory_;
  std::string payload_;
};

template <class T>
class FactoryKinds {
 public:
  using Loader = Factory<T> (*)(std::string_view payload);

  static void add(std::string kind, Loader loader) {
    auto& table = instance();
    std::lock_guard<std::mutex> lock(table.mutex_);
    table.loaders_[std::move(kind)] = loader;
  }

  static Loader find(std::string_view kind) {
    auto& table = instance();
    std::lock_guard<std::mutex> lock(table.mutex_);
    auto it = table.loaders_.find(kind);
    return it == table.loaders_.end() ? nullptr : it->second;
  }

 private:
  static FactoryKinds& instance() {
    static FactoryKinds table;
    return table;
  }

  std::mutex mutex_;
  std::map<std::string, Loader, std::less<>> loaders_;
};

}  // namespace proxystore::detail
