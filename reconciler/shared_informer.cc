#include "reconciler/shared_informer.h"

#include <algorithm>

#include "core/log.h"

namespace bosun::reconciler {
namespace {

int64_t ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 18) return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::string OwnerUid(const Object* o) {
  if (o == nullptr) return "";
  auto ref = o->controller_ref();
  return ref ? ref->uid : "";
}

}  // namespace

std::string ObjectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string ObjectKey(const Object& object) {
  return ObjectKey(object.namespace_(), object.name());
}

std::pair<std::string, std::string> SplitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

SharedInformer::SharedInformer(state::Client* client, const KindInfo& kind, state::Selectors selectors)
    : client_(client), kind_(kind), selectors_(std::move(selectors)) {}

SharedInformer::~SharedInformer() {
  Stop();
}

void SharedInformer::AddHandler(Handler handler) {
  handlers_.push_back(std::move(handler));
}

Status SharedInformer::Start(std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  {
    std::lock_guard<std::mutex> start_lock(start_mu_);
    if (!watch_) {
      if (client_ == nullptr) return Error(Code::kInvalid, "informer of " + kind_.QualifiedResource() + " has no client");
      auto w = client_->Watch(kind_, "", selectors_, "", [this](const state::WatchEvent& ev) { OnEvent(ev); });
      if (!w) return w.error().Wrap("cannot watch " + kind_.QualifiedResource());
      watch_ = std::move(*w);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (!synced_) {
    if (stop != nullptr && stop->load()) return Error(Code::kUnavailable, "stopped");
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(Code::kTimeout, "the watch of " + kind_.QualifiedResource() + " did not deliver its objects in time");
    }
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
  return Ok();
}

void SharedInformer::Stop() {
  state::WatchPtr w;
  {
    std::lock_guard<std::mutex> start_lock(start_mu_);
    w = std::move(watch_);
  }
  if (w) w->Stop();  // outside mu_: it waits for a callback in progress
}

bool SharedInformer::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

void SharedInformer::IndexLocked(const std::string& key, const ObjectPtr& old, const ObjectPtr& cur) {
  std::string old_owner = OwnerUid(old.get());
  std::string new_owner = OwnerUid(cur.get());
  if (!old_owner.empty() && old_owner != new_owner) {
    auto it = by_owner_.find(old_owner);
    if (it != by_owner_.end()) {
      it->second.erase(key);
      if (it->second.empty()) by_owner_.erase(it);
    }
  }
  if (!new_owner.empty()) by_owner_[new_owner][key] = cur;
}

bool SharedInformer::Apply(const std::string& key, int64_t rv, ObjectPtr cur, bool strictly_newer, ObjectPtr* old) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it != cache_.end() && rv != 0) {
    // The same version again (our own write that the watch already brought,
    // or the other way round) is no change: handlers hear of it once.
    (void)strictly_newer;
    if (it->second.rv >= rv) return false;
  }
  Entry& e = cache_[key];
  *old = e.object;
  if (rv != 0 || cur == nullptr) e.rv = std::max(e.rv, rv);
  e.object = cur;
  IndexLocked(key, *old, cur);
  return *old != nullptr || cur != nullptr;
}

void SharedInformer::Notify(const ObjectPtr& old, const ObjectPtr& cur) {
  for (const auto& h : handlers_) h(old.get(), cur.get());
}

void SharedInformer::OnEvent(const state::WatchEvent& ev) {
  const int64_t rv = ParseRv(ev.object.resource_version());
  if (ev.type == state::WatchEvent::Type::kBookmark) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ev.complete_through) seen_through_ = std::max(seen_through_, rv);
    if (ev.object.annotation(state::kInitialEventsEndAnnotation).value_or("") == "true") {
      synced_ = true;
      cv_.notify_all();
    }
    return;
  }
  const std::string key = ObjectKey(ev.object);
  ObjectPtr cur;
  if (ev.type != state::WatchEvent::Type::kDeleted) cur = std::make_shared<const Object>(ev.object);
  ObjectPtr old;
  const bool changed = Apply(key, rv, cur, /*strictly_newer=*/true, &old);
  if (ev.complete_through) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_through_ = std::max(seen_through_, rv);
  }
  if (changed) Notify(old, cur);
}

void SharedInformer::Resync() {
  std::vector<ObjectPtr> all = List();
  for (const auto& o : all) Notify(o, o);
}

ObjectPtr SharedInformer::Get(const std::string& ns, const std::string& name) const {
  return GetByKey(ObjectKey(kind_.namespaced ? ns : "", name));
}

ObjectPtr SharedInformer::GetByKey(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second.object;
}

std::vector<ObjectPtr> SharedInformer::List(const std::string& ns, const Selector* selector) const {
  std::vector<ObjectPtr> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : cache_) {
    if (!e.object) continue;
    if (!ns.empty() && e.object->namespace_() != ns) continue;
    if (selector != nullptr && !selector->Matches(e.object->labels())) continue;
    out.push_back(e.object);
  }
  return out;
}

std::vector<ObjectPtr> SharedInformer::ListOwnedBy(const std::string& owner_uid) const {
  std::vector<ObjectPtr> out;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_owner_.find(owner_uid);
  if (it == by_owner_.end()) return out;
  out.reserve(it->second.size());
  for (const auto& [key, o] : it->second) out.push_back(o);
  return out;
}

size_t SharedInformer::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, e] : cache_) n += e.object ? 1 : 0;
  return n;
}

int64_t SharedInformer::ResourceVersionOf(const std::string& ns, const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(ObjectKey(kind_.namespaced ? ns : "", name));
  return it == cache_.end() ? 0 : it->second.rv;
}

int64_t SharedInformer::SeenThrough() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_through_;
}

void SharedInformer::Store(const Object& object) {
  auto cur = std::make_shared<const Object>(object);
  ObjectPtr old;
  if (Apply(ObjectKey(object), ParseRv(object.resource_version()), cur, /*strictly_newer=*/false, &old)) {
    Notify(old, cur);
  }
}

void SharedInformer::Forget(const std::string& ns, const std::string& name, const std::string& resource_version) {
  ObjectPtr old;
  if (Apply(ObjectKey(kind_.namespaced ? ns : "", name), ParseRv(resource_version), nullptr, false, &old) && old) {
    Notify(old, nullptr);
  }
}

void SharedInformer::Seed(const std::vector<Object>& objects) {
  for (const auto& o : objects) Store(o);
  std::lock_guard<std::mutex> lock(mu_);
  synced_ = true;
  cv_.notify_all();
}

}  // namespace bosun::reconciler
