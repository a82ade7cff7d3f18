// SPDX-License-Identifier: Apache-2.0
/// \file
/// The exception hierarchy: every failure the library reports derives from Error.
#pragma once

#include <stdexcept>

namespace proxystore {

/// Base of every exception thrown by proxystore. The message always names
/// what failed first (store, key, host:port, types), then why.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A proxy's factory found no object under its key (never stored, evicted,
/// or expired).
class ProxyResolveMissingKeyError : public Error {
 public:
  using Error::Error;
};

/// register_store() was given a name that is already registered.
class StoreExistsError : public Error {
 public:
  using Error::Error;
};

/// A store was looked up by name or type and none is known.
class StoreNotFoundError : public Error {
 public:
  using Error::Error;
};

/// Bytes could not be encoded or decoded: truncated, corrupted or hostile
/// input, a wrong type, or a length over the configured maximum.
class SerializationError : public Error {
 public:
  using Error::Error;
};

/// An object (typically a factory with no kind, such as a lambda) cannot be
/// serialized at all.
class NotSerializableError : public SerializationError {
 public:
  using SerializationError::SerializationError;
};

/// A serialized factory (or proxy) failed signature verification while a
/// signing key is in force: it is unsigned, tampered with, or signed with
/// another key (see security.hpp). Names the factory kind and result type.
class SignatureError : public SerializationError {
 public:
  using SerializationError::SerializationError;
};

/// The store policy refused to rebuild a store from a config that came
/// from outside this process (a proxy): its type, host or directory is not
/// allowed (see security.hpp). Names the store, its type and its
/// host:port or directory.
class ForbiddenStoreError : public Error {
 public:
  using Error::Error;
};

/// A store could not reach its server: refused, dropped, authentication
/// failed, or timed out. Names host:port and the operation.
class ConnectionError : public Error {
 public:
  using Error::Error;
};

/// A server did not answer within the configured timeout.
class TimeoutError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

/// A backend refused an operation it understood: a server error reply
/// (e.g. Redis OOM), a failed file write, a full disk, a bad key.
class StoreOperationError : public Error {
 public:
  using Error::Error;
};

/// A borrow rule of OwnedProxy was broken (ownership.hpp): a mutable borrow
/// while other borrows live, a shared borrow while a mutable one lives, or
/// use of an owner that is mutably borrowed or moved-from. Names the key
/// and the conflicting borrows.
class BorrowError : public Error {
 public:
  using Error::Error;
};

/// A Lifetime (lifetimes.hpp) was used after it ended, or was given an
/// object of a store it does not cover. Names the lifetime and the key.
class LifetimeError : public Error {
 public:
  using Error::Error;
};

/// A Future's result (future.hpp) was not set within the wait's timeout.
/// Names the store, the key and the timeout.
class FutureTimeoutError : public Error {
 public:
  using Error::Error;
};

}  // namespace proxystore
