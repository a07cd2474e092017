// reconciler/informer.h — a cache of live objects fed by watches
// (controller-runtime's informer): one state::Client::Watch per kind, all with
// one label selector, each started from "" so its first events are the whole
// set. The sync controller keeps the objects bosun manages here, so a sync
// reads them from memory instead of listing 10,000 objects per commit.
//
// Writes the owner makes itself (a batch's result, a heal) are put in with
// Store / Forget; a watch event for the same object at the same
// resourceVersion then changes nothing and is not reported. Every other
// change that reaches the cache (another writer's update, a delete, a label
// removed so the object left the selector) is reported to `on_change` with
// the object's key, on the watch's thread, after the cache was updated.
// Events older than what the cache holds are dropped, so a late event never
// undoes a newer write; deletions leave a tombstone for that purpose.
//
// Keys are StoreKey(kind, namespace, name) (core/kinds.h).
//
// Thread-safety: every method may be called from any thread. on_change must
// not call Stop.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/kinds.h"
#include "core/object.h"
#include "core/result.h"
#include "core/selector.h"
#include "state/client.h"

namespace bosun::reconciler {

class Informer {
 public:
  using OnChange = std::function<void(const std::string& key)>;

  // `client` outlives the informer.
  Informer(state::Client* client, std::vector<const KindInfo*> kinds, std::string label_selector, OnChange on_change);
  ~Informer();  // Stop()
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Starts the watches that are not running yet and waits until every one
  // has delivered its initial set. Fails (watches already started keep
  // running; call again) when a watch cannot start, when `timeout` passes,
  // or when *stop becomes true (kUnavailable "stopped").
  Status Start(std::chrono::milliseconds timeout, const std::atomic<bool>* stop);
  // Ends every watch; returns when no on_change call is running.
  void Stop();
  bool synced() const;

  // The cached object (nullopt when absent or deleted).
  std::optional<Object> Get(const std::string& key) const;
  // Calls fn for every cached object, under the cache's lock (fn must not
  // call the informer).
  void ForEach(const std::function<void(const std::string& key, const KindInfo& kind, const Object&)>& fn) const;
  size_t size() const;

  // Puts an object the owner wrote (as the API returned it), unless the
  // cache already holds a later version. Objects that do not match the
  // selector are forgotten instead (they are no longer in the watched set).
  void Store(const KindInfo& kind, const Object& object);
  void Store(const KindInfo& kind, Object&& object);
  // Records that the object is gone as of `resource_version` ("" = now:
  // any event newer than the cached version brings it back).
  void Forget(const KindInfo& kind, const std::string& ns, const std::string& name,
              const std::string& resource_version);

  static std::string Key(const KindInfo& kind, const std::string& ns, const std::string& name);
  static std::string KeyOf(const KindInfo& kind, const Object& object);

 private:
  struct Entry {
    const KindInfo* kind = nullptr;
    int64_t rv = 0;
    std::optional<Object> object;  // nullopt: a tombstone
  };
  void OnEvent(const KindInfo& kind, const state::WatchEvent& ev);
  bool Selected(const Object& object) const;

  state::Client* client_;
  const std::vector<const KindInfo*> kinds_;
  const std::string selector_;
  Selector parsed_selector_;
  OnChange on_change_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> cache_;        // guarded by mu_
  std::map<const KindInfo*, bool> synced_;              // guarded by mu_: initial set delivered
  std::map<const KindInfo*, state::WatchPtr> watches_;  // guarded by start_mu_
  std::mutex start_mu_;
};

}  // namespace bosun::reconciler
