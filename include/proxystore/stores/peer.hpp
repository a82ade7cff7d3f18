// SPDX-License-Identifier: Apache-2.0
/// \file
/// PeerStore and EndpointStore: objects served from memory over UCX.
///
/// Available when the library is built with UCX (`PROXYSTORE_HAS_UCX` is
/// defined to 1); without it these classes are declared but not defined.
#pragma once

#include <proxystore/store.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proxystore {

/// How a PeerStore listens, and how long its clients wait.
struct PeerOptions {
  /// The interface the listener binds (loopback by default).
  std::string listen_host = "127.0.0.1";
  /// The listener's port; 0 chooses an ephemeral one (see address()).
  int port = 0;
  /// Bytes of memory the store's objects may occupy; 0: unlimited. A put
  /// beyond it throws StoreOperationError. An object of 1 MiB or more is
  /// held in whole 2 MiB huge pages and counts as those.
  std::size_t memory_limit = 0;
  /// Bound on connecting to a peer (and on a peer's first answer).
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on each request's reply once connected.
  std::chrono::milliseconds command_timeout{30000};
  /// Cache, metrics and limits.
  StoreOptions store;
};

namespace detail::ucx {
class Node;
class ObjectTable;
}  // namespace detail::ucx

/// A store whose objects stay in the memory of the process that put them
/// and are served from there over UCX (shared memory / CMA on one host,
/// TCP or RDMA between hosts): a put is a local insert, a get in another
/// process is one transfer from this one. Thread-safe.
///
/// Its config has type "peer" with options host, port, connect_timeout_ms
/// and command_timeout_ms: a process that rebuilds it from a proxy gets an
/// EndpointStore that fetches from (and evicts on) this process. When this
/// process exits, its objects are gone: their consumers get a
/// ConnectionError naming the address and the key.
///
/// In a forked child the listener, the objects and the progress thread stay
/// with the parent: there every operation throws StoreOperationError saying
/// so, and destroying the store leaves the parent's worker and sockets alone.
class PeerStore : public Store {
 public:
  /// Starts the listener on `options.listen_host`:`options.port`.
  /// @throws ConnectionError if UCX cannot start or the address cannot be
  ///         bound; Error on invalid options.
  explicit PeerStore(std::string name, PeerOptions options = {});
  ~PeerStore() override;
  PeerStore(const PeerStore&) = delete;
  PeerStore& operator=(const PeerStore&) = delete;

  StoreConfig config() const override;

  /// Where this store's objects are served: "host:port".
  std::string address() const;
  /// The bound port.
  int port() const noexcept;
  /// Bytes of memory the store's serialized objects occupy (from 1 MiB an
  /// object occupies whole 2 MiB huge pages).
  std::size_t memory_bytes() const;

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  std::optional<Bytes> do_get(const Key& key) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;
  /// Waits on the store's own table: woken by the put, no polling.
  std::optional<Bytes> do_wait_get(const Key& key, std::chrono::milliseconds timeout) override;

 private:
  /// Throws StoreOperationError in a forked child of the serving process.
  void check_not_forked() const;

  PeerOptions options_;
  std::shared_ptr<detail::ucx::ObjectTable> table_;
  std::unique_ptr<detail::ucx::Node> node_;
};

/// A client of a remote PeerStore or of a `proxystore-endpoint` server at
/// host:port: puts go to it, gets are fetched from it (one request per
/// batch). Its config is the same "peer" config a PeerStore has, so
/// consumers cannot tell the two apart. Thread-safe; connects on first use
/// and again after the peer restarts.
class EndpointStore : public Store {
 public:
  /// A client of the server at `host`:`port`. Of `options` it uses the
  /// timeouts and `store`. Does not connect.
  /// @throws Error on invalid arguments (empty host, port outside 1-65535,
  ///         negative timeouts).
  EndpointStore(std::string name, std::string host, int port, PeerOptions options = {});
  ~EndpointStore() override;
  EndpointStore(const EndpointStore&) = delete;
  EndpointStore& operator=(const EndpointStore&) = delete;

  StoreConfig config() const override;

  /// Rebuilds a client from a "peer" config (options host, port and the
  /// optional timeouts, capped by StorePolicy::max_timeout).
  /// @throws Error if an option is missing or malformed.
  static std::shared_ptr<EndpointStore> from_config(const StoreConfig& config);

  /// The server's "host:port".
  std::string address() const;

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  /// The head and the body go out as two parts of one message (no join).
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  std::optional<Bytes> do_get(const Key& key) override;
  /// A large value goes by UCX rendezvous straight into the object's memory.
  bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;
  void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) override;
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys) override;
  /// One request the server answers when the value is put (no polling).
  std::optional<Bytes> do_wait_get(const Key& key, std::chrono::milliseconds timeout) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxystore
