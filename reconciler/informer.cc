#include "reconciler/informer.h"

#include <cstdlib>

#include "core/log.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kComponent = "informer";

int64_t ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 18) return 0;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Informer::Informer(state::Client* client, std::vector<const KindInfo*> kinds, std::string label_selector,
                   OnChange on_change)
    : client_(client),
      kinds_(std::move(kinds)),
      selector_(std::move(label_selector)),
      parsed_selector_(Selector::Parse(selector_).value_or(Selector::Nothing())),
      on_change_(std::move(on_change)) {}

Informer::~Informer() {
  Stop();
}

std::string Informer::Key(const KindInfo& kind, const std::string& ns, const std::string& name) {
  return StoreKey(kind, kind.namespaced ? ns : "", name);
}

std::string Informer::KeyOf(const KindInfo& kind, const Object& object) {
  return Key(kind, kind.NamespaceOf(object.namespace_()), object.name());
}

bool Informer::Selected(const Object& object) const {
  return parsed_selector_.Matches(object.labels());
}

Status Informer::Start(std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  {
    std::lock_guard<std::mutex> start_lock(start_mu_);
    for (const KindInfo* kind : kinds_) {
      if (watches_.count(kind) > 0) continue;
      if (stop != nullptr && stop->load()) return Error(Code::kUnavailable, "stopped");
      auto w =
          client_->Watch(*kind, "", selector_, "", [this, kind](const state::WatchEvent& ev) { OnEvent(*kind, ev); });
      if (!w) return w.error().Wrap("cannot watch " + kind->QualifiedResource());
      watches_[kind] = std::move(*w);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    size_t done = 0;
    for (const KindInfo* kind : kinds_) done += synced_[kind] ? 1 : 0;
    if (done == kinds_.size()) return Ok();
    if (stop != nullptr && stop->load()) return Error(Code::kUnavailable, "stopped");
    if (std::chrono::steady_clock::now() >= deadline) {
      return Error(Code::kTimeout, "the watches of managed objects did not deliver their initial objects in time (" +
                                       std::to_string(done) + " of " + std::to_string(kinds_.size()) + " kinds)");
    }
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

void Informer::Stop() {
  std::map<const KindInfo*, state::WatchPtr> watches;
  {
    std::lock_guard<std::mutex> start_lock(start_mu_);
    watches.swap(watches_);
  }
  // Outside every lock: Watch::Stop waits for a callback in progress, which
  // takes mu_.
  for (auto& [kind, w] : watches) w->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  synced_.clear();
}

bool Informer::synced() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const KindInfo* kind : kinds_) {
    auto it = synced_.find(kind);
    if (it == synced_.end() || !it->second) return false;
  }
  return true;
}

void Informer::OnEvent(const KindInfo& kind, const state::WatchEvent& ev) {
  if (ev.type == state::WatchEvent::Type::kBookmark) {
    if (ev.object.annotation(state::kInitialEventsEndAnnotation).value_or("") == "true") {
      std::lock_guard<std::mutex> lock(mu_);
      synced_[&kind] = true;
      cv_.notify_all();
    }
    return;
  }
  const std::string key = KeyOf(kind, ev.object);
  const int64_t rv = ParseRv(ev.object.resource_version());
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.rv >= rv && rv != 0) return;  // not newer than what we hold
    Entry& e = cache_[key];
    e.kind = &kind;
    e.rv = rv;
    if (ev.type == state::WatchEvent::Type::kDeleted) {
      e.object.reset();
    } else {
      e.object = ev.object;
    }
  }
  if (on_change_) on_change_(key);
}

std::optional<Object> Informer::Get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  return it->second.object;
}

void Informer::ForEach(
    const std::function<void(const std::string& key, const KindInfo& kind, const Object&)>& fn) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, e] : cache_) {
    if (e.object) fn(key, *e.kind, *e.object);
  }
}

size_t Informer::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, e] : cache_) n += e.object ? 1 : 0;
  return n;
}

void Informer::Store(const KindInfo& kind, const Object& object) { Store(kind, Object(object)); }

void Informer::Store(const KindInfo& kind, Object&& object) {
  const std::string key = KeyOf(kind, object);
  const int64_t rv = ParseRv(object.resource_version());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it != cache_.end() && it->second.rv > rv) return;
  Entry& e = cache_[key];
  e.kind = &kind;
  e.rv = rv;
  if (Selected(object)) {
    e.object = std::move(object);
  } else {
    e.object.reset();
  }
}

void Informer::Forget(const KindInfo& kind, const std::string& ns, const std::string& name,
                      const std::string& resource_version) {
  std::string n = ns;
  if (kind.namespaced && n.empty()) n = "default";
  const std::string key = Key(kind, n, name);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  int64_t rv = ParseRv(resource_version);
  if (it != cache_.end()) {
    if (rv != 0 && it->second.rv > rv) return;
    if (rv == 0) rv = it->second.rv;
  }
  Entry& e = cache_[key];
  e.kind = &kind;
  e.rv = rv;
  e.object.reset();
}

}  // namespace bosun::reconciler
