// Helpers shared by the store's tests: temporary directories, transaction
// builders, readable renderings of values and a watch collector.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>

#include "state/store.h"
#include "tests/test_support.h"

namespace bosun::state::testing {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempDir : public bosun::test::TempDir {
 public:
  TempDir() : bosun::test::TempDir("bosun-store-test") {}
};

inline StoreOptions Fast() {
  StoreOptions o;
  o.sync = false;  // the tests that need durability say so
  return o;
}

inline std::unique_ptr<Store> OpenOrDie(const std::string& dir, const StoreOptions& options = Fast()) {
  auto s = Store::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.error().message();
  return s.ok() ? std::move(*s) : nullptr;
}

inline Op PutOp(std::string key, std::string value) {
  return Op{Op::Kind::kPut, std::move(key), std::move(value)};
}
inline Op DelOp(std::string key) {
  return Op{Op::Kind::kDelete, std::move(key), ""};
}
inline Txn Put(std::string key, std::string value) {
  return Txn{{}, {PutOp(std::move(key), std::move(value))}};
}
inline Txn Del(std::string key) {
  return Txn{{}, {DelOp(std::move(key))}};
}

// Applies and expects success; returns the result.
inline TxnResult Must(Store& store, const Txn& txn, uint64_t raft_index = 0) {
  auto r = store.Apply(txn, raft_index);
  EXPECT_TRUE(r.ok()) << r.error().message();
  if (!r.ok()) return TxnResult{};
  EXPECT_TRUE(r->succeeded) << "precondition failed on " << r->failed_key;
  return std::move(*r);
}

inline std::string Str(const KeyValue& kv) {
  return kv.key + "=" + kv.value + " c" + std::to_string(kv.create_revision) + " m" + std::to_string(kv.mod_revision) +
         " v" + std::to_string(kv.version);
}
inline std::string Str(const std::optional<KeyValue>& kv) {
  return kv ? Str(*kv) : "(none)";
}
inline std::string Str(const Result<KeyValue>& kv) {
  return kv.ok() ? Str(*kv) : std::string("error ") + CodeName(kv.error().code());
}
inline std::string Str(const Event& e) {
  return std::string(e.type == Event::Type::kPut ? "PUT " : "DEL ") + Str(e.kv) + " prev " + Str(e.prev);
}
inline std::vector<std::string> Keys(const RangeResult& r) {
  std::vector<std::string> out;
  for (const KeyValue& kv : r.kvs) out.push_back(kv.key);
  return out;
}

// Collects what a watch delivers, for a test thread to wait on.
class Collector {
 public:
  WatchCallback Callback() {
    return [this](Result<std::vector<Event>> batch) {
      std::lock_guard l(mu_);
      if (!batch.ok()) {
        if (error_) ADD_FAILURE() << "a second error after " << error_->message();
        error_ = batch.error();
      } else {
        if (error_) ADD_FAILURE() << "events after the error " << error_->message();
        if (batch->empty()) ADD_FAILURE() << "an empty batch";
        ++batches_;
        for (Event& e : *batch) events_.push_back(std::move(e));
      }
      cv_.notify_all();
    };
  }
  // Waits until an event at `revision` or later arrived, or an error; false on timeout.
  bool WaitForRevision(int64_t revision, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] {
      return error_.has_value() || (!events_.empty() && events_.back().kv.mod_revision >= revision);
    });
  }
  bool WaitForError(std::chrono::seconds timeout = std::chrono::seconds(10)) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, timeout, [&] { return error_.has_value(); });
  }
  std::vector<Event> events() {
    std::lock_guard l(mu_);
    return events_;
  }
  std::optional<Error> error() {
    std::lock_guard l(mu_);
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
  std::optional<Error> error_;
  int batches_ = 0;
};

}  // namespace bosun::state::testing
