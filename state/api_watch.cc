// Watch streams (docs/API.md "Watch"): a 200 response whose body is a
// producer/consumer buffer that cpprestsdk sends as chunks while we write one
// JSON event per line into it. The store's watch callback converts and
// writes; a timer thread sends BOOKMARKs, ends watches at their timeout and
// releases the store watches of streams that ended.
//
// How a stream ends:
//  * timeoutSeconds (or the server's default) passes — the timer closes it;
//  * the store reports an error: compaction gives an ERROR 410 event first;
//  * the client goes away — cpprestsdk notices when it next writes (an event
//    or a bookmark), fails the reply task, and we close it;
//  * Stop() closes every stream.
// Closing the buffer makes cpprestsdk send the last chunk. The store watch
// handle is destroyed on the timer thread, never on the store's notifier
// thread (a handle must not be destroyed from its own callback).
//
// Every stream gets its own copy of the store's events, but the decoded
// objects are shared (Core::DecodeForWatch, WatchValues): each stored value
// is decoded once however many streams send it, and its JSON is rendered
// once for every stream that sends it unchanged (not redacted, not a
// deletion). A line is {"object":…,"revisionContinues":true,"type":…}, the
// members in the order Dump writes them.

#include "core/log.h"
#include "core/selector.h"
#include "state/api_internal.h"
#include "state/secret_redaction.h"

namespace bosun::state::api_internal {
namespace {

constexpr const char* kComponent = "api";
// A client that reads slower than events arrive is cut off when this much is
// waiting for it (it re-lists or re-watches), rather than growing the server
// without bound.
constexpr size_t kMaxBuffered = 16u << 20;
constexpr auto kTick = std::chrono::milliseconds(100);

// The labels of an object, read without copying it (Object would).
Labels LabelsOf(const Json& object) { return Object::Map(Object::Field(object, "metadata"), "labels"); }

// "/registry/<g>/<resource>/<ns>/<name>" or ".../<name>" → namespace, name.
void NamesFromKey(const KindInfo& kind, const std::string& key, std::string* ns, std::string* name) {
  std::vector<std::string> parts = SplitPath(key);
  if (!parts.empty()) *name = parts.back();
  if (kind.namespaced && parts.size() >= 2) *ns = parts[parts.size() - 2];
}

}  // namespace

const std::string& WatchValues::Value::Rendered() const {
  std::call_once(once_, [this] { rendered_ = Dump(object_); });
  return rendered_;
}

void WatchValues::PopOldest() {
  by_key_.erase(order_.front().id);
  bytes_ -= order_.front().bytes;
  order_.pop_front();
}

void WatchValues::Expire(MonoTime now) {
  std::lock_guard l(mu_);
  while (!order_.empty() && order_.front().at + kIdle <= now) PopOldest();
}

std::shared_ptr<const WatchValues::Value> WatchValues::Get(const KeyValue& kv, MonoTime now,
                                                          const std::function<Result<Json>()>& decode) {
  std::string id = kv.key;
  id += '@';
  id += std::to_string(kv.mod_revision);
  {
    std::lock_guard l(mu_);
    if (auto it = by_key_.find(id); it != by_key_.end()) return it->second;
  }
  // Decoded outside the lock (the notifier thread is the only caller today,
  // but nothing needs it to be).
  auto obj = decode();
  if (!obj) return nullptr;
  auto value = std::make_shared<const Value>(std::move(*obj));
  std::lock_guard l(mu_);
  auto [it, added] = by_key_.emplace(id, value);
  if (!added) return it->second;
  order_.push_back(Added{std::move(id), kv.value.size(), now});
  bytes_ += kv.value.size();
  while (order_.size() > 1 && (order_.size() > kMaxEntries || bytes_ > kMaxStoredBytes)) PopOldest();
  return value;
}

std::shared_ptr<const WatchValues::Value> Core::DecodeForWatch(const KindInfo& kind, const KeyValue& kv) {
  return watch_values_.Get(kv, clock().Monotonic(), [&] { return DecodeKv(kind, kv); });
}

class WatchStream {
 public:
  WatchStream(Core* core, Target t, Selector selector, FieldSelector fields, std::string path, std::string user,
              MonoTime now, std::chrono::seconds timeout)
      : core_(core),
        t_(std::move(t)),
        selector_(std::move(selector)),
        fields_(std::move(fields)),
        path_(std::move(path)),
        user_(std::move(user)),
        started_(now),
        deadline_(now + timeout),
        next_bookmark_(now + core->options().bookmark_interval) {}

  // The answer's stream: what was written before it existed goes first; a
  // watch that ended before it existed ends it.
  void Attach(std::shared_ptr<HttpStream> out) {
    std::lock_guard l(mu_);
    out_ = std::move(out);
    if (!pending_.empty()) out_->Write(pending_);
    pending_.clear();
    if (done_) out_->End();
  }

  void set_last_revision(int64_t r) {
    std::lock_guard l(mu_);
    last_rev_ = r;
  }

  // Secret values are replaced in every event (a user who may not read them).
  void set_secret_access(SecretAccess access) {
    std::lock_guard l(mu_);
    secret_access_ = access;
  }

  void set_handle(std::unique_ptr<WatchHandle> h) {
    std::lock_guard l(mu_);
    handle_ = std::move(h);
  }

  // Writes pre-rendered lines (the initial ADDED events).
  void WriteLines(const std::string& lines) {
    std::lock_guard l(mu_);
    WriteLocked(lines);
  }

  // The store's callback: converts a batch into lines, or ends the stream.
  void OnBatch(Result<std::vector<Event>> batch) {
    std::lock_guard l(mu_);
    if (done_) return;
    if (!batch) {
      const Error& e = batch.error();
      if (e.code() == Code::kCompacted) {
        ApiError err = Expired("too old resource version: " + std::to_string(last_rev_) + " (" + e.message() + ")");
        WriteLocked(Dump({{"type", "ERROR"}, {"object", err.ToJson()}}) + "\n");
      } else if (e.code() != Code::kUnavailable) {
        WriteLocked(Dump({{"type", "ERROR"}, {"object", Internal("the watch failed").ToJson()}}) + "\n");
        log::Warn(kComponent, "watch failed", {{"path", path_}, {"error", e.message()}});
      }
      // kUnavailable (the store was restored or closed): end quietly; the
      // client re-watches from its last resourceVersion.
      return EndLocked(CodeName(e.code()));
    }
    // The store hands over whole revisions, and the lines of one callback
    // are written at once under mu_, so a BOOKMARK (Tick, also under mu_)
    // never falls between two events of one revision. The network can still
    // cut a stream there: every event followed by another of its revision
    // says so ("revisionContinues"), so a client that lost the rest resumes
    // from the revision before (docs/API.md "Watch").
    std::vector<Line> events;
    events.reserve(batch->size());
    size_t bytes = 0;
    for (const Event& ev : *batch) {
      last_rev_ = ev.kv.mod_revision;
      if (auto e = MakeEvent(ev)) {
        bytes += ev.kv.value.size() + 64;
        events.push_back(std::move(*e));
      }
    }
    std::string lines;
    lines.reserve(bytes + bytes / 4);
    for (size_t i = 0; i < events.size(); ++i) {
      const bool continues = i + 1 < events.size() && events[i + 1].revision == events[i].revision;
      Render(events[i], continues, &lines);
    }
    WriteLocked(lines);
  }

  // Timer: bookmark or timeout. Returns true when the stream has ended.
  bool Tick(MonoTime now) {
    std::lock_guard l(mu_);
    if (done_) return true;
    if (now >= deadline_) {
      EndLocked("timeout");
      return true;
    }
    if (now >= next_bookmark_) {
      next_bookmark_ = now + core_->options().bookmark_interval;
      Json bookmark = {{"kind", t_.kind->gvk.kind},
                       {"apiVersion", t_.kind->gvk.ApiVersion()},
                       {"metadata", {{"resourceVersion", std::to_string(last_rev_)}}}};
      WriteLocked(Dump({{"type", "BOOKMARK"}, {"object", bookmark}}) + "\n");
    }
    return done_;
  }

  void End(const std::string& reason) {
    std::lock_guard l(mu_);
    EndLocked(reason);
  }

  std::unique_ptr<WatchHandle> TakeHandle() {
    std::lock_guard l(mu_);
    return std::move(handle_);
  }

 private:
  // A value as this stream sees it: the shared decoded object, or this
  // stream's own copy (a Secret it may not read, redacted; or a deletion's
  // last state at the deletion's revision). Selectors match what the stream
  // sees, so a field selector cannot probe hidden values.
  struct View {
    std::shared_ptr<const WatchValues::Value> shared;
    std::optional<Json> own;
    const Json* get() const { return own ? &*own : shared ? &shared->object() : nullptr; }
  };

  // One event to send: its type and the object as this stream sees it.
  struct Line {
    int64_t revision = 0;
    const char* type = nullptr;
    View object;
  };

  // The line as Dump would write {"type","object","revisionContinues"}; the
  // shared value's JSON is rendered once for every stream that sends it.
  static void Render(const Line& line, bool continues, std::string* out) {
    *out += "{\"object\":";
    *out += line.object.own ? Dump(*line.object.own) : line.object.shared->Rendered();
    if (continues) *out += ",\"revisionContinues\":true";
    *out += ",\"type\":\"";
    *out += line.type;
    *out += "\"}\n";
  }

  View ViewOf(std::shared_ptr<const WatchValues::Value> value) const {
    View v;
    if (!value) return v;
    if (secret_access_ != SecretAccess::kAll && IsSecretObject(value->object())) {
      Json copy = value->object();
      if (RedactSecret(copy, secret_access_)) {
        v.own = std::move(copy);
        return v;
      }
    }
    v.shared = std::move(value);
    return v;
  }

  // The watch event for a store event, or nothing when this watch does not
  // see it (selector, undecodable value).
  std::optional<Line> MakeEvent(const Event& ev) {
    const KindInfo& kind = *t_.kind;
    View cur, prev;
    const bool all = selector_.Empty() && fields_.Empty();
    if (ev.type == Event::Type::kPut) {
      cur = ViewOf(core_->DecodeForWatch(kind, ev.kv));
      if (cur.get() == nullptr) return std::nullopt;  // logged by DecodeKv; the event is skipped
    }
    // With no selector a put needs only whether there was a previous value.
    if (ev.prev && (ev.type == Event::Type::kDelete || !all)) prev = ViewOf(core_->DecodeForWatch(kind, *ev.prev));
    auto matches = [&](const View& v) {
      const Json* j = v.get();
      return j != nullptr && (all || (selector_.Matches(LabelsOf(*j)) && fields_.Matches(*j)));
    };
    const bool had = ev.prev.has_value() && (all || matches(prev));
    const bool has = matches(cur);
    Line line;
    line.revision = ev.kv.mod_revision;
    if (ev.type == Event::Type::kPut && has) {
      line.type = had ? "MODIFIED" : "ADDED";
      line.object = std::move(cur);
    } else if (had) {
      // Deleted, or no longer selected: the last state that was selected,
      // at this event's revision (as Kubernetes' watch cache sends it).
      line.type = "DELETED";
      if (prev.own) {
        line.object.own = std::move(prev.own);
      } else if (prev.shared) {
        line.object.own = prev.shared->object();
      } else {
        std::string ns, name;
        NamesFromKey(kind, ev.kv.key, &ns, &name);
        line.object.own = Object(kind.gvk, ns, name).json();
      }
      (*line.object.own)["metadata"]["resourceVersion"] = std::to_string(ev.kv.mod_revision);
    }
    if (line.type == nullptr) return std::nullopt;
    ++events_;
    return line;
  }

  void WriteLocked(const std::string& data) {
    if (done_ || data.empty()) return;
    if (!out_) {
      pending_ += data;
      return;
    }
    if (out_->buffered() > kMaxBuffered) {
      log::Warn(kComponent, "watch client too slow; ending its watch", {{"path", path_}, {"user", user_}});
      return EndLocked("client too slow");
    }
    if (!out_->Write(data)) EndLocked("client gone");
  }

  void EndLocked(const std::string& reason) {
    if (done_) return;
    done_ = true;
    if (out_) out_->End();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(core_->clock().Monotonic() - started_).count();
    log::Debug(kComponent, "watch ended",
               {{"path", path_},
                {"user", user_},
                {"reason", reason},
                {"events", std::to_string(events_)},
                {"rev", std::to_string(last_rev_)},
                {"seconds", std::to_string(secs)}});
  }

  Core* core_;
  const Target t_;
  const Selector selector_;
  const FieldSelector fields_;
  const std::string path_;
  const std::string user_;
  const MonoTime started_;

  std::mutex mu_;
  std::shared_ptr<HttpStream> out_;     // guarded by mu_; null until Attach
  std::string pending_;                 // guarded by mu_: written before Attach
  std::unique_ptr<WatchHandle> handle_;  // guarded by mu_; released by the timer
  bool done_ = false;                    // guarded by mu_
  int64_t last_rev_ = 0;                 // guarded by mu_: every event up to it was sent
  MonoTime deadline_;                    // guarded by mu_
  MonoTime next_bookmark_;               // guarded by mu_
  uint64_t events_ = 0;                  // guarded by mu_
  SecretAccess secret_access_ = SecretAccess::kNone;  // guarded by mu_
};

void Core::Watch(const CallPtr& call, const Target& t) {
  auto selector = Selector::Parse(call->Query("labelSelector"));
  if (!selector) return call->ReplyError(BadRequest("labelSelector: " + selector.error().message()));
  auto fields = FieldSelector::Parse(call->Query("fieldSelector"));
  if (!fields) return call->ReplyError(BadRequest("fieldSelector: " + fields.error().message()));
  std::string rv_text = call->Query("resourceVersion");
  int64_t rv = 0;
  if (!rv_text.empty()) {
    auto v = ParseInt(rv_text);
    if (!v)
      return call->ReplyError(BadRequest("resourceVersion must be a non-negative integer, not \"" + rv_text + "\""));
    rv = *v;
  }
  std::chrono::seconds timeout = options_.default_watch_timeout;
  if (std::string ts = call->Query("timeoutSeconds"); !ts.empty()) {
    auto v = ParseInt(ts);
    if (!v) return call->ReplyError(BadRequest("timeoutSeconds must be a non-negative integer, not \"" + ts + "\""));
    if (*v > 0) timeout = std::chrono::seconds(*v);
  }

  Store& store = service_->store();
  const std::string prefix = t.Prefix();
  auto w =
      std::make_shared<WatchStream>(this, t, *selector, *fields, call->path(), call->user().name, clock().Monotonic(), timeout);
  const SecretAccess access = SecretAccessOf(call->user());
  w->set_secret_access(access);
  // resourceVersion 0 or absent: the current objects first, as ADDED.
  int64_t from = rv + 1;
  if (rv == 0) {
    auto list = store.Range(prefix);
    if (!list) return call->ReplyError(FromError(list.error(), t.kind, ""));
    std::string lines;
    for (const KeyValue& kv : list->kvs) {
      auto obj = DecodeKv(*t.kind, kv);
      if (!obj) return call->ReplyError(Internal("cannot read a stored object"));
      if (!selector->Matches(Object(*obj).labels()) || !fields->Matches(*obj)) continue;
      RedactSecret(*obj, access);
      lines += Dump({{"type", "ADDED"}, {"object", std::move(*obj)}});
      lines += '\n';
    }
    w->WriteLines(lines);
    from = list->revision + 1;
  }
  w->set_last_revision(from - 1);

  std::weak_ptr<WatchStream> weak = w;
  auto handle = store.Watch(prefix, from, [weak](Result<std::vector<Event>> batch) {
    if (auto s = weak.lock()) s->OnBatch(std::move(batch));
  });
  if (handle) {
    w->set_handle(std::move(*handle));
    AddWatch(w);
  } else if (handle.error().code() == Code::kCompacted) {
    // Still a 200 stream, as Kubernetes does it: one ERROR event, then the end.
    ApiError err = Expired("too old resource version: " + std::to_string(rv) + " (" + handle.error().message() + ")");
    w->WriteLines(Dump({{"type", "ERROR"}, {"object", err.ToJson()}}) + "\n");
    w->End("expired");
  } else {
    return call->ReplyError(FromError(handle.error(), t.kind, ""));
  }

  auto out = call->ReplyStream(200, "application/json", {{"Cache-Control", "no-cache"}});
  if (!out) return w->End("answered already");
  out->OnEnded([weak](const std::string& reason) {
    if (auto s = weak.lock()) s->End(reason == "complete" ? "response complete" : reason);
  });
  w->Attach(std::move(out));
}

void Core::AddWatch(std::shared_ptr<WatchStream> w) {
  {
    std::lock_guard l(watches_mu_);
    if (!timer_stop_) {
      watches_.push_back(std::move(w));
      return;
    }
  }
  // Stopping: end it at once (we are on a request thread, not the store's).
  w->End("server stopping");
  w->TakeHandle().reset();
}

void Core::TimerLoop() {
  std::unique_lock l(watches_mu_);
  while (!timer_stop_) {
    timer_cv_.wait_for(l, kTick);
    if (timer_stop_) break;
    std::vector<std::shared_ptr<WatchStream>> list = watches_;
    l.unlock();
    MonoTime now = clock().Monotonic();
    watch_values_.Expire(now);
    std::vector<std::shared_ptr<WatchStream>> ended;
    for (const auto& w : list) {
      if (w->Tick(now)) ended.push_back(w);
    }
    // Destroying a handle waits for a running callback of it: no lock held.
    for (const auto& w : ended) w->TakeHandle().reset();
    l.lock();
    if (!ended.empty()) {
      std::erase_if(watches_, [&](const std::shared_ptr<WatchStream>& w) {
        return std::find(ended.begin(), ended.end(), w) != ended.end();
      });
    }
  }
}

void Core::EndWatches() {
  std::vector<std::shared_ptr<WatchStream>> list;
  {
    std::lock_guard l(watches_mu_);
    timer_stop_ = true;
    list.swap(watches_);
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  for (const auto& w : list) {
    w->End("server stopping");
    w->TakeHandle().reset();
  }
}

}  // namespace bosun::state::api_internal
