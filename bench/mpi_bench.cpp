// SPDX-License-Identifier: Apache-2.0
// proxystore_bench_mpi: plain MPI vs proxies over MPI, and ProxyExecutor vs
// by-value tasks, in one run (bench/run.sh runs it under mpiexec -n 5).
//
//   (a) chain:     rank 0 -> 3 forwarding ranks -> rank 4 uses the object;
//                  plain MPI forwards the bytes, proxies forward ~100 B and
//                  the user fetches from Redis (and, built with UCX, from
//                  rank 0's PeerStore). Also the single direct hop
//                  0 -> 4, where plain MPI must win.
//   (b) broadcast: rank 0 -> every rank, only ranks 1 and 2 use it.
//   (c) executor:  8 (1 MB) or 4 (100 MB) tasks, each summing one object, on one ThreadPool(2):
//                  by value vs ProxyExecutor (RedisStore, everything proxied).
//
// Times are medians over the repetitions, measured on rank 0 from a barrier
// to the last user's acknowledgement. Bytes are what each rank received
// (over MPI, and from the store) per repetition. Ratios compare the two
// ways in the same run.
//
//   mpiexec -n 5 proxystore_bench_mpi --redis-port=PORT [--smoke]
#include <proxystore/mpi.hpp>
#include <proxystore/proxystore.hpp>
#if PROXYSTORE_HAS_UCX
#include <proxystore/stores/peer.hpp>
#endif

#include <fmt/format.h>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace ps = proxystore;

namespace {

using Bytes = std::vector<char>;
using Clock = std::chrono::steady_clock;

int rank = 0;
int size = 0;

constexpr int kDataTag = 11;
constexpr int kAckTag = 12;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string human(double bytes) {
  if (bytes >= 1e6)
    return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1e3)
    return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{:.0f} B", bytes);
}

std::string label(std::size_t object) {
  return object >= 100'000'000 ? "100 MB" : fmt::format("{} MB", object / 1'000'000);
}

/// Per-rank bytes received in one repetition, gathered on rank 0.
struct Received {
  std::vector<double> mpi;
  std::vector<double> store;
};

Received gather(double mpi_bytes, double store_bytes) {
  double mine[2] = {mpi_bytes, store_bytes};
  std::vector<double> all(2 * static_cast<std::size_t>(size));
  MPI_Gather(mine, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  Received out;
  for (int r = 0; r < size; ++r) {
    out.mpi.push_back(all[2 * static_cast<std::size_t>(r)]);
    out.store.push_back(all[2 * static_cast<std::size_t>(r) + 1]);
  }
  return out;
}

void send_bytes(const Bytes& data, int to) {
  MPI_Send(data.data(), static_cast<int>(data.size()), MPI_BYTE, to, kDataTag, MPI_COMM_WORLD);
}

Bytes receive_bytes(int from) {
  MPI_Status status{};
  MPI_Probe(from, kDataTag, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Bytes data(static_cast<std::size_t>(count));
  MPI_Recv(data.data(), count, MPI_BYTE, from, kDataTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return data;
}

void ack(int to) {
  MPI_Send(nullptr, 0, MPI_BYTE, to, kAckTag, MPI_COMM_WORLD);
}
void wait_ack(int from) {
  MPI_Recv(nullptr, 0, MPI_BYTE, from, kAckTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

/// A cheap use of the object, so the compiler cannot skip the fetch.
double use(const Bytes& data) {
  return static_cast<double>(data.front()) + static_cast<double>(data.back()) +
         static_cast<double>(data.size());
}

/// One result row.
struct Row {
  std::string scenario;
  std::string size;
  std::string way;
  double seconds;
  std::string bytes;  // per rank, "r0/r1/..."
};

std::string per_rank(const Received& r) {
  std::string out;
  for (int i = 0; i < size; ++i) {
    const double total = r.mpi[static_cast<std::size_t>(i)] + r.store[static_cast<std::size_t>(i)];
    out += (i != 0 ? " / " : "") + human(total);
  }
  return out;
}

// (a) the object relayed along `path` (ranks; path[0] is 0, the last one
// uses it, the ones in between only forward): {0,1,2,3,4} is the chain,
// {0,4} the single direct hop.
int position(const std::vector<int>& path) {
  const auto at = std::find(path.begin(), path.end(), rank);
  return at == path.end() ? -1 : static_cast<int>(at - path.begin());
}

std::pair<double, Received> relay_plain(std::size_t object, const std::vector<int>& path,
                                        int reps) {
  std::vector<double> times;
  Received received;
  const int at = position(path);
  const int last = static_cast<int>(path.size()) - 1;
  for (int rep = 0; rep < reps; ++rep) {
    double mpi_in = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    if (at == 0) {
      send_bytes(Bytes(object, static_cast<char>(rep + 1)), path[1]);
      wait_ack(path.back());
      times.push_back(seconds_since(start));
    } else if (at > 0) {
      Bytes data = receive_bytes(path[static_cast<std::size_t>(at - 1)]);
      mpi_in = static_cast<double>(data.size());
      if (at < last) {
        send_bytes(data, path[static_cast<std::size_t>(at + 1)]);  // only to pass it on
      } else {
        (void)use(data);
        ack(0);
      }
    }
    received = gather(mpi_in, 0);
  }
  return {rank == 0 ? median(times) : 0, received};
}

std::pair<double, Received> relay_proxy(ps::Store* store, std::size_t object,
                                        const std::vector<int>& path, int reps) {
  std::vector<double> times;
  Received received;
  const int at = position(path);
  const int last = static_cast<int>(path.size()) - 1;
  ps::ProxyOptions options;
  options.evict = true;
  for (int rep = 0; rep < reps; ++rep) {
    double mpi_in = 0;
    double store_in = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    if (at == 0) {
      ps::Proxy<Bytes> proxy = store->proxy(Bytes(object, static_cast<char>(rep + 1)), options);
      ps::mpi::send(proxy, path[1], kDataTag, MPI_COMM_WORLD);
      wait_ack(path.back());
      times.push_back(seconds_since(start));
    } else if (at > 0) {
      ps::Proxy<Bytes> proxy =
          ps::mpi::receive<Bytes>(path[static_cast<std::size_t>(at - 1)], kDataTag, MPI_COMM_WORLD);
      mpi_in = static_cast<double>(ps::serialize(proxy).size());
      if (at < last) {
        ps::mpi::send(proxy, path[static_cast<std::size_t>(at + 1)], kDataTag, MPI_COMM_WORLD);
      } else {
        const Bytes& data = proxy;  // the fetch
        store_in = static_cast<double>(data.size());
        (void)use(data);
        ack(0);
      }
    }
    received = gather(mpi_in, store_in);
  }
  return {rank == 0 ? median(times) : 0, received};
}

// (b) broadcast to every rank; only ranks 1 and 2 use the object.
bool uses_broadcast(int r) {
  return r == 1 || r == 2;
}

std::pair<double, Received> bcast_plain(std::size_t object, int reps) {
  std::vector<double> times;
  Received received;
  for (int rep = 0; rep < reps; ++rep) {
    double mpi_in = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    std::uint64_t n = object;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    Bytes data(rank == 0 ? Bytes(object, static_cast<char>(rep + 1)) : Bytes(n));
    MPI_Bcast(data.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank != 0)
      mpi_in = static_cast<double>(n);
    if (uses_broadcast(rank)) {
      (void)use(data);
      ack(0);
    }
    if (rank == 0) {
      for (int r = 1; r < size; ++r) {
        if (uses_broadcast(r))
          wait_ack(r);
      }
      times.push_back(seconds_since(start));
    }
    received = gather(mpi_in, 0);
  }
  return {rank == 0 ? median(times) : 0, received};
}

std::pair<double, Received> bcast_proxy(ps::Store* store, std::size_t object, int reps) {
  std::vector<double> times;
  Received received;
  for (int rep = 0; rep < reps; ++rep) {
    double mpi_in = 0;
    double store_in = 0;
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    ps::Proxy<Bytes> mine;
    if (rank == 0)
      mine = store->proxy(Bytes(object, static_cast<char>(rep + 1)));
    ps::Proxy<Bytes> proxy = ps::mpi::broadcast(mine, 0, MPI_COMM_WORLD);
    if (rank != 0)
      mpi_in = static_cast<double>(ps::serialize(proxy).size());
    if (uses_broadcast(rank)) {
      const Bytes& data = proxy;
      store_in = static_cast<double>(data.size());
      (void)use(data);
      ack(0);
    }
    if (rank == 0) {
      for (int r = 1; r < size; ++r) {
        if (uses_broadcast(r))
          wait_ack(r);
      }
      times.push_back(seconds_since(start));
      store->evict(ps::get_factory(mine).target<ps::StoreFactory<Bytes>>()->key());
    }
    received = gather(mpi_in, store_in);
  }
  return {rank == 0 ? median(times) : 0, received};
}

// (c) rank 0 only: tasks summing one object each, on one ThreadPool(2).
double sum_bytes(const Bytes& data) {
  return std::accumulate(data.begin(), data.end(), 0.0,
                         [](double a, char c) { return a + static_cast<double>(c); });
}

double executor_run(ps::ThreadPool& pool, const std::shared_ptr<ps::Store>& store,
                    std::size_t object, int tasks, int reps) {
  std::vector<double> times;
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<Bytes> inputs(static_cast<std::size_t>(tasks), Bytes(object, 1));
    const auto start = Clock::now();
    if (store) {
      ps::ExecutorOptions options;
      options.proxy_arguments = ps::proxy_if_larger_than(0);
      options.proxy_results = nullptr;
      ps::ProxyExecutor exec(
          store, [&pool](std::function<void()> task) { pool.post(std::move(task)); }, options);
      std::vector<std::future<double>> futures;
      for (Bytes& input : inputs)
        futures.push_back(
            exec.submit([](const Bytes& data) { return sum_bytes(data); }, std::move(input)));
      for (auto& f : futures)
        (void)f.get();
    } else {
      std::vector<std::future<double>> futures;
      for (Bytes& input : inputs) {
        auto task = std::make_shared<std::packaged_task<double()>>(
            [data = std::move(input)] { return sum_bytes(data); });
        futures.push_back(task->get_future());
        pool.post([task] { (*task)(); });
      }
      for (auto& f : futures)
        (void)f.get();
    }
    times.push_back(seconds_since(start));
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int redis_port = 0;
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.rfind("--redis-port=", 0) == 0)
      redis_port = std::atoi(argv[i] + 13);
    else if (arg == "--smoke")
      smoke = true;
  }
  if (size != 5 || redis_port <= 0) {
    if (rank == 0)
      std::fprintf(stderr,
                   "usage: mpiexec -n 5 proxystore_bench_mpi --redis-port=PORT [--smoke]\n");
    MPI_Finalize();
    return 2;
  }
  int status = 0;
  try {
    std::shared_ptr<ps::Store> store;
    if (rank == 0) {
      ps::RedisOptions redis;
      redis.key_prefix = "proxystore-bench-mpi:";
      store = std::make_shared<ps::RedisStore>("bench-mpi", "127.0.0.1", redis_port, redis);
    }
#if PROXYSTORE_HAS_UCX
    // The same proxies served from rank 0's own memory over UCX: no server.
    std::shared_ptr<ps::Store> peer;
    if (rank == 0)
      peer = std::make_shared<ps::PeerStore>("bench-mpi-peer");
#endif
    const std::vector<std::size_t> sizes = smoke ? std::vector<std::size_t>{1'000'000}
                                                 : std::vector<std::size_t>{1'000'000, 100'000'000};
    const int user = size - 1;
    std::vector<Row> rows;
    std::vector<std::string> ratios;
    for (std::size_t object : sizes) {
      const int reps = smoke ? 1 : (object >= 100'000'000 ? 3 : 15);
      const std::vector<int> chain = {0, 1, 2, 3, user};
      const std::vector<int> hop = {0, user};
      const auto a_plain = relay_plain(object, chain, reps);
      const auto a_proxy = relay_proxy(store.get(), object, chain, reps);
      const auto h_plain = relay_plain(object, hop, reps);
      const auto h_proxy = relay_proxy(store.get(), object, hop, reps);
      const auto b_plain = bcast_plain(object, reps);
      const auto b_proxy = bcast_proxy(store.get(), object, reps);
#if PROXYSTORE_HAS_UCX
      const auto a_peer = relay_proxy(peer.get(), object, chain, reps);
      const auto b_peer = bcast_proxy(peer.get(), object, reps);
      if (rank == 0) {
        const std::string s = label(object);
        rows.push_back(
            {"(a) chain 0→1→2→3→4", s, "proxy (Peer)", a_peer.first, per_rank(a_peer.second)});
        rows.push_back({"(b) bcast, 2 of 4 use", s, "proxy bcast (Peer)", b_peer.first,
                        per_rank(b_peer.second)});
        ratios.push_back(fmt::format("| {} | chain: Peer proxy/plain time | {:.2f} |", s,
                                     a_peer.first / a_plain.first));
        ratios.push_back(fmt::format("| {} | broadcast: Peer proxy/plain time | {:.2f} |", s,
                                     b_peer.first / b_plain.first));
      }
#endif
      if (rank == 0) {
        const std::string s = label(object);
        rows.push_back(
            {"(a) chain 0→1→2→3→4", s, "plain MPI", a_plain.first, per_rank(a_plain.second)});
        rows.push_back(
            {"(a) chain 0→1→2→3→4", s, "proxy (Redis)", a_proxy.first, per_rank(a_proxy.second)});
        rows.push_back(
            {"(a') direct hop 0→4", s, "plain MPI", h_plain.first, per_rank(h_plain.second)});
        rows.push_back(
            {"(a') direct hop 0→4", s, "proxy (Redis)", h_proxy.first, per_rank(h_proxy.second)});
        rows.push_back(
            {"(b) bcast, 2 of 4 use", s, "MPI_Bcast", b_plain.first, per_rank(b_plain.second)});
        rows.push_back({"(b) bcast, 2 of 4 use", s, "proxy bcast (Redis)", b_proxy.first,
                        per_rank(b_proxy.second)});
        ratios.push_back(fmt::format("| {} | chain: proxy/plain time | {:.2f} |", s,
                                     a_proxy.first / a_plain.first));
        ratios.push_back(fmt::format("| {} | direct hop: proxy/plain time | {:.2f} |", s,
                                     h_proxy.first / h_plain.first));
        ratios.push_back(fmt::format("| {} | broadcast: proxy/plain time | {:.2f} |", s,
                                     b_proxy.first / b_plain.first));
        const double fwd_plain = a_plain.second.mpi[1];
        const double fwd_proxy = a_proxy.second.mpi[1];
        ratios.push_back(
            fmt::format("| {} | chain: bytes into each forwarder, plain/proxy | {:.0f} |", s,
                        fwd_plain / std::max(1.0, fwd_proxy)));
        double b_total_plain = 0;
        double b_total_proxy = 0;
        for (int r = 1; r < size; ++r) {
          b_total_plain += b_plain.second.mpi[static_cast<std::size_t>(r)];
          b_total_proxy += b_proxy.second.mpi[static_cast<std::size_t>(r)] +
                           b_proxy.second.store[static_cast<std::size_t>(r)];
        }
        ratios.push_back(
            fmt::format("| {} | broadcast: bytes into receivers, plain/proxy | {:.2f} |", s,
                        b_total_plain / b_total_proxy));
      }
    }
    // (c) on rank 0 only; the other ranks wait at the final barrier.
    if (rank == 0) {
      ps::ThreadPool pool(2);
      auto local = std::make_shared<ps::LocalStore>("bench-exec-local");
      for (std::size_t object : sizes) {
        const int tasks = object >= 100'000'000 ? 4 : 8;  // 4 x 100 MB: bounded memory
        const int reps = smoke ? 1 : (object >= 100'000'000 ? 2 : 10);
        const std::size_t each = object;
        const double by_value = executor_run(pool, nullptr, each, tasks, reps);
        const double via_local = executor_run(pool, local, each, tasks, reps);
        const double via_redis = executor_run(pool, store, each, tasks, reps);
        const std::string s2 = fmt::format("{} x {}", tasks, label(each));
        rows.push_back({"(c) tasks, ThreadPool(2)", s2, "by value", by_value, "in-process"});
        rows.push_back({"(c) tasks, ThreadPool(2)", s2, "ProxyExecutor (LocalStore)", via_local,
                        "in-process"});
        rows.push_back({"(c) tasks, ThreadPool(2)", s2, "ProxyExecutor (RedisStore)", via_redis,
                        "in-process"});
        ratios.push_back(
            fmt::format("| {} | executor: LocalStore proxies / by value time | {:.2f} |", s2,
                        via_local / by_value));
        ratios.push_back(
            fmt::format("| {} | executor: RedisStore proxies / by value time | {:.2f} |", s2,
                        via_redis / by_value));
      }
      std::printf("\n### MPI and executor: proxies vs plain (5 ranks, one run%s)\n\n",
                  smoke ? ", smoke" : "");
      std::printf(
          "| scenario | object | way | median time | bytes received per rank (r0 / r1 / r2 / r3 / "
          "r4) |\n");
      std::printf("|---|---|---|---:|---|\n");
      for (const Row& row : rows)
        std::printf("| %s | %s | %s | %.2f ms | %s |\n", row.scenario.c_str(), row.size.c_str(),
                    row.way.c_str(), row.seconds * 1e3, row.bytes.c_str());
      std::printf("\n| object | ratio | value |\n|---|---|---:|\n");
      for (const std::string& line : ratios)
        std::printf("%s\n", line.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "proxystore_bench_mpi (rank %d): %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  return status;
}
