// reconciler/shared_informer.h — one kind's objects in memory, shared by
// every controller of a ControllerManager (client-go's SharedIndexInformer):
// a list + watch into a cache, handlers told of each change, a resync that
// tells them of every object again, and a lister over the cache.
//
// Handlers get (old, cur): old is null for an object new to the cache, cur
// is null for one that left it. They run on the watch's thread (or on the
// thread of a Store / Forget call) after the cache was updated, never under
// the cache's lock, and must be quick: controllers only enqueue keys there.
//
// Read-your-writes: a controller that wrote an object puts the API's answer
// in with Store (or Forget after a delete), so its next reconcile sees it
// even before the watch brings it; every handler hears of that change once,
// and the watch event of the same resourceVersion is then dropped. Events
// older than what the cache holds are dropped too (deletes leave a
// tombstone), so a late event never undoes a newer write.
//
// Objects are shared, immutable snapshots (ObjectPtr): copy one to change it.
//
// Thread-safety: every method may be called from any thread; AddHandler
// only before Start.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/kinds.h"
#include "core/selector.h"
#include "core/object.h"
#include "core/result.h"
#include "state/client.h"

namespace bosun::reconciler {

using ObjectPtr = std::shared_ptr<const Object>;

// "namespace/name" for namespaced kinds, "name" otherwise: the work-queue key.
std::string ObjectKey(const Object& object);
std::string ObjectKey(const std::string& ns, const std::string& name);
// The reverse: {"", name} for a key without '/'.
std::pair<std::string, std::string> SplitKey(const std::string& key);

class SharedInformer {
 public:
  using Handler = std::function<void(const Object* old_object, const Object* new_object)>;

  // `client` outlives the informer. `selectors` narrow the watched set.
  SharedInformer(state::Client* client, const KindInfo& kind, state::Selectors selectors = {});
  ~SharedInformer();  // Stop()
  SharedInformer(const SharedInformer&) = delete;
  SharedInformer& operator=(const SharedInformer&) = delete;

  const KindInfo& kind() const { return kind_; }
  void AddHandler(Handler handler);

  // Starts the watch (if not running) and waits for its initial set: kTimeout
  // after `timeout`, kUnavailable "stopped" once *stop is true.
  Status Start(std::chrono::milliseconds timeout, const std::atomic<bool>* stop = nullptr);
  void Stop();
  bool synced() const;

  // Calls every handler with (cur, cur) for every cached object.
  void Resync();

  ObjectPtr Get(const std::string& ns, const std::string& name) const;
  ObjectPtr GetByKey(const std::string& key) const;
  // Objects of a namespace ("" = all), optionally only those whose labels
  // match `selector`.
  std::vector<ObjectPtr> List(const std::string& ns = "", const Selector* selector = nullptr) const;
  // Objects whose controller ownerReference has this uid.
  std::vector<ObjectPtr> ListOwnedBy(const std::string& owner_uid) const;
  size_t size() const;
  // The store revision of what the cache holds for this object: its
  // resourceVersion, or the delete's revision for one that left it (a
  // tombstone); 0 when the cache has never had it.
  int64_t ResourceVersionOf(const std::string& ns, const std::string& name) const;
  // Every change up to this store revision has reached the cache through the
  // watch (its list, events and bookmarks; not Store's own writes): an object
  // written at or before it and absent now was deleted since.
  int64_t SeenThrough() const;

  void Store(const Object& object);
  void Forget(const std::string& ns, const std::string& name, const std::string& resource_version = "");

  // For tests and the scheduler bench: put objects in without any API.
  // Equivalent to Store for each, and marks the informer synced.
  void Seed(const std::vector<Object>& objects);

 private:
  struct Entry {
    int64_t rv = 0;
    ObjectPtr object;  // null: a tombstone
  };
  void OnEvent(const state::WatchEvent& ev);
  // Applies a change; returns the previous object when the cache changed.
  bool Apply(const std::string& key, int64_t rv, ObjectPtr cur, bool strictly_newer, ObjectPtr* old);
  void Notify(const ObjectPtr& old, const ObjectPtr& cur);
  void IndexLocked(const std::string& key, const ObjectPtr& old, const ObjectPtr& cur);

  state::Client* client_;
  const KindInfo& kind_;
  const state::Selectors selectors_;
  std::vector<Handler> handlers_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> cache_;  // guarded by mu_
  std::unordered_map<std::string, std::unordered_map<std::string, ObjectPtr>> by_owner_;  // guarded by mu_
  bool synced_ = false;                                                                   // guarded by mu_
  int64_t seen_through_ = 0;                                                              // guarded by mu_
  std::mutex start_mu_;
  state::WatchPtr watch_;  // guarded by start_mu_
};

}  // namespace bosun::reconciler
