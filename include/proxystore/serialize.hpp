// SPDX-License-Identifier: Apache-2.0
/// \file
/// serialize()/deserialize(): the stored-object format (header + body).
#pragma once

#include <proxystore/bytes.hpp>
#include <proxystore/detail/printable.hpp>
#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/types/array.hpp>
#include <cereal/types/bitset.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/forward_list.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// cereal builds a type that is not default-constructible through its
// load_and_construct only inside this wrapper (the one friend of
// cereal::construct<T>'s constructor). cereal defines it in
// <cereal/types/memory.hpp>, which also brings its polymorphic-pointer
// machinery (a quarter of a consumer's parse time and static
// initialisers); serialize.hpp does not include that header, so it
// defines the wrapper for the library's input archive itself, member for
// member as cereal does.
namespace cereal::memory_detail {
template <class T>
struct LoadAndConstructLoadWrapper<proxystore::detail::WireInputArchive, T> {
  LoadAndConstructLoadWrapper(T* ptr)  // NOLINT(google-explicit-constructor): as cereal's
      : construct(ptr) {}
  template <class F>
  LoadAndConstructLoadWrapper(T* ptr, F&& shared_from_this_function)
      : construct(ptr, std::forward<F>(shared_from_this_function)) {}

  void CEREAL_SERIALIZE_FUNCTION_NAME(proxystore::detail::WireInputArchive& ar) {
    ::cereal::detail::Construct<T, proxystore::detail::WireInputArchive>::load_andor_construct(
        ar, construct);
  }

  ::cereal::construct<T> construct;  // NOLINT(misc-non-private-member-variables-in-classes)
};
}  // namespace cereal::memory_detail

namespace proxystore {

/// No limit on the size of an object beyond the bytes actually present.
inline constexpr std::size_t unlimited_object_size = std::numeric_limits<std::size_t>::max();

namespace detail {

// Stored object = header + body.
//   magic "PX" | format version (1 byte) | varint type-name length | type name
//   | body length (8 bytes, little-endian) | body
// The body is the raw bytes for byte-like types, the wire archive otherwise.
// The body length makes truncation (or trailing garbage) detectable even for
// a byte-like body, which has no structure of its own; it is fixed-width so
// a body can be encoded in place and the length patched in afterwards.
inline constexpr char object_magic[2] = {'P', 'X'};
inline constexpr std::uint8_t object_format_version = 1;

template <class T>
struct IsByteLike : std::false_type {};
template <>
struct IsByteLike<std::string> : std::true_type {};
template <>
struct IsByteLike<std::vector<char>> : std::true_type {};
template <>
struct IsByteLike<std::vector<unsigned char>> : std::true_type {};
template <>
struct IsByteLike<std::vector<std::byte>> : std::true_type {};

/// Byte-like targets skip cereal: their body is their bytes.
template <class T>
inline constexpr bool is_byte_like_v = IsByteLike<std::remove_cv_t<T>>::value;

/// Types whose body is the object's own contiguous memory after at most a
/// short prefix: byte-like types (the bytes) and vectors of arithmetic
/// elements other than bool (a varint element count, then the elements'
/// bytes — cereal's binary_data). Such objects are written from, and read
/// into, their own memory without an intermediate buffer.
template <class T>
struct HasRawBody : IsByteLike<T> {};
template <class E>
struct HasRawBody<std::vector<E>>
    : std::bool_constant<IsByteLike<std::vector<E>>::value ||
                         (std::is_arithmetic_v<E> && !std::is_same_v<E, bool>)> {};
template <class T>
inline constexpr bool has_raw_body_v = HasRawBody<std::remove_cv_t<T>>::value;

/// Whether cereal finds exactly one way to write `T` to, and one way to
/// read it from (a load, a serialize, or a load_and_construct), the wire
/// archives.
template <class T>
inline constexpr bool is_cereal_serializable_v =
    cereal::traits::is_output_serializable<T, WireOutputArchive>::value &&
    (cereal::traits::is_input_serializable<T, WireInputArchive>::value ||
     cereal::traits::has_load_and_construct<T, WireInputArchive>::value);

/// Instantiated before any cereal call on `T`, so a type that cannot be
/// stored meets this one assertion (the compiler names `T` in the
/// "required from RequireSerializable<...>" line) instead of cereal's
/// page of template errors; `value` then keeps cereal from being
/// instantiated at all.
template <class T>
struct RequireSerializable {
  static constexpr bool value = is_byte_like_v<T> || is_cereal_serializable_v<T>;
  static_assert(
      value,
      "proxystore: this type cannot be stored or loaded. Give it cereal "
      "serialization: a member `template <class Archive> void serialize(Archive& ar) "
      "{ ar(field1, field2); }` (or save/load, or a free serialize(Archive&, T&)), and "
      "#include <cereal/types/...> for the standard types it holds (smart pointers: "
      "<cereal/types/memory.hpp>, which only the umbrella header includes); exactly one of "
      "these may exist. See docs/serialization.md (\"Your own types\").");
};

/// A parsed header; the views point into the parsed bytes.
struct ObjectHeader {
  std::uint8_t version = 0;
  std::string_view type_name;
  std::string_view body;
};

inline constexpr std::size_t body_length_size = 8;

/// Appends a header with a placeholder body length; returns where the
/// length goes, for patch_body_length once the body is written.
inline std::size_t write_object_header(std::string& out, std::string_view type) {
  out.append(object_magic, sizeof(object_magic));
  out.push_back(static_cast<char>(object_format_version));
  WireOutputArchive(out).save_varint(type.size());
  out.append(type);
  const std::size_t length_at = out.size();
  out.append(body_length_size, '\0');
  return length_at;
}

/// Writes `length` into the body-length slot at `length_at`.
inline void write_body_length(std::string& out, std::size_t length_at, std::uint64_t length) {
  for (std::size_t i = 0; i < body_length_size; ++i, length >>= 8U) {
    out[length_at + i] = static_cast<char>(length & 0xffU);
  }
}

/// Writes the length of everything after the header into its slot.
inline void patch_body_length(std::string& out, std::size_t length_at) {
  write_body_length(out, length_at, out.size() - length_at - body_length_size);
}

/// Where the parts of a stored object are, parsed from its first bytes.
struct ObjectLayout {
  std::uint8_t version = 0;
  std::string_view type_name;  // views the parsed bytes
  std::size_t body_at = 0;     // offset of the body in the object
};

/// Parses the header at the start of `prefix`, the first bytes of a stored
/// object of `total` bytes (prefix.size() <= total); throws
/// SerializationError unless the whole header lies in `prefix`, is
/// well-formed, of a known format version, and announces the body length
/// that `total` leaves.
ObjectLayout parse_object_prefix(std::string_view prefix, std::size_t total);  // serialize.cpp

/// Splits a stored object into header and body; throws SerializationError
/// on anything that is not a well-formed header of a known format version.
inline ObjectHeader parse_object_header(std::string_view bytes) {
  const ObjectLayout layout = parse_object_prefix(bytes, bytes.size());
  return ObjectHeader{layout.version, layout.type_name, bytes.substr(layout.body_at)};
}

/// The body of the stored object `bytes`, after checking its header
/// (parse_object_header) and that it holds a `type`: a SerializationError
/// names both types otherwise. (serialize.cpp)
std::string_view parse_object_body(std::string_view bytes, const std::string& type);

/// The wire-archive encoding of `value`, without a header (also used for
/// factory payloads).
template <class T>
void encode_body(std::string& out, const T& value) {
  if constexpr (is_byte_like_v<T>) {
    out.append(reinterpret_cast<const char*>(value.data()), value.size());
  } else if constexpr (RequireSerializable<T>::value) {
    WireOutputArchive ar(out);
    ar(value);
    ar.expect_backed();
  }
}

template <class T>
std::string encode_body(const T& value) {
  std::string out;
  encode_body(out, value);
  return out;
}

/// Decodes a body written by encode_body; every byte must be consumed.
template <class T>
T decode_body(std::string_view body) {
  if constexpr (is_byte_like_v<T>) {
    const auto* first = reinterpret_cast<const typename T::value_type*>(body.data());
    return T(first, first + body.size());
  } else if constexpr (!RequireSerializable<T>::value) {
    throw NotSerializableError("unreachable: RequireSerializable<T> has failed to compile");
  } else if constexpr (std::is_default_constructible_v<T>) {
    WireInputArchive ar(body);
    T value{};
    ar(value);
    ar.expect_end();
    return value;
  } else {
    // cereal constructs such types only in place, through their
    // load_and_construct; build the object in raw storage, then move it out.
    static_assert(cereal::traits::has_load_and_construct<T, WireInputArchive>::value,
                  "proxystore: a type that is not default-constructible needs cereal's "
                  "load_and_construct (or use a LambdaFactory)");
    WireInputArchive ar(body);
    // Owns the raw storage and, once load_and_construct has built it, the
    // object in it: a read that fails after construction must not leak it.
    struct Storage {
      T* object = static_cast<T*>(::operator new(sizeof(T), std::align_val_t(alignof(T))));
      bool constructed = false;
      Storage() = default;
      Storage(const Storage&) = delete;
      Storage& operator=(const Storage&) = delete;
      ~Storage() {
        if (constructed)
          object->~T();
        ::operator delete(object, std::align_val_t(alignof(T)));
      }
    } storage;
    cereal::memory_detail::LoadAndConstructLoadWrapper<WireInputArchive, T> wrapper(storage.object);
    const auto was_constructed = [&wrapper]() noexcept {
      try {
        (void)wrapper.construct.ptr();  // throws unless construct(...) was called
        return true;
      } catch (const cereal::Exception&) {
        return false;
      }
    };
    try {
      ar(wrapper);
    } catch (...) {
      storage.constructed = was_constructed();
      throw;
    }
    storage.constructed = was_constructed();
    if (!storage.constructed) {
      throw SerializationError("load_and_construct returned without constructing the object");
    }
    ar.expect_end();
    return T(std::move(*storage.object));
  }
}

/// Called in a handler: rethrows the exception being handled as a decoder
/// of `type` reports it — a SignatureError or SerializationError (also
/// for any std::exception, e.g. cereal::Exception) whose message starts
/// "cannot decode '<type>': ", another proxystore Error and anything else
/// unchanged. (serialize.cpp)
[[noreturn]] void rethrow_decoding_error(const std::string& type);

/// Throws the SerializationError for an object of `size` bytes over
/// `max_object_size` when decoding `type`. (serialize.cpp)
[[noreturn]] void throw_over_max_object_size(const std::string& type, std::size_t size,
                                             std::size_t max_object_size);

/// Runs `decode`, turning whatever a decoder throws into a
/// SerializationError that names the type being decoded.
template <class T, class Decode>
decltype(auto) decoding(Decode&& decode) {
  try {
    return decode();
  } catch (...) {
    rethrow_decoding_error(type_name<T>());
  }
}

}  // namespace detail

/// Encodes `value` as a self-describing object: a small header (format
/// version and `type_name<T>()`) and the body. Works for proxies,
/// factories, keys, configs and any cereal-serialisable type.
/// @throws NotSerializableError if `value` (e.g. a lambda factory) cannot be encoded.
/// @throws SerializationError if cereal fails to encode it.
template <class T>
std::string serialize(const T& value) {
  std::string out;
  if constexpr (detail::has_raw_body_v<T>) {
    // One allocation of the final size: growing by doubling would copy a
    // large vector's bytes several times over.
    out.reserve(3 + 10 + type_name<T>().size() + detail::body_length_size + 10 +
                value.size() * sizeof(typename T::value_type));
  }
  const std::size_t length_at = detail::write_object_header(out, type_name<T>());
  try {
    detail::encode_body(out, value);
    detail::patch_body_length(out, length_at);
  } catch (const NotSerializableError&) {
    throw;
  } catch (const SerializationError& e) {
    throw SerializationError(fmt::format("cannot encode '{}': {}", type_name<T>(), e.what()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw SerializationError(fmt::format("cannot encode '{}': {}", type_name<T>(), e.what()));
  }
  return out;
}

/// Decodes bytes written by `serialize<T>`.
/// Decoding is bounded: no length may exceed the input that remains, and
/// the input may not exceed `max_object_size`.
/// @throws SerializationError on truncated, corrupted or hostile input, on a
///         size over `max_object_size`, or when the bytes hold another type
///         (the message names both types).
template <class T>
T deserialize(std::string_view bytes, std::size_t max_object_size = unlimited_object_size) {
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>,
                "proxystore::deserialize<T>: T must be a non-const object type");
  if (bytes.size() > max_object_size)
    detail::throw_over_max_object_size(type_name<T>(), bytes.size(), max_object_size);
  return detail::decoding<T>([&]() -> T {
    return detail::decode_body<T>(detail::parse_object_body(bytes, type_name<T>()));
  });
}

namespace detail {

/// A stored object as a head (the header, plus a vector's element count)
/// and a body that views the object's own memory:
/// `head + body == serialize(value)`, with no copy of the body.
struct SplitObject {
  std::string head;
  std::string_view body;
};

template <class T>
SplitObject serialize_split(const T& value) {
  static_assert(has_raw_body_v<T>, "serialize_split: T has no raw body");
  const std::string& type = type_name<T>();
  SplitObject out;
  out.head.reserve(3 + 10 + type.size() + body_length_size + 10);
  const std::size_t length_at = write_object_header(out.head, type);
  if constexpr (!is_byte_like_v<T>) {
    WireOutputArchive(out.head).save_varint(value.size());  // cereal's size tag
  }
  out.body = std::string_view(reinterpret_cast<const char*>(value.data()),
                              value.size() * sizeof(typename T::value_type));
  write_body_length(out.head, length_at,
                    out.head.size() - length_at - body_length_size + out.body.size());
  return out;
}

/// How many leading bytes of a streamed value are read to find its layout.
inline constexpr std::size_t streamed_head_size = 128;
/// How much of a streamed body is zeroed and received at a time (well
/// inside a core's L2 cache).
inline constexpr std::size_t streamed_slice_size = std::size_t{256} << 10U;
/// The most memory reserved for a streamed value before its bytes arrive.
/// Its size comes from the peer (a reply header, a chunk manifest): a
/// claim of 64 GB must not become a 64 GB allocation (std::bad_alloc) or a
/// reservation nothing fills (sanitizers and strict overcommit count
/// reserved memory too).
inline constexpr std::size_t max_upfront_reserve = std::size_t{16} << 20U;
/// Once bytes have arrived, the buffer may be grown to this many times
/// what arrived (never past the claimed size): an allocation the received
/// bytes back by a bounded factor.
inline constexpr std::size_t reserve_per_received_byte = 8;

/// The capacity to grow to when `needed` bytes no longer fit, `received`
/// bytes having arrived of a claimed `total`. Growing by a large factor
/// rather than doubling keeps both the copies and the peak small: a 100 MB
/// value is copied once, 16 MiB of it, early — and when the old buffer is
/// freed the new one holds little more than that — where doubling would copy
/// 112 MB and briefly hold 1.3 times the object.
inline std::size_t grown_capacity(std::size_t needed, std::size_t received, std::size_t total) {
  const std::size_t backed =
      received > std::numeric_limits<std::size_t>::max() / reserve_per_received_byte
          ? total
          : received * reserve_per_received_byte;
  return std::max(needed, std::min(total, std::max(max_upfront_reserve, backed)));
}

/// Appends the next `n` bytes of `reader` to `out`, growing `out` one
/// slice at a time as the bytes arrive (reserving per grown_capacity), so
/// a reader that fails or runs dry early has cost only a bounded multiple
/// of what it delivered.
inline void read_growing(ValueReader& reader, std::string& out, std::size_t n) {
  const std::size_t start = out.size();
  out.reserve(grown_capacity(start + std::min(n, streamed_slice_size), 0, start + n));
  for (std::size_t left = n; left != 0;) {
    std::size_t slice = std::min(left, streamed_slice_size);
    const std::size_t at = out.size();
    if (at + slice > out.capacity())
      out.reserve(grown_capacity(at + slice, at - start, start + n));
    if (reader.prefers_large_reads())  // all the room there is, in one call
      slice = std::min(left, std::max(slice, out.capacity() - at));
    out.resize(at + slice);
    reader.read(out.data() + at, slice);
    left -= slice;
  }
}

/// How the library's type-erased reader (read_raw_body) creates a raw-body
/// `T` and fills it in place; every `object` is a `T*`.
struct RawBodyOps {
  /// sizeof(T::value_type).
  std::size_t element_size;
  /// is_byte_like_v<T>: the body is the bytes, with no element count.
  bool byte_like;
  /// Constructs an empty `T` in `*out` (a std::optional<T>*); returns it.
  void* (*emplace)(void* out);
  /// object->reserve(elements).
  void (*reserve)(void* object, std::size_t elements);
  /// object->resize(elements).
  void (*resize)(void* object, std::size_t elements);
  /// object->data(), as bytes.
  char* (*data)(void* object);
  /// object->capacity(), in elements.
  std::size_t (*capacity)(const void* object);
};

/// What the library's type-erased read path (read_object_into,
/// Store::get, a proxy's resolution) needs to know of a `T`: plain
/// function pointers, one constant table per type (ObjectTypeOf<T>::value),
/// so the read, the size checks, the cache and the error handling are
/// compiled once in the library instead of for every `T` in every
/// translation unit. Every `out` is a `std::optional<T>*` (empty on entry,
/// holding the object on success); `object` a `const std::optional<T>*`
/// that holds one.
struct ObjectType {
  /// type_name<T>().
  const std::string& (*name)();
  /// Decodes the whole stored object `bytes` into `*out` (deserialize<T>).
  void (*decode)(void* out, std::string_view bytes, std::size_t max_object_size);
  /// How a raw-body `T` (has_raw_body_v) is created and filled in place
  /// (read_raw_body); null for other types.
  const RawBodyOps* raw;
  /// Copies the cached `T` at `cached` into `*out`. Null when `T` cannot be
  /// copied: such objects are never cached.
  void (*copy)(void* out, const void* cached);
  /// A shared, immutable copy of `*object` for the cache (null with copy).
  std::shared_ptr<const void> (*share)(const void* object);
};

/// The RawBodyOps of a raw-body `T`.
template <class T>
struct RawBodyOf {
  using Element = typename T::value_type;
  static void* emplace(void* out) { return &static_cast<std::optional<T>*>(out)->emplace(); }
  static void reserve(void* object, std::size_t elements) {
    static_cast<T*>(object)->reserve(elements);
  }
  static void resize(void* object, std::size_t elements) {
    static_cast<T*>(object)->resize(elements);
  }
  static char* data(void* object) {
    return reinterpret_cast<char*>(static_cast<T*>(object)->data());
  }
  static std::size_t capacity(const void* object) {
    return static_cast<const T*>(object)->capacity();
  }
  static constexpr RawBodyOps value = {
      sizeof(Element), is_byte_like_v<T>, &emplace, &reserve, &resize, &data, &capacity};
};

/// For a raw-body type (`type.raw`) stored in `total` bytes whose first
/// bytes are `head`: when the header is well-formed and names the type
/// (and a vector's element count matches the bytes that follow), creates
/// the object in `*out` at its final size and reads the rest of the value
/// from `reader` straight into its memory. Otherwise returns false having
/// read nothing more and created nothing. (serialize.cpp)
bool read_raw_body(std::string_view head, std::size_t total, ValueReader& reader,
                   const ObjectType& type, void* out);

/// The ObjectType of `T`.
template <class T>
struct ObjectTypeOf {
  static void decode(void* out, std::string_view bytes, std::size_t max_object_size) {
    static_cast<std::optional<T>*>(out)->emplace(deserialize<T>(bytes, max_object_size));
  }
  static void copy(void* out, const void* cached) {
    static_cast<std::optional<T>*>(out)->emplace(*static_cast<const T*>(cached));
  }
  static std::shared_ptr<const void> share(const void* object) {
    return std::make_shared<const T>(**static_cast<const std::optional<T>*>(object));
  }
  static constexpr ObjectType make() {
    ObjectType type{&type_name<T>, &decode, nullptr, nullptr, nullptr};
    if constexpr (has_raw_body_v<T>)
      type.raw = &RawBodyOf<T>::value;
    if constexpr (std::is_copy_constructible_v<T>) {
      type.copy = &copy;
      type.share = &share;
    }
    return type;
  }
  static constexpr ObjectType value = make();
};

/// Decodes an object from `reader` into `*out` (see ObjectType). A large
/// value of a raw-body type is read straight into the object's own memory:
/// its first bytes give the header (and a vector's element count), the
/// object is created at its final size and the rest of the value lands in
/// it — one pass, no intermediate buffer. Everything else (a reader that
/// holds the value in memory, a small value, another type, a malformed
/// header) goes through deserialize(), which reports any problem exactly
/// as it does for bytes. (serialize.cpp)
void read_object_into(ValueReader& reader, std::size_t max_object_size, const ObjectType& type,
                      void* out);

/// Decodes a `T` from `reader` (read_object_into).
template <class T>
T read_object(ValueReader& reader, std::size_t max_object_size) {
  std::optional<T> object;
  read_object_into(reader, max_object_size, ObjectTypeOf<T>::value, &object);
  return std::move(*object);
}

}  // namespace detail

}  // namespace proxystore
