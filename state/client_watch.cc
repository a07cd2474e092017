// Client::Watch: a watch stream that survives disconnects. It resumes from
// the last resourceVersion it delivered, and after 410 Expired re-lists and
// delivers the difference, so its consumer sees every change exactly once.
//
// One revision may change many objects (a batch, POST /bosun/v1/batch), so a
// stream may break after some of a revision's events and before the rest.
// The server marks each event that another of its revision follows
// ("revisionContinues"); after a break there the watch resumes from the
// revision before, and drops the events of that revision it already
// delivered.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/log.h"
#include "state/client.h"
#include "state/client_internal.h"

namespace bosun::state {

using client_internal::PercentEncode;
using client_internal::Stream;
using client_internal::Subject;

const char* WatchEventTypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

namespace {

// A line longer than this is not an event we can use; the stream is dropped
// and reopened.
constexpr size_t kMaxLine = 64u << 20;

std::optional<int64_t> ParseRv(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// True when `a` is a later revision than `b` (unparsable ones never are).
bool Later(const std::string& a, const std::string& b) {
  auto x = ParseRv(a), y = ParseRv(b);
  if (!x) return false;
  if (!y) return true;
  return *x > *y;
}

std::string KeyOf(const Object& o) {
  return o.namespace_() + "/" + o.name();
}

}  // namespace

struct Watch::State {
  std::shared_ptr<Client::Impl> client;
  KindInfo kind;
  std::string ns;
  Selectors selector;
  std::function<void(const WatchEvent&)> on_event;

  pplx::cancellation_token_source cts;  // cancelled by Stop; ends every request of the watch
  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu
  std::string rv;     // guarded by mu: the revision of the last event delivered
  // False while the events of revision `rv` may not all have been delivered
  // (the last one said more of its revision follow): a reconnect then
  // resumes from rv - 1. Guarded by mu.
  bool rv_complete = true;
  std::set<std::string> at_rv;  // guarded by mu: objects delivered at revision `rv`, by namespace/name
  std::atomic<int> reconnects{0};
  std::atomic<int> relists{0};

  std::mutex join_mu;
  std::thread thread;  // guarded by join_mu once started

  // Used by the watch thread only (and by Client::Watch before it starts).
  std::map<std::string, Object> known;  // what the consumer has, by namespace/name
  bool known_complete = false;          // true when `known` is all of it (started from a list)
  std::vector<WatchEvent> initial;
  std::optional<Stream> stream;
  pplx::cancellation_token_source stream_cts;  // ends the current stream only; guarded by mu

  bool Stopped() const {
    std::lock_guard<std::mutex> lock(mu);
    return stop;
  }
  std::string Rv() const {
    std::lock_guard<std::mutex> lock(mu);
    return rv;
  }
  // Everything up to `to` was delivered (a BOOKMARK, a list).
  void CompleteRv(const std::string& to) {
    std::lock_guard<std::mutex> lock(mu);
    if (Later(to, rv)) {
      rv = to;
      at_rv.clear();
    }
    if (!Later(rv, to)) rv_complete = true;
  }
  void SetRv(const std::string& to) {
    std::lock_guard<std::mutex> lock(mu);
    rv = to;
    rv_complete = true;
    at_rv.clear();
  }
  // An event of object `key` at revision `erv` was delivered; `continues`:
  // the server said more events of that revision follow.
  void EventRv(const std::string& key, const std::string& erv, bool continues) {
    std::lock_guard<std::mutex> lock(mu);
    if (Later(erv, rv)) {
      rv = erv;
      at_rv.clear();
      rv_complete = !continues;
    } else if (erv != rv) {
      return;  // an older state (a re-list's diff): says nothing of `rv`
    } else if (!rv_complete) {
      rv_complete = !continues;
    }
    at_rv.insert(key);
  }
  // Where a reconnect resumes: after `rv` if all of it was delivered, else
  // after the revision before it, so the rest of `rv` comes again. (From
  // revision 1 that is "0", which the server answers with the current
  // objects: a consumer then gets their latest states, never fewer objects.)
  std::string ResumeFrom() const {
    std::lock_guard<std::mutex> lock(mu);
    auto r = ParseRv(rv);
    if (rv_complete || !r || *r <= 0) return rv;
    return std::to_string(*r - 1);
  }
  // Waits `d` or until stopped. Returns false when stopped.
  bool Sleep(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, d, [&] { return stop; });
    return !stop;
  }
  std::string What() const { return kind.QualifiedResource() + (ns.empty() ? "" : " in namespace " + ns); }

  Result<Stream> Open() {
    std::string target = kind.Path(PercentEncode(ns)) + "?watch=true&allowWatchBookmarks=true";
    std::string from = ResumeFrom();
    if (!from.empty()) target += "&resourceVersion=" + PercentEncode(from);
    if (!selector.labels.empty()) target += "&labelSelector=" + PercentEncode(selector.labels);
    if (!selector.fields.empty()) target += "&fieldSelector=" + PercentEncode(selector.fields);
    pplx::cancellation_token token = pplx::cancellation_token::none();
    {
      std::lock_guard<std::mutex> lock(mu);
      stream_cts = pplx::cancellation_token_source();
      if (stop) stream_cts.cancel();
      token = stream_cts.get_token();
    }
    return client->OpenStream(target, Subject{&kind, ns, ""}, token);
  }

  // Hands an event to the consumer, keeping `known` and the resourceVersion
  // up to date. Returns false when the watch was stopped.
  bool Deliver(WatchEvent e, bool continues = false) {
    if (Stopped()) return false;
    if (e.type == WatchEvent::Type::kBookmark) {
      CompleteRv(e.object.resource_version());
      on_event(e);
      return !Stopped();
    }
    std::string key = KeyOf(e.object);
    EventRv(key, e.object.resource_version(), continues);
    on_event(e);
    // The consumer has read the object (it copies what it keeps): ours moves
    // into `known` instead of being copied before (a first GitOps sync sends
    // 10,000 objects to every watch of their kinds).
    if (e.type == WatchEvent::Type::kDeleted) {
      known.erase(key);
    } else {
      known.insert_or_assign(std::move(key), std::move(e.object));
    }
    return !Stopped();
  }

  // True when an event from the stream repeats one already delivered: the
  // server resent history from before our resourceVersion, the part of a
  // revision delivered before a reconnect, or the same state of the same
  // object.
  bool Repeats(const WatchEvent& e, bool continues) {
    const std::string erv = e.object.resource_version();
    std::string cur = Rv();
    if (Later(cur, erv) && ParseRv(erv)) return true;
    const std::string key = KeyOf(e.object);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (erv == rv && at_rv.count(key)) {
        // The last of the revision, delivered before: the revision is whole.
        if (!continues) rv_complete = true;
        return true;
      }
    }
    auto it = known.find(key);
    if (e.type == WatchEvent::Type::kDeleted) return it == known.end() && known_complete;
    return it != known.end() && it->second.resource_version() == erv && !erv.empty();
  }

  // After 410: list again and deliver what changed since what we delivered.
  Status Relist() {
    auto list = client->ListAll(kind, ns, selector, cts.get_token());
    if (!list) return list.error();
    relists++;
    std::map<std::string, Object> now;
    std::vector<WatchEvent> diff;
    for (Object& o : list->items) {
      std::string key = KeyOf(o);
      auto it = known.find(key);
      if (it == known.end()) {
        diff.push_back({WatchEvent::Type::kAdded, o});
      } else if (it->second.resource_version() != o.resource_version()) {
        diff.push_back({WatchEvent::Type::kModified, o});
      }
      now.emplace(std::move(key), std::move(o));
    }
    for (const auto& [key, o] : known) {
      if (now.count(key)) continue;
      // Deleted during the gap: its last known state, at the list's revision
      // (the delete happened at or before it).
      Object gone = o;
      gone.set_resource_version(list->resource_version);
      diff.push_back({WatchEvent::Type::kDeleted, std::move(gone)});
    }
    known_complete = true;
    for (WatchEvent& e : diff) {
      if (!Deliver(std::move(e))) return Ok();
    }
    known = std::move(now);
    SetRv(list->resource_version);
    return Ok();
  }

  enum class End { kClean, kBroken, kExpired, kStopped };

  // Handles one line of the stream.
  std::optional<End> Line(const std::string& line, bool* delivered) {
    if (line.empty() || line == "\r") return std::nullopt;
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    const Json& type = Object::Field(j, "type");
    Json absent;
    Json& obj = j.is_object() && j.contains("object") ? j["object"] : absent;
    if (!type.is_string() || !obj.is_object()) {
      log::Warn("client", "watch stream sent a line that is not an event; reopening", {{"watch", What()}});
      return End::kBroken;
    }
    const std::string t = type.get<std::string>();
    if (t == "ERROR") {
      const Json& code = Object::Field(obj, "code");
      if (code.is_number_integer() && code.get<int>() == 410) return End::kExpired;
      const Json& msg = Object::Field(obj, "message");
      log::Warn("client", "watch stream ended with an error; reopening",
                {{"watch", What()}, {"error", msg.is_string() ? msg.get<std::string>() : obj.dump()}});
      return End::kBroken;
    }
    // The object moves out of the parsed line (the rest of which is read
    // below only for revisionContinues).
    WatchEvent e{WatchEvent::Type::kAdded, Object(std::move(obj))};
    if (t == "ADDED") {
      e.type = WatchEvent::Type::kAdded;
    } else if (t == "MODIFIED") {
      e.type = WatchEvent::Type::kModified;
    } else if (t == "DELETED") {
      e.type = WatchEvent::Type::kDeleted;
    } else if (t == "BOOKMARK") {
      e.type = WatchEvent::Type::kBookmark;
    } else {
      return std::nullopt;  // a type from a newer server: ignore it
    }
    if (e.object.api_version().empty()) e.object.json()["apiVersion"] = kind.gvk.ApiVersion();
    if (e.object.kind().empty()) e.object.json()["kind"] = kind.gvk.kind;
    const Json& more = Object::Field(j, "revisionContinues");
    const bool continues = more.is_boolean() && more.get<bool>();
    if (e.type != WatchEvent::Type::kBookmark && Repeats(e, continues)) return std::nullopt;
    *delivered = true;
    e.complete_through = !continues;
    if (!Deliver(std::move(e), continues)) return End::kStopped;
    return std::nullopt;
  }

  // Reads the open stream until it ends. Sets *delivered when an event or
  // bookmark arrived (the connection was healthy).
  End Read(bool* delivered) {
    auto buf = stream->response.body().streambuf();
    using traits = decltype(buf)::traits;
    std::string pending;
    size_t scanned = 0;
    uint8_t chunk[16384];
    while (true) {
      if (Stopped()) return End::kStopped;
      try {
        size_t avail = buf.in_avail();
        if (avail > 0) {
          size_t n = buf.getn(chunk, std::min(avail, sizeof chunk)).get();
          pending.append(reinterpret_cast<const char*>(chunk), n);
        } else {
          auto c = buf.bumpc().get();
          if (c == traits::eof()) {
            // A last line without its newline was cut off: drop it, the
            // reconnect resumes before it.
            return Stopped() ? End::kStopped : End::kClean;
          }
          pending.push_back(static_cast<char>(c));
        }
      } catch (const std::exception& ex) {
        if (Stopped()) return End::kStopped;
        log::Debug("client", "watch stream broke; reopening", {{"watch", What()}, {"error", ex.what()}});
        return End::kBroken;
      }
      size_t start = 0, nl;
      while ((nl = pending.find('\n', scanned)) != std::string::npos) {
        std::string line = pending.substr(start, nl - start);
        start = nl + 1;
        scanned = start;
        if (auto end = Line(line, delivered)) return *end;
      }
      pending.erase(0, start);
      scanned = pending.size();
      if (pending.size() > kMaxLine) {
        log::Warn("client", "watch stream sent an over-long line; reopening", {{"watch", What()}});
        return End::kBroken;
      }
    }
  }

  void Run() {
    for (WatchEvent& e : initial) {
      if (!Deliver(std::move(e))) return;
    }
    initial.clear();
    std::chrono::milliseconds backoff = client->options.watch_backoff_min;
    auto back_off = [&] {
      bool alive = Sleep(backoff);
      backoff = std::min(backoff * 2, client->options.watch_backoff_max);
      return alive;
    };
    bool first = true;
    while (!Stopped()) {
      if (!stream) {
        if (!first) reconnects++;
        auto s = Open();
        first = false;
        if (!s) {
          if (Stopped()) return;
          if (s.error().code() == Code::kCompacted) {
            Status r = Relist();
            if (!r.ok() && !Stopped()) {
              log::Warn("client", "watch cannot re-list; retrying",
                        {{"watch", What()}, {"error", r.error().message()}});
              if (!back_off()) return;
            }
            continue;
          }
          log::Warn("client", "watch cannot reconnect; retrying", {{"watch", What()}, {"error", s.error().message()}});
          if (!back_off()) return;
          continue;
        }
        stream = std::move(*s);
      }
      first = false;
      bool delivered = false;
      End end = Read(&delivered);
      if (end != End::kClean) {
        std::lock_guard<std::mutex> lock(mu);
        stream_cts.cancel();  // close the connection we stop reading
      }
      stream.reset();
      if (end == End::kStopped || Stopped()) return;
      if (delivered) backoff = client->options.watch_backoff_min;
      if (end == End::kExpired) {
        Status r = Relist();
        if (!r.ok() && !Stopped()) {
          log::Warn("client", "watch cannot re-list; retrying", {{"watch", What()}, {"error", r.error().message()}});
          if (!back_off()) return;
        }
        continue;
      }
      // A stream that ends at once, again and again, must not spin.
      if (!delivered && !back_off()) return;
    }
  }
};

Watch::Watch(std::shared_ptr<State> state) : state_(std::move(state)) {}

Watch::~Watch() {
  Stop();
}

void Watch::Stop() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
    state_->stream_cts.cancel();
  }
  state_->cts.cancel();
  state_->cv.notify_all();
  std::lock_guard<std::mutex> lock(state_->join_mu);
  if (!state_->thread.joinable()) return;
  if (state_->thread.get_id() == std::this_thread::get_id()) {
    state_->thread.detach();  // called from the callback; the thread owns its state and ends after it
  } else {
    state_->thread.join();
  }
}

std::string Watch::resource_version() const {
  return state_->Rv();
}
int Watch::reconnects() const {
  return state_->reconnects.load();
}
int Watch::relists() const {
  return state_->relists.load();
}

Result<WatchPtr> Client::Watch(const KindInfo& kind, const std::string& ns, const Selectors& label_selector,
                               const std::string& resource_version, std::function<void(const WatchEvent&)> on_event) {
  if (!on_event) return Error(Code::kInvalid, "a watch needs a callback");
  auto st = std::make_shared<state::Watch::State>();
  st->client = impl_;
  st->kind = kind;
  st->ns = kind.namespaced ? ns : "";
  st->selector = label_selector;
  st->on_event = std::move(on_event);
  if (resource_version.empty()) {
    auto list = impl_->ListAll(kind, st->ns, label_selector, st->cts.get_token());
    if (!list) return list.error();
    for (Object& o : list->items) st->initial.push_back({WatchEvent::Type::kAdded, std::move(o)});
    Object end(Json{{"apiVersion", kind.gvk.ApiVersion()}, {"kind", kind.gvk.kind}});
    end.set_resource_version(list->resource_version);
    end.set_annotation(kInitialEventsEndAnnotation, "true");
    st->initial.push_back({WatchEvent::Type::kBookmark, std::move(end), /*complete_through=*/true});
    st->rv = list->resource_version;
    st->known_complete = true;
  } else {
    st->rv = resource_version;
    // The first connection is made here so that a watch that cannot work
    // (unknown path, bad token, no server) fails now.
    auto s = st->Open();
    if (s) {
      st->stream = std::move(*s);
    } else if (s.error().code() != Code::kCompacted) {
      return s.error();
    }
  }
  st->thread = std::thread([st] { st->Run(); });
  return WatchPtr(new state::Watch(st));
}

}  // namespace bosun::state
