// SPDX-License-Identifier: Apache-2.0
/// \file
/// ProxyExecutor: run tasks on any executor, large arguments and results as proxies.
#pragma once

// ProxyStore's StoreExecutor pattern, with RAII.
//
//   auto store = std::make_shared<ps::RedisStore>("tasks", "127.0.0.1", 6379);
//   ps::ThreadPool pool(4);                                  // or any executor
//   ps::ProxyExecutor exec(store, [&pool](std::function<void()> task) {
//     pool.post(std::move(task));
//   });
//   std::future<double> f = exec.submit(mean, big_vector);   // big_vector proxied
//   double m = f.get();
//
// What happens to a task:
// * submit() decay-copies the callable and the arguments (like std::async).
//   Each argument whose type is proxiable (serializable: cereal or a raw
//   body; not already a Proxy) is shown to ExecutorOptions::proxy_arguments;
//   when it says yes, the argument is stored now, in the submitting thread,
//   as an OwnedProxy (ownership.hpp) and the task carries only the proxy.
// * On the worker the proxy is resolved (fetched from the store) and the
//   callable receives the object exactly as it would have without proxying:
//   as an rvalue `T&&`, so it may take `const T&`, `T` or `T&&`. A callable
//   never sees the proxy; pass a Proxy<T> yourself if it should decide
//   whether to resolve (proxies are never proxied again).
// * When the callable returns (or throws), the proxied arguments are
//   evicted — before the future becomes ready, so once `get()` returns the
//   store holds none of this task's inputs. A task the executor drops
//   without running evicts them too (its future reports broken_promise).
// * A result whose type is proxiable is shown to
//   ExecutorOptions::proxy_results; when it says yes, the worker stores it
//   and the thread that calls `get()` resolves it from the store, then it
//   is evicted. A future dropped without `get()` evicts it as well.
//   Because the caller resolves, such futures are deferred
//   (std::launch::deferred over the worker's future): `wait()` and `get()`
//   block until the task is done as usual, but `wait_for()` /
//   `wait_until()` return `std::future_status::deferred` instead of
//   polling. Set proxy_results to null for plain (pollable) futures; they
//   are also plain when the result type is not proxiable (or void).
// * An exception thrown by the callable — or by resolving an argument or
//   storing the result on the worker — reaches the future. Failing to
//   store an argument throws from submit() itself (nothing is left stored).
//
// Thread safety: submit(), wait() and stats() may be called from any
// thread. The destructor waits until every submitted task has run (or been
// dropped by the executor); do not destroy a ProxyExecutor from one of its
// own tasks. Objects live in the executor's store, which must be
// reachable (by name, or rebuilt from its config) wherever tasks run —
// trivially true for threads of this process.

#include <proxystore/errors.hpp>
#include <proxystore/ownership.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store.hpp>
#include <proxystore/type_name.hpp>

#include <cereal/details/traits.hpp>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace proxystore {

/// A small fixed-size thread pool: the executor ProxyExecutor uses when
/// it is given none. Tasks run in submission order on `size()` threads.
class ThreadPool {
 public:
  /// Starts `threads` worker threads (0: the hardware concurrency, at
  /// least 1 and at most 8).
  explicit ThreadPool(std::size_t threads = 0) {
    if (threads == 0)
      threads =
          std::max<std::size_t>(1, std::min<std::size_t>(8, std::thread::hardware_concurrency()));
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i)
      workers_.emplace_back([this] { work(); });
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ThreadPool(ThreadPool&&) = delete;
  ThreadPool& operator=(ThreadPool&&) = delete;
  /// Runs every task already posted, then joins the threads.
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& worker : workers_)
      worker.join();
  }

  /// Queues `task` to run on a worker thread. A task that throws ends the
  /// program (std::terminate, as a std::thread would): catch inside it.
  /// @throws Error if the pool is being destroyed.
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_)
        throw Error("ThreadPool::post: the pool is shutting down");
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

  /// The number of worker threads.
  std::size_t size() const noexcept { return workers_.size(); }

 private:
  void work() noexcept {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return;  // stopping, and nothing left to run
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();          // noexcept context: an escaping exception terminates
      task = nullptr;  // destroy the task (and what it owns) before waiting again
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> workers_;
};

/// What a proxy predicate is asked about: one argument or one result.
struct ProxyCandidate {
  /// `type_name<T>()` of the argument or result.
  std::string_view type;
  /// The argument's position (0-based); 0 for a result.
  std::size_t index = 0;
  /// Whether this is a task's result (false: an argument).
  bool is_result = false;
  /// The object's serialized size in bytes, computed when called: about
  /// free for byte-like types and vectors of numbers, one encode otherwise.
  std::function<std::size_t()> serialized_size;
};

/// Decides whether an argument or result travels as a proxy.
using ProxyPredicate = std::function<bool(const ProxyCandidate&)>;

/// The threshold ExecutorOptions uses by default: 1 MiB.
inline constexpr std::size_t default_proxy_threshold = std::size_t{1} << 20U;

/// A predicate: proxy objects whose serialized size exceeds `bytes`.
inline ProxyPredicate proxy_if_larger_than(std::size_t bytes) {
  return [bytes](const ProxyCandidate& candidate) {
    return candidate.serialized_size() > bytes;
  };
}

/// A predicate: proxy objects of the types `Ts` (whatever their size).
template <class... Ts>
ProxyPredicate proxy_if_type() {
  return [](const ProxyCandidate& candidate) {
    return ((candidate.type == type_name<Ts>()) || ...);
  };
}

/// How a ProxyExecutor chooses what to proxy.
struct ExecutorOptions {
  /// Which arguments travel as proxies (null: none). Default: serialized
  /// size above default_proxy_threshold.
  ProxyPredicate proxy_arguments = proxy_if_larger_than(default_proxy_threshold);
  /// Which results come back as proxies (null: none, and every future is
  /// a plain, pollable one). Default: serialized size above
  /// default_proxy_threshold.
  ProxyPredicate proxy_results = proxy_if_larger_than(default_proxy_threshold);
  /// Options for the proxies the executor makes (tags, lifetime; `evict`
  /// and `populate_target` are ignored: the executor evicts itself).
  ProxyOptions proxy_options;
  /// Threads of the executor's own ThreadPool, used only when no runner is
  /// given (0: ThreadPool's default).
  std::size_t threads = 0;
};

/// Counters of one ProxyExecutor.
struct ExecutorStats {
  std::uint64_t submitted = 0;          ///< tasks submitted
  std::uint64_t completed = 0;          ///< tasks run to the end (returned or threw)
  std::uint64_t proxied_arguments = 0;  ///< arguments that travelled as proxies
  std::uint64_t proxied_results = 0;    ///< results that came back as proxies
};

/// How a ProxyExecutor hands a task to the executor it wraps: run (or
/// queue) the function. E.g. `[&pool](std::function<void()> t) { pool.post(std::move(t)); }`.
using TaskRunner = std::function<void(std::function<void()>)>;

namespace detail {

/// Whether the executor may store a `T`: serializable, movable, not a
/// proxy, not a number (never worth a round trip).
template <class T>
inline constexpr bool is_executor_proxiable_v =
    !is_proxy_v<T> && std::is_object_v<T> && std::is_move_constructible_v<T> &&
    !std::is_arithmetic_v<T> && !std::is_enum_v<T> &&
    (has_raw_body_v<T> || (cereal::traits::is_output_serializable<T, WireOutputArchive>::value &&
                           (cereal::traits::is_input_serializable<T, WireInputArchive>::value ||
                            cereal::traits::has_load_and_construct<T, WireInputArchive>::value)));

/// The serialized size of `value`: exact without encoding for raw bodies.
template <class T>
std::size_t serialized_size(const T& value) {
  if constexpr (has_raw_body_v<T>) {
    // header (magic, version, name, body length) + element count + elements
    return 3 + 10 + type_name<T>().size() + body_length_size + 10 +
           value.size() * sizeof(typename T::value_type);
  } else {
    return ::proxystore::serialize(value).size();
  }
}

/// A candidate describing `value` (which must outlive the call).
template <class T>
ProxyCandidate candidate_for(const T& value, std::size_t index, bool is_result) {
  return ProxyCandidate{type_name<T>(), index, is_result, [&value] {
                          return serialized_size(value);
                        }};
}

/// One argument of a task: the value itself, or its owned proxy.
template <class T>
class TaskArgument {
 public:
  explicit TaskArgument(T value) : value_(std::move(value)) {}

  /// Stores the value as an owned proxy if the predicate says so.
  /// Returns whether it did.
  bool maybe_proxy(Store& store, const ExecutorOptions& options, std::size_t index) {
    if constexpr (is_executor_proxiable_v<T>) {
      if (options.proxy_arguments &&
          options.proxy_arguments(candidate_for(*value_, index, false))) {
        ProxyOptions proxy_options = options.proxy_options;
        proxy_options.evict = false;
        proxy_options.populate_target = false;
        owned_ = store.owned_proxy<T>(std::move(*value_), proxy_options);
        value_.reset();
        return true;
      }
    } else {
      (void)store;
      (void)options;
      (void)index;
    }
    return false;
  }

  /// The object, for the callable (resolves a proxy on first use).
  T&& take() {
    if constexpr (is_executor_proxiable_v<T>) {
      if (!value_)
        return std::move(static_cast<T&>(*owned_));
    }
    return std::move(*value_);
  }

  /// Evicts a proxied value now (a no-op otherwise).
  void release() noexcept {
    if constexpr (is_executor_proxiable_v<T>)
      owned_.reset();
  }

 private:
  std::optional<T> value_;
  struct None {
    void reset() noexcept {}
  };
  std::conditional_t<is_executor_proxiable_v<T>, OwnedProxy<T>, None> owned_;
};

/// A result as the worker hands it over: the value, or its owned proxy.
template <class R>
struct TaskOutcome {
  std::optional<R> value;
  OwnedProxy<R> proxied;
};

/// Counts tasks in flight, so the executor can wait for them.
class ExecutorCore {
 public:
  void begin() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++in_flight_;
    ++stats_.submitted;
  }
  void end() noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --in_flight_;
    }
    idle_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return in_flight_ == 0; });
  }
  void count(std::uint64_t ExecutorStats::*counter, std::uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.*counter += n;
  }
  ExecutorStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t in_flight_ = 0;  // guarded by mutex_
  ExecutorStats stats_;        // guarded by mutex_
};

/// Marks one task in flight for its whole life (RAII).
class InFlight {
 public:
  explicit InFlight(std::shared_ptr<ExecutorCore> core) : core_(std::move(core)) { core_->begin(); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  InFlight(InFlight&&) = delete;
  InFlight& operator=(InFlight&&) = delete;
  ~InFlight() { core_->end(); }
  ExecutorCore& core() const noexcept { return *core_; }

 private:
  std::shared_ptr<ExecutorCore> core_;
};

/// Whether results of type R can come back as proxies.
template <class R>
inline constexpr bool result_proxiable_v = !std::is_void_v<R> && is_executor_proxiable_v<R>;

/// One submitted task. `in_flight` is declared first, so it is destroyed
/// last: by then the arguments are evicted.
template <class R, class F, class... Args>
struct Task {
  InFlight in_flight;
  std::shared_ptr<Store> store;
  const ExecutorOptions* options;  // the executor's; it outlives every task
  bool proxy_result;               // result_proxiable_v<R> and a result predicate is set
  F fn;
  std::tuple<TaskArgument<Args>...> args;
  std::promise<R> plain;  // used unless proxy_result
  std::conditional_t<result_proxiable_v<R>, std::promise<TaskOutcome<R>>, std::promise<void>>
      outcome;  // used when proxy_result

  Task(std::shared_ptr<ExecutorCore> core, std::shared_ptr<Store> s, const ExecutorOptions& o, F f,
       Args... a)
      : in_flight(std::move(core)),
        store(std::move(s)),
        options(&o),
        proxy_result(result_proxiable_v<R> && static_cast<bool>(o.proxy_results)),
        fn(std::move(f)),
        args(TaskArgument<Args>(std::move(a))...) {}

  void release_arguments() noexcept {
    std::apply([](auto&... arg) { (arg.release(), ...); }, args);
  }

  /// Counts the task as completed: before its future becomes ready, so a
  /// caller that saw the result also sees the count.
  void complete() { in_flight.core().count(&ExecutorStats::completed); }

  void run() noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        std::apply([this](auto&... arg) { std::invoke(fn, arg.take()...); }, args);
        release_arguments();
        complete();
        plain.set_value();
      } else {
        R result =
            std::apply([this](auto&... arg) -> R { return std::invoke(fn, arg.take()...); }, args);
        release_arguments();
        if constexpr (result_proxiable_v<R>) {
          if (proxy_result) {
            TaskOutcome<R> value;
            if (options->proxy_results(candidate_for(result, 0, true))) {
              ProxyOptions proxy_options = options->proxy_options;
              proxy_options.evict = false;
              proxy_options.populate_target = false;
              value.proxied = store->owned_proxy<R>(std::move(result), proxy_options);
              in_flight.core().count(&ExecutorStats::proxied_results);
            } else {
              value.value.emplace(std::move(result));
            }
            complete();
            outcome.set_value(std::move(value));
            return;
          }
        }
        complete();
        plain.set_value(std::move(result));
      }
    } catch (...) {
      release_arguments();
      complete();
      if (proxy_result)
        outcome.set_exception(std::current_exception());
      else
        plain.set_exception(std::current_exception());
    }
  }
};

}  // namespace detail

/// Runs tasks on any executor (a thread pool, a task runtime, a user's
/// own), passing large arguments and results through a Store as proxies
/// and evicting them when they are no longer needed. Thread-safe. See the
/// top of executor.hpp for the whole contract.
class ProxyExecutor {
 public:
  /// An executor over `runner` (empty: a ThreadPool of the executor's own
  /// with `options.threads` threads) and `store`.
  /// @throws Error if `store` is null.
  explicit ProxyExecutor(std::shared_ptr<Store> store, TaskRunner runner = {},
                         ExecutorOptions options = {})
      : store_(std::move(store)), options_(std::move(options)), runner_(std::move(runner)) {
    if (!store_)
      throw Error("ProxyExecutor: the store is null");
    if (!runner_) {
      own_pool_ = std::make_unique<ThreadPool>(options_.threads);
      runner_ = [pool = own_pool_.get()](std::function<void()> task) {
        pool->post(std::move(task));
      };
    }
  }

  /// An executor over its own ThreadPool with `options`.
  ProxyExecutor(std::shared_ptr<Store> store, ExecutorOptions options)
      : ProxyExecutor(std::move(store), TaskRunner(), std::move(options)) {}

  ProxyExecutor(const ProxyExecutor&) = delete;
  ProxyExecutor& operator=(const ProxyExecutor&) = delete;
  ProxyExecutor(ProxyExecutor&&) = delete;
  ProxyExecutor& operator=(ProxyExecutor&&) = delete;

  /// Waits until every submitted task has run or been dropped (so their
  /// proxied arguments are evicted), then stops the executor's own pool.
  ~ProxyExecutor() {
    core_->wait();
    own_pool_.reset();
  }

  /// Submits `f(args...)`; arguments are decay-copied, chosen ones stored
  /// as proxies now and resolved on the worker (the callable receives
  /// `T&&`). The future carries the result (resolved by the caller when
  /// it came back as a proxy: then the future is deferred, see the top of
  /// executor.hpp) or the exception the task threw.
  /// @throws Error (any store error) if storing a proxied argument fails;
  ///         whatever the runner throws when it refuses the task. Nothing
  ///         stays stored in either case.
  template <class F, class... Args>
  auto submit(F&& f, Args&&... args)
      -> std::future<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>&&...>> {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>&&...>;
    using TaskType = detail::Task<R, std::decay_t<F>, std::decay_t<Args>...>;
    auto task = std::make_shared<TaskType>(core_, store_, options_, std::forward<F>(f),
                                           std::forward<Args>(args)...);
    std::size_t index = 0;
    std::uint64_t proxied = 0;
    std::apply(
        [&](auto&... arg) {
          ((proxied += arg.maybe_proxy(*store_, options_, index++) ? 1 : 0), ...);
        },
        task->args);
    core_->count(&ExecutorStats::proxied_arguments, proxied);
    if constexpr (detail::result_proxiable_v<R>) {
      if (task->proxy_result) {
        auto inner = task->outcome.get_future();
        runner_([task = std::move(task)] { task->run(); });
        return std::async(std::launch::deferred, [inner = std::move(inner)]() mutable -> R {
          detail::TaskOutcome<R> outcome = inner.get();
          if (outcome.value)
            return std::move(*outcome.value);
          R result(std::move(static_cast<R&>(outcome.proxied)));  // resolved here, by the caller
          return result;  // outcome.proxied dies here: the stored result is evicted
        });
      }
    }
    std::future<R> plain = task->plain.get_future();
    runner_([task = std::move(task)] { task->run(); });
    return plain;
  }

  /// Blocks until no submitted task is in flight (run or dropped).
  void wait() { core_->wait(); }

  /// The executor's counters.
  ExecutorStats stats() const { return core_->stats(); }

  /// The store proxied objects go to.
  const std::shared_ptr<Store>& store() const noexcept { return store_; }

  /// The options the executor was made with.
  const ExecutorOptions& options() const noexcept { return options_; }

 private:
  std::shared_ptr<detail::ExecutorCore> core_ = std::make_shared<detail::ExecutorCore>();
  std::shared_ptr<Store> store_;
  ExecutorOptions options_;
  TaskRunner runner_;
  std::unique_ptr<ThreadPool> own_pool_;
};

}  // namespace proxystore
