// Helpers for tests/state/replicator_test.cc: temp folders and free ports,
// waiting for answers from the loop thread, an in-memory StateMachine and a
// cluster of real members on 127.0.0.1.
#pragma once

#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "state/replicated_service.h"
#include "state/replicator.h"
#include "state/replicator_internal.h"

#include "tests/test_support.h"

namespace bosun::state::replicator_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A folder under /tmp, removed with everything in it when the test ends.
class TempDir : public bosun::test::TempDir {
 public:
  TempDir() : bosun::test::TempDir("bosun-replicator") {}
};

using bosun::test::FreePort;

inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// One answer handed from the loop thread to the test thread.
template <typename T>
class Answer {
 public:
  void Set(T v) {
    std::lock_guard<std::mutex> lock(mu_);
    value_.emplace(std::move(v));
    cv_.notify_all();
  }
  std::optional<T> Wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return value_.has_value(); });
    return value_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

inline Result<std::string> ProposeSync(Replicator& r, const std::string& cmd, std::chrono::milliseconds timeout = 5s) {
  auto answer = std::make_shared<Answer<Result<std::string>>>();
  r.Propose(cmd, [answer](Result<std::string> res) { answer->Set(std::move(res)); });
  auto got = answer->Wait(timeout);
  if (!got) return Error(Code::kTimeout, "no answer to the proposal of " + cmd);
  return *got;
}

inline Status StatusSync(const std::function<void(std::function<void(Status)>)>& call,
                         std::chrono::milliseconds timeout) {
  auto answer = std::make_shared<Answer<Status>>();
  call([answer](Status st) { answer->Set(std::move(st)); });
  auto got = answer->Wait(timeout);
  if (!got) return Error(Code::kTimeout, "no answer");
  return *got;
}

// Proposes `n` commands "<prefix>-<k>" at once and waits for all answers.
// Returns how many were acknowledged.
inline int ProposeMany(Replicator& r, const std::string& prefix, int n, std::chrono::milliseconds timeout = 10s) {
  std::vector<std::shared_ptr<Answer<Result<std::string>>>> answers;
  for (int k = 0; k < n; k++) {
    auto a = std::make_shared<Answer<Result<std::string>>>();
    answers.push_back(a);
    r.Propose(prefix + "-" + std::to_string(k), [a](Result<std::string> res) { a->Set(std::move(res)); });
  }
  int ok = 0;
  std::string first_error;
  for (auto& a : answers) {
    auto got = a->Wait(timeout);
    if (got && got->ok()) {
      ok++;
    } else if (first_error.empty()) {
      first_error = got ? got->error().message() : "no answer";
    }
  }
  // Shown with the failing assertion's output, to tell a lost leadership
  // from a hang.
  if (!first_error.empty()) std::cerr << "ProposeMany(" << prefix << "): " << first_error << "\n";
  return ok;
}

inline std::vector<std::string> Names(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int k = from; k < to; k++) out.push_back(prefix + "-" + std::to_string(k));
  return out;
}

// The state machine of the tests: a list of (index, command), idempotent by
// index like the store; a snapshot is that list serialised.
class MemoryFsm : public StateMachine {
 public:
  struct Entry {
    uint64_t index;
    std::string command;
    bool operator==(const Entry&) const = default;
  };

  // `durable`: the state survives restarts (the Cluster keeps it) and says
  // so (StateIsDurable), so Raft's snapshots are references.
  explicit MemoryFsm(bool concurrent_snapshots = false, bool durable = false)
      : concurrent_snapshots_(concurrent_snapshots), durable_(durable) {}

  Result<std::string> Apply(uint64_t index, std::string_view command) override {
    std::function<void(std::string_view)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = on_apply_;
      apply_thread_ = std::this_thread::get_id();
    }
    if (hook) hook(command);
    std::lock_guard<std::mutex> lock(mu_);
    if (command == fail_on_) return Error(Code::kIo, "disk broke while applying " + std::string(command));
    if (index <= applied_index_) {
      replays_skipped_++;
      return std::string("skipped");
    }
    entries_.push_back(Entry{index, std::string(command)});
    applied_index_ = index;
    return "ok:" + std::to_string(index);
  }
  uint64_t AppliedIndex() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return applied_index_;
  }
  Result<std::string> TakeSnapshot() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_snapshots_) return Error(Code::kIo, "no space left for the checkpoint");
    snapshots_++;
    snapshot_thread_ = std::this_thread::get_id();
    std::string out = std::to_string(applied_index_) + "\n";
    for (const Entry& e : entries_) {
      out += std::to_string(e.index) + " " + std::to_string(e.command.size()) + " " + e.command;
    }
    return out;
  }
  Status RestoreSnapshot(std::string_view s) override {
    std::lock_guard<std::mutex> lock(mu_);
    restores_++;
    std::vector<Entry> entries;
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos) return Error(Code::kInvalid, "bad snapshot");
    uint64_t applied = std::stoull(std::string(s.substr(0, nl)));
    s.remove_prefix(nl + 1);
    while (!s.empty()) {
      size_t a = s.find(' ');
      size_t b = s.find(' ', a + 1);
      uint64_t index = std::stoull(std::string(s.substr(0, a)));
      size_t len = std::stoull(std::string(s.substr(a + 1, b - a - 1)));
      entries.push_back(Entry{index, std::string(s.substr(b + 1, len))});
      s.remove_prefix(b + 1 + len);
    }
    entries_ = std::move(entries);
    applied_index_ = applied;
    return Ok();
  }
  bool SnapshotsConcurrentWithApply() const override { return concurrent_snapshots_; }
  bool StateIsDurable() const override { return durable_; }
  Status MakeDurable() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_snapshots_) return Error(Code::kIo, "fsync failed");
    durable_syncs_++;
    durable_index_ = applied_index_;
    return Ok();
  }
  // A crash of a durable state machine: what MakeDurable did not cover is lost.
  void CrashToDurable() {
    std::lock_guard<std::mutex> lock(mu_);
    while (!entries_.empty() && entries_.back().index > durable_index_) entries_.pop_back();
    applied_index_ = durable_index_;
  }
  int durable_syncs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return durable_syncs_;
  }

  std::vector<Entry> Entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  std::vector<std::string> Commands() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const Entry& e : entries_) out.push_back(e.command);
    return out;
  }
  bool Contains(const std::string& cmd) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Entry& e : entries_) {
      if (e.command == cmd) return true;
    }
    return false;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }
  int restores() const {
    std::lock_guard<std::mutex> lock(mu_);
    return restores_;
  }
  int snapshots() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshots_;
  }
  int replays_skipped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return replays_skipped_;
  }
  bool snapshot_ran_on_apply_thread() const {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshot_thread_ == apply_thread_;
  }
  void set_on_apply(std::function<void(std::string_view)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    on_apply_ = std::move(hook);
  }
  void set_fail_snapshots(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_snapshots_ = fail;
  }
  void set_fail_on(std::string cmd) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_on_ = std::move(cmd);
  }

 private:
  const bool concurrent_snapshots_;
  const bool durable_;
  mutable std::mutex mu_;
  int durable_syncs_ = 0;
  uint64_t durable_index_ = 0;  // applied_index_ at the last MakeDurable
  std::vector<Entry> entries_;
  uint64_t applied_index_ = 0;
  int snapshots_ = 0;
  int restores_ = 0;
  int replays_skipped_ = 0;
  std::thread::id apply_thread_;
  std::thread::id snapshot_thread_;
  std::function<void(std::string_view)> on_apply_;
  std::string fail_on_ = "\x01never";
  bool fail_snapshots_ = false;
};

// A set of members on loopback. Each keeps its folder and its MemoryFsm (the
// "durable" state) across Stop/Start unless the test wipes them.
class Cluster {
 public:
  struct Node {
    uint64_t id = 0;
    std::string address;
    fs::path dir;
    std::unique_ptr<MemoryFsm> fsm;
    std::unique_ptr<Replicator> rep;
  };

  // `members` nodes; the first `voters` of them are the bootstrap
  // configuration (the others can join later).
  explicit Cluster(int members, int voters = -1, std::function<void(ReplicatorOptions&)> tweak = nullptr,
                   bool concurrent_snapshots = false, bool durable_state = false)
      : tweak_(std::move(tweak)), concurrent_snapshots_(concurrent_snapshots), durable_state_(durable_state) {
    if (voters < 0) voters = members;
    for (int i = 0; i < members; i++) {
      Node n;
      n.id = static_cast<uint64_t>(i + 1);
      n.address = "127.0.0.1:" + std::to_string(FreePort());
      n.dir = fs::path(tmp_.path()) / ("member-" + std::to_string(n.id));
      n.fsm = std::make_unique<MemoryFsm>(concurrent_snapshots_, durable_state_);
      nodes_.push_back(std::move(n));
    }
    for (int i = 0; i < voters; i++) bootstrap_.push_back(Member{nodes_[i].id, nodes_[i].address, true});
  }
  ~Cluster() {
    for (Node& n : nodes_) {
      if (n.rep) n.rep->Stop();
    }
  }

  ReplicatorOptions Options(int i, bool join) const {
    ReplicatorOptions o;
    o.id = nodes_[i].id;
    o.address = nodes_[i].address;
    o.dir = nodes_[i].dir.string();
    o.bootstrap = join ? std::vector<Member>{} : bootstrap_;
    o.join = join;
    // Short enough for quick failovers, long enough that a loaded machine
    // (parallel builds and tests) does not depose leaders mid-test.
    o.election_timeout = 500ms;
    o.heartbeat_timeout = 50ms;
    // A follower busy with its own snapshot drops the leader's (libraft
    // 0.15); the leader resends after this.
    o.install_snapshot_timeout = 1s;
    if (tweak_) tweak_(o);
    return o;
  }

  Status Start(int i, bool join = false) {
    auto r = Replicator::Start(Options(i, join), nodes_[i].fsm.get());
    if (!r) return r.error();
    nodes_[i].rep = std::move(*r);
    return Ok();
  }
  void StartAll() {
    for (size_t i = 0; i < bootstrap_.size(); i++) {
      Status st = Start(static_cast<int>(i));
      ASSERT_TRUE(st.ok()) << st.error().message();
    }
  }
  void Stop(int i) {
    nodes_[i].rep->Stop();
    nodes_[i].rep.reset();
  }
  // Gives member i an empty state machine (its Raft folder stays).
  void ResetStateMachine(int i) { nodes_[i].fsm = std::make_unique<MemoryFsm>(concurrent_snapshots_, durable_state_); }
  // Loses everything member i had: its folder and its state machine.
  void Wipe(int i) {
    fs::remove_all(nodes_[i].dir);
    nodes_[i].fsm = std::make_unique<MemoryFsm>(concurrent_snapshots_, durable_state_);
  }

  // Waits until one running member is leader and every running member
  // names it; returns its index or -1.
  int WaitForLeader(std::chrono::milliseconds timeout = 5s) {
    int found = -1;
    WaitFor(
        [&] {
          found = -1;
          for (size_t i = 0; i < nodes_.size(); i++) {
            if (nodes_[i].rep && nodes_[i].rep->IsLeader()) found = static_cast<int>(i);
          }
          if (found < 0) return false;
          for (const Node& n : nodes_) {
            if (!n.rep) continue;
            auto l = n.rep->Leader();
            if (!l || l->id != nodes_[found].id) return false;
          }
          return true;
        },
        timeout);
    return found;
  }

  Node& operator[](int i) { return nodes_[i]; }
  Replicator& rep(int i) { return *nodes_[i].rep; }
  MemoryFsm& fsm(int i) { return *nodes_[i].fsm; }
  int size() const { return static_cast<int>(nodes_.size()); }

 private:
  TempDir tmp_;  // first member: removed last, after every member stopped
  std::function<void(ReplicatorOptions&)> tweak_;
  bool concurrent_snapshots_;
  bool durable_state_;
  std::vector<Member> bootstrap_;
  std::vector<Node> nodes_;
};

// The index of the latest snapshot libraft has finished writing in `dir`
// ("snapshot-TERM-INDEX-TIMESTAMP.meta", written after the data), or 0.
inline uint64_t LatestSnapshotOnDisk(const fs::path& dir) {
  uint64_t latest = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    unsigned long long term = 0, index = 0, stamp = 0;
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".meta") == 0 &&
        std::sscanf(name.c_str(), "snapshot-%llu-%llu-%llu.meta", &term, &index, &stamp) == 3) {
      latest = std::max<uint64_t>(latest, index);
    }
  }
  return latest;
}

inline internal::ReplicatorImpl& Impl(Replicator& r) {
  return static_cast<internal::ReplicatorImpl&>(r);
}

// One ReplicatedService (a real replicator over the RocksDB store), a
// member of its own that leads; Open() again after a reset restarts it on
// the same data and address (the Raft configuration holds the address).
class SingleMemberService : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    ReplicatedServiceOptions o;
    o.data_dir = tmp_.path() + "/data";
    o.raft.id = 1;
    if (address_.empty()) address_ = "127.0.0.1:" + std::to_string(FreePort());
    o.raft.address = address_;
    o.raft.bootstrap = {Member{1, address_, true}};
    o.raft.election_timeout = 500ms;
    o.raft.heartbeat_timeout = 50ms;
    o.api_url = "http://127.0.0.1:1";
    auto s = ReplicatedService::Start(o);
    ASSERT_TRUE(s.ok()) << s.error().message();
    svc_ = std::move(*s);
    ASSERT_TRUE(WaitFor([&] { return svc_->IsLeader(); }, 10s));
  }
  internal::ReplicatorImpl& impl() { return Impl(svc_->replicator()); }

  TempDir tmp_;
  std::string address_;
  std::unique_ptr<ReplicatedService> svc_;
};

}  // namespace bosun::state::replicator_test
