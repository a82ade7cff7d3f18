// SPDX-License-Identifier: Apache-2.0
// 06 — A task pool: a dispatcher forwards proxies, only the workers that
// need an object fetch it.
//
// Three kinds of process, all this one program:
//
//   client ──tasks──▶ dispatcher ──tasks──▶ worker 0, worker 1, worker 2
//          ◀─reports─            ◀─reports─
//
// The client stores eight datasets and sends eight tasks, each holding a
// Proxy<std::vector<double>> to its dataset. The dispatcher deserializes
// every task to route it, re-serializes it and forwards it — the proxy stays
// a few dozen bytes and is never resolved there. Workers resolve a proxy
// only when their task needs the data (cancelled tasks do not). Every
// process reports the bytes it moved; the client checks the results and
// that the dispatcher fetched nothing and never even built the store.
//
// Store: a FileStore in a temporary directory, or a RedisStore when
// PROXYSTORE_REDIS=host:port is set (nothing is started for you).
//
// Run: build/examples/06_task_pool      (exits non-zero on any mismatch)
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <cereal/types/string.hpp>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ps = proxystore;

namespace example {

/// A unit of work. The data travels as a proxy: the task stays small.
struct Task {
  int id = 0;
  std::string op;  // "sum", "max" or "cancelled"
  ps::Proxy<std::vector<double>> data;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, op, data);  // a proxy serializes its factory, never the target
  }
};

/// What flows back: one result per task, then one "stats" line per process.
struct Report {
  std::string kind;  // "result" or "stats"
  std::string process;
  int task = -1;
  double value = 0;
  std::uint64_t pipe_bytes = 0;   // task bytes this process received
  std::uint64_t store_bytes = 0;  // bytes it fetched from the store
  int resolved = 0;               // proxies it resolved
  bool built_store = false;       // whether it ever created/connected the store

  template <class Archive>
  void serialize(Archive& ar) {
    ar(kind, process, task, value, pipe_bytes, store_bytes, resolved, built_store);
  }
};

}  // namespace example

PROXYSTORE_TYPE_NAME(example::Task, "example.task");
PROXYSTORE_TYPE_NAME(example::Report, "example.report");

namespace {

constexpr const char* kStoreName = "task-pool";
constexpr int kWorkers = 3;
constexpr int kTasks = 8;
constexpr std::size_t kValuesPerDataset = 250'000;  // 2 MB of doubles each

// --- plumbing: whole lines, frames and child processes ---------------------

/// Prints one whole line with a single write, so lines of concurrent
/// processes never interleave mid-line.
template <class... Args>
void say(fmt::format_string<Args...> format, Args&&... args) {
  const std::string line = fmt::format(format, std::forward<Args>(args)...) + "\n";
  (void)!::write(STDOUT_FILENO, line.data(), line.size());
}

bool write_all(int fd, const char* data, std::size_t size) {
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t size) {
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Sends `message` serialized, length-prefixed; returns the bytes written.
template <class T>
std::uint64_t send(int fd, const T& message) {
  const std::string payload = ps::serialize(message);
  const std::uint64_t length = payload.size();
  if (!write_all(fd, reinterpret_cast<const char*>(&length), sizeof length) ||
      !write_all(fd, payload.data(), payload.size()))
    throw ps::Error("pipe write failed (peer exited?)");
  return sizeof length + length;
}

/// Receives one message; nullopt at end of input. Adds to `counted`.
template <class T>
std::optional<T> receive(int fd, std::uint64_t& counted) {
  std::uint64_t length = 0;
  if (!read_all(fd, reinterpret_cast<char*>(&length), sizeof length))
    return std::nullopt;
  if (length > (1U << 20))
    throw ps::Error(fmt::format("refusing a {}-byte message: tasks are small", length));
  std::string payload(length, '\0');
  if (!read_all(fd, payload.data(), payload.size()))
    throw ps::Error("pipe closed in the middle of a message");
  counted += sizeof length + length;
  return ps::deserialize<T>(payload);
}

struct Child {
  pid_t pid = -1;
  int to = -1;    // write end of the child's stdin
  int from = -1;  // read end of the child's fd 3
};

/// Re-executes this program with `args`; the child reads stdin, reports on fd 3.
Child spawn(std::vector<std::string> args) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    throw ps::Error("pipe2 failed");
  std::vector<char*> argv;
  for (std::string& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0)
    throw ps::Error("fork failed");
  if (pid == 0) {  // child: async-signal-safe calls only, then exec
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], 3);  // neither can already be 0 or 3: those are open in the parent
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  return {pid, in[1], out[0]};
}

bool wait_ok(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string human(std::uint64_t bytes) {
  if (bytes >= 1'000'000)
    return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  if (bytes >= 10'000)
    return fmt::format("{:.1f} kB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{} B", bytes);
}

// --- worker -------------------------------------------------------------------

int worker(const std::string& name) {
  example::Report stats{"stats", name};
  while (auto task = receive<example::Task>(STDIN_FILENO, stats.pipe_bytes)) {
    example::Report result{"result", name, task->id};
    if (task->op == "cancelled") {
      say("  [{}] task {}: cancelled, data not fetched", name, task->id);
    } else {
      const std::vector<double>& data = task->data;            // resolves: the only fetch
      const std::size_t fetched = ps::serialize(data).size();  // what the store moved
      stats.store_bytes += fetched;
      ++stats.resolved;
      result.value = task->op == "sum" ? std::accumulate(data.begin(), data.end(), 0.0)
                                       : *std::max_element(data.begin(), data.end());
      say("  [{}] task {}: {} = {} (fetched {})", name, task->id, task->op, result.value,
          human(fetched));
    }
    send(3, result);
  }
  stats.built_store = ps::get_store(kStoreName) != nullptr;
  send(3, stats);
  return 0;
}

// --- dispatcher -----------------------------------------------------------------

int dispatcher() {
  example::Report stats{"stats", "dispatcher"};
  std::vector<Child> workers;
  for (int i = 0; i < kWorkers; ++i)
    workers.push_back(spawn({"06_task_pool", "--worker", fmt::format("worker {}", i)}));

  int next = 0;
  while (auto task = receive<example::Task>(STDIN_FILENO, stats.pipe_bytes)) {
    // Routing needs only the task's metadata; the proxy is passed on as is.
    const int target = next++ % kWorkers;
    const std::uint64_t forwarded = send(workers[target].to, *task);
    say("  [dispatcher] task {} ({}) -> worker {}: forwarded {} B, proxy resolved here: {}",
        task->id, task->op, target, forwarded, ps::is_resolved(task->data) ? "YES" : "no");
    stats.resolved += ps::is_resolved(task->data) ? 1 : 0;
  }
  for (Child& child : workers)
    ::close(child.to);  // end of tasks

  std::uint64_t ignored = 0;
  bool ok = true;
  for (Child& child : workers) {
    while (auto report = receive<example::Report>(child.from, ignored))
      send(3, *report);  // pass results and worker stats up to the client
    ::close(child.from);
    ok = wait_ok(child.pid) && ok;
  }
  stats.built_store = ps::get_store(kStoreName) != nullptr;
  send(3, stats);
  return ok ? 0 : 1;
}

// --- client ---------------------------------------------------------------------

std::shared_ptr<ps::Store> make_store(const std::filesystem::path& scratch) {
  ps::StoreOptions options;
  options.metrics = true;
  const char* endpoint = std::getenv("PROXYSTORE_REDIS");
  if (endpoint == nullptr || *endpoint == '\0')
    return std::make_shared<ps::FileStore>(kStoreName, scratch, options);
  const std::string text = endpoint;
  const auto colon = text.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(text.c_str() + colon + 1);
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535)
    throw ps::Error(fmt::format("PROXYSTORE_REDIS='{}' is not host:port", text));
  ps::RedisOptions redis;
  redis.key_prefix = "proxystore-taskpool:";
  if (const char* password = std::getenv("PROXYSTORE_REDIS_PASSWORD")) {
    redis.password = password;
    // Workers rebuild the store from proxies: bind the password to this
    // host:port for them (PROXYSTORE_REDIS_AUTH, inherited).
    const std::string binding = text + "=" + password;
    ::setenv("PROXYSTORE_REDIS_AUTH", binding.c_str(), 0);  // NOLINT(concurrency-mt-unsafe)
  }
  redis.store = options;
  return std::make_shared<ps::RedisStore>(kStoreName, text.substr(0, colon), port, redis);
}

int client() {
  namespace fs = std::filesystem;
  const fs::path scratch = fs::temp_directory_path() / ("proxystore-pool-" + ps::random_key().id);
  std::shared_ptr<ps::Store> store = make_store(scratch);
  say("== client: store {} \"{}\"; {} tasks for {} workers", store->config().type, kStoreName,
      kTasks, kWorkers);

  // Eight datasets, stored in one batch; one task per dataset.
  std::vector<std::vector<double>> datasets(kTasks, std::vector<double>(kValuesPerDataset));
  for (int i = 0; i < kTasks; ++i)
    std::iota(datasets[i].begin(), datasets[i].end(), static_cast<double>(i));
  const std::vector<ps::Proxy<std::vector<double>>> proxies = store->proxy_batch(datasets);
  const char* ops[] = {"sum", "max", "cancelled", "sum"};

  std::signal(SIGPIPE, SIG_IGN);
  Child pool = spawn({"06_task_pool", "--dispatcher"});
  std::uint64_t sent = 0;
  std::map<int, double> expected;
  for (int i = 0; i < kTasks; ++i) {
    example::Task task{i, ops[i % 4], proxies[i]};
    const auto& data = datasets[i];
    if (task.op == "sum")
      expected[i] = std::accumulate(data.begin(), data.end(), 0.0);
    else if (task.op == "max")
      expected[i] = *std::max_element(data.begin(), data.end());
    else
      expected[i] = 0;
    sent += send(pool.to, task);
  }
  ::close(pool.to);

  // Collect results and every process's stats.
  int failures = 0;
  int results = 0;
  std::uint64_t received = 0;
  std::vector<example::Report> stats;
  while (auto report = receive<example::Report>(pool.from, received)) {
    if (report->kind == "stats") {
      stats.push_back(*report);
    } else if (expected.count(report->task) == 0 || expected[report->task] != report->value) {
      say("  MISMATCH: task {} reported {}", report->task, report->value);
      ++failures;
    } else {
      ++results;
    }
  }
  failures += wait_ok(pool.pid) ? 0 : 1;
  failures += results == kTasks ? 0 : 1;

  // The bytes each process moved.
  const ps::OperationMetrics written = store->metrics().at("set_batch");
  say("== bytes moved per process");
  say("  {:<11} {:>14} {:>18} {:>9}", "process", "task messages", "store traffic", "resolved");
  say("  {:<11} {:>14} {:>18} {:>9}", "client", human(sent), "wrote " + human(written.bytes), "-");
  std::uint64_t fetched_by_workers = 0;
  for (const example::Report& s : stats) {
    say("  {:<11} {:>14} {:>18} {:>9}", s.process, human(s.pipe_bytes),
        "read " + human(s.store_bytes), s.resolved);
    if (s.process == "dispatcher" && (s.store_bytes != 0 || s.resolved != 0 || s.built_store)) {
      say("  MISMATCH: the dispatcher touched the store");
      ++failures;
    }
    if (s.process != "dispatcher")
      fetched_by_workers += s.store_bytes;
  }
  // Six of the eight tasks use their data; the two cancelled ones must not.
  const std::uint64_t one = ps::serialize(datasets[0]).size();
  if (fetched_by_workers != 6 * one || stats.size() != kWorkers + 1) {
    say("  MISMATCH: workers fetched {} (expected {})", human(fetched_by_workers), human(6 * one));
    ++failures;
  }

  for (const auto& proxy : proxies)  // clean up (Redis keys would outlive us)
    store->evict(ps::get_factory(proxy).target<ps::StoreFactory<std::vector<double>>>()->key());
  std::error_code ignored;
  fs::remove_all(scratch, ignored);

  if (failures == 0)
    say("== 06_task_pool: OK ({} results; the dispatcher moved only proxies)", results);
  else
    say("== 06_task_pool: FAILED ({} problems)", failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  try {
    if (args.size() == 1 && args[0] == "--dispatcher")
      return dispatcher();
    if (args.size() == 2 && args[0] == "--worker")
      return worker(std::string(args[1]));
    return client();
  } catch (const std::exception& e) {
    say("06_task_pool ({}): error: {}", args.empty() ? "client" : args[0], e.what());
    return 1;
  }
}
