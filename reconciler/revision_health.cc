#include "reconciler/revision_health.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "core/clock.h"
#include "core/duration.h"
#include "core/log.h"
#include "reconciler/deployment_util.h"
#include "reconciler/history.h"
#include "reconciler/plan.h"
#include "reconciler/sync_controller.h"

namespace bosun::reconciler {
namespace {

constexpr const char* kComponent = "revision-health";

// Records in the order they were written: names are zero-padded sequence
// numbers, so by length, then by text.
std::pair<size_t, std::string> RecordKey(const std::string& name) {
  return {name.size(), name};
}

struct Verdict {
  // kSuperseded: a revision no longer live whose every Deployment and Job a
  // later commit has written since: nothing of its rollout is left to judge.
  enum class State { kDone, kWaiting, kDegraded, kSuperseded } state = State::kDone;
  std::string reason;   // CamelCase, for Degraded
  std::string message;  // why (Degraded) or what is awaited (Waiting)
  size_t judged = 0;    // kDone: the Deployments and Jobs it was judged by
  std::string deleted = {};  // kDone: those deleted since it wrote them, not judged ("deployment shop/web, …")
};

// A member of an object, or an empty object (a reference that stays valid).
const Json& Member(const Json& j, const char* key) {
  static const Json kEmpty = Json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() ? kEmpty : *it;
}

const Json* Condition(const Object& o, const std::string& type) {
  return apps::FindCondition(Member(o.json(), "status"), type);
}

int64_t Int(const Json& j, const char* a, const char* b) {
  if (!j.contains(a) || !j[a].is_object()) return 0;
  const Json& x = j[a];
  return x.contains(b) && x[b].is_number_integer() ? x[b].get<int64_t>() : 0;
}

std::string Key(const Object& o) {
  return o.namespace_() + "/" + o.name();
}

class HealthController {
 public:
  HealthController(ControllerManager& mgr, RevisionHealthOptions o)
      : mgr_(mgr), opt_(std::move(o)), revisions_(mgr.Informer("Revision")), repos_(mgr.Informer("GitRepository")),
        deployments_(mgr.Informer("Deployment")), replicasets_(mgr.Informer("ReplicaSet")),
        pods_(mgr.Informer("Pod")), jobs_(mgr.Informer("Job")) {}

  // The controller's reconcile function holds `self`, so the manager keeps it.
  void Register(const std::shared_ptr<HealthController>& self) {
    controller_ = &mgr_.Add(std::make_unique<Controller>(
        "revision-health", 1, [self](const std::string& key) { return self->Reconcile(key); }));
    revisions_.AddHandler([this](const Object* old, const Object* cur) {
      std::vector<std::string> left;
      {
        std::lock_guard<std::mutex> lock(open_mu_);
        const Object* o = cur != nullptr ? cur : old;
        if (cur != nullptr && Open(*cur)) {
          open_.insert(cur->name());
        } else if (o != nullptr) {
          open_.erase(o->name());
        }
        if (cur != nullptr && !Open(*cur) && Unsettled(Member(cur->json(), "status"))) {
          left_.insert(cur->name());
        } else if (o != nullptr) {
          left_.erase(o->name());
        }
        // A newly applied revision may be the fix of one left to a person.
        if (cur != nullptr && Member(cur->json(), "status").value("phase", "") == phase::kApplied) {
          left.assign(left_.begin(), left_.end());
        }
      }
      if (cur != nullptr) controller_->Enqueue(cur->name());
      for (const std::string& n : left) controller_->Enqueue(n);
    });
    auto live = [this](const Object*, const Object*) { EnqueueLive(); };
    repos_.AddHandler(live);
    deployments_.AddHandler(live);
    jobs_.AddHandler(live);
    pods_.AddHandler([this](const Object* old, const Object* cur) {
      // Only container trouble matters here; rollouts show in Deployments.
      const Object* o = cur != nullptr ? cur : old;
      if (o != nullptr && o->json().contains("status")) EnqueueLive();
    });
  }

 private:
  ObjectPtr Repository() const { return repos_.Get("", "default"); }

  // A record that still needs a verdict (Applied, Progressing) or, Degraded,
  // a revert or a note saying why there is none: judged again at each change
  // of a workload. Besides the live one, these are revisions a later one went
  // live over before their rollout ended (an unrelated commit merged during a
  // rollout must not hide it). A Degraded one with such a note that is still
  // Unsettled is looked at every recover_after instead (Resettle), so that
  // those a person never settles do not cost a verdict per pod event.
  static bool Open(const Object& rev) {
    const Json& st = Member(rev.json(), "status");
    const std::string p = st.value("phase", "");
    if (p == phase::kApplied || p == phase::kProgressing) return true;
    return p == phase::kDegraded && !st.contains("revert") && !st.contains("revertedBy");
  }

  // The live revision and every open one: what a change to a workload, a
  // pod or the repository's status may move.
  void EnqueueLive() {
    ObjectPtr repo = Repository();
    if (!repo) return;
    std::string name = repo->json().value("/status/liveRevisionName"_json_pointer, "");
    if (!name.empty()) controller_->Enqueue(name);
    std::lock_guard<std::mutex> lock(open_mu_);
    for (const std::string& n : open_) {
      if (n != name) controller_->Enqueue(n);
    }
  }

  Result<Reconciled> Reconcile(const std::string& name) {
    ObjectPtr rev = revisions_.Get("", name);
    if (!rev) return Reconciled::Done();
    if (auto r = HandleManualRevert(*rev); !r) return r.error();
    ObjectPtr repo = Repository();
    if (!repo) return Reconciled::Done();
    const Json& rst = Member(repo->json(), "status");
    // The live revision is judged, and so is one a later revision went live
    // over before its verdict, by what it last wrote (Open).
    const std::string live_name = rst.value("liveRevisionName", "");
    const bool live = live_name == name;
    // Not one newer than the live one: that is being applied, and goes live
    // next (names are zero-padded sequence numbers).
    if (!live &&
        (!Unsettled(Member(rev->json(), "status")) || live_name.empty() || RecordKey(name) > RecordKey(live_name))) {
      return Reconciled::Done();
    }
    const Json& st = Member(rev->json(), "status");
    const std::string phase = st.value("phase", "");
    int64_t applied_rv = LiveResourceVersion(*repo);
    // Not known (a pass recovered after a crash erases it): for an earlier
    // revision, its record's own version is later than the write of its
    // objects (the same batch), and so bounds it as well.
    if (!live && applied_rv <= 0) applied_rv = std::atoll(rev->resource_version().c_str());
    if (phase == phase::kDegraded) {
      // The live revision with autoRevert on and no revert yet (held back
      // while suspended, or for a newer commit) is owed its revert: a
      // recovery meanwhile (its Deployment deleted by hand) must not cancel
      // it.
      const bool revert_owed = live && AutoRevertOn(*repo) && !st.contains("revert") && !st.contains("revertedBy");
      if (!revert_owed) {
        auto settled = Resettle(*rev, applied_rv, live);
        if (!settled) return settled.error();
        if (*settled) return **settled;
      }
      auto r = live ? MaybeAutoRevert(*rev, *repo) : NotReverted(*rev, *repo, live_name);
      if (!r) return r;
      if (r->requeue_after.count() != 0) return r;
      // A recovery under way is looked at again when its time is up; one
      // left to a person, every recover_after.
      auto it = recovering_.find(rev->name());
      if (it != recovering_.end()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.recover_after -
                                                                          (mgr_.clock().Now() - it->second));
        return Reconciled::After(std::max(left, std::chrono::milliseconds(100)));
      }
      if (!revert_owed) return Reconciled::After(opt_.recover_after);
      return r;
    }
    if (phase == phase::kHealthy && live) return WatchHealthy(*rev, *repo);
    if (phase != phase::kApplied && phase != phase::kProgressing) return Reconciled::Done();

    Verdict v = Judge(*rev, applied_rv, live);
    std::string new_phase = v.state == Verdict::State::kDone         ? phase::kHealthy
                            : v.state == Verdict::State::kDegraded   ? phase::kDegraded
                            : v.state == Verdict::State::kSuperseded ? phase::kSuperseded
                                                                     : phase::kProgressing;
    // A revision that changed no object (a commit outside the followed
    // folder) stays NoChanges, as its Event says, when Healthy.
    const bool no_changes = st.value("reason", "") == "NoChanges";
    std::string reason = v.state == Verdict::State::kDone         ? (no_changes         ? "NoChanges"
                                                                     : v.reason.empty() ? "RolledOut"
                                                                                        : v.reason)
                         : v.state == Verdict::State::kDegraded   ? v.reason
                         : v.state == Verdict::State::kSuperseded ? "Superseded"
                                                                  : "RollingOut";
    if (new_phase != phase || st.value("reason", "") != reason || st.value("message", "") != v.message) {
      auto w = WriteVerdict(*rev, new_phase, reason, v.message);
      if (!w) return w.error();
      if (new_phase == phase::kDegraded) {
        return live ? MaybeAutoRevert(*w, *repo) : NotReverted(*w, *repo, live_name);
      }
    }
    if (v.state == Verdict::State::kWaiting) return Reconciled::After(opt_.recheck);
    return Reconciled::Done();
  }

  // The live revision, Healthy, for opt_.watch_after_healthy after it went
  // so: the new pods of the Deployments it rolled out (still as it wrote
  // them) are looked at for trouble (PodTrouble: a crash loop) at each pod
  // change. Trouble makes it Degraded, and it is reverted as any.
  Result<Reconciled> WatchHealthy(const Object& rev, const Object& repo) {
    const Json& st = Member(rev.json(), "status");
    auto healthy_at = ParseRfc3339(st.value("healthyAt", ""));
    if (!healthy_at || opt_.watch_after_healthy.count() <= 0) return Reconciled::Done();
    // Recovered from a Degraded verdict (nothing was reverted): watching
    // again would turn it Degraded and Recovered in turn, for ever.
    if (st.contains("degraded")) return Reconciled::Done();
    const WallTime until = *healthy_at + opt_.watch_after_healthy;
    if (mgr_.clock().Now() >= until) return Reconciled::Done();
    const std::string commit = rev.json().value("/spec/commit"_json_pointer, "");
    std::optional<Verdict> trouble;
    // A crash loop only: an image pull that fails now (a pod rescheduled to
    // a node that cannot pull) is the node's trouble, not the change's.
    for (const TouchedObject& d : Touched(rev, deployments_, "Deployment")) {
      if (!d.cached || !AtRevision(*d.cached, commit)) continue;  // written since: not this revision's
      ObjectPtr rs = NewReplicaSet(*d.cached);
      if (!rs) continue;
      for (const ObjectPtr& pod : pods_.ListOwnedBy(rs->uid())) {
        auto t = PodTrouble({pod});
        if (t && t->reason == "CrashLoopBackOff") {
          trouble = std::move(t);
          break;
        }
      }
      if (trouble) break;
    }
    if (!trouble) return Reconciled::Done();
    log::Warn(kComponent, "a healthy revision turned degraded", {{"revision", rev.name()}, {"why", trouble->message}});
    auto w = WriteVerdict(rev, phase::kDegraded, trouble->reason,
                          trouble->message + " (after it was Healthy at " + st.value("healthyAt", "") + ")");
    if (!w) return w.error();
    return MaybeAutoRevert(*w, repo);
  }

  // Writes a verdict into the record's status (healthyAt or degradedAt
  // with it), keeps the result in the cache, and when the phase changed
  // records the Event of the new one.
  Result<Object> WriteVerdict(const Object& rev, const std::string& new_phase, const std::string& reason,
                              const std::string& message) {
    Object next = rev;
    Json& s = next.json()["status"];
    const std::string was = s.value("phase", "");
    s["phase"] = new_phase;
    s["reason"] = reason;
    s["message"] = message;
    const std::string now = FormatRfc3339(mgr_.clock().Now());
    if (new_phase == phase::kHealthy) s["healthyAt"] = now;
    if (new_phase == phase::kDegraded) s["degradedAt"] = now;
    auto w = mgr_.client()->UpdateStatus(next);
    if (!w) return w.error();
    revisions_.Store(*w);
    if (new_phase != was) {
      if (new_phase == phase::kDegraded) {
        mgr_.events().Warning(*w, "Degraded", message);
      } else if (new_phase == phase::kSuperseded) {
        mgr_.events().Normal(*w, "Superseded", message);
      } else if (new_phase == phase::kHealthy) {
        mgr_.events().Normal(*w, "Healthy", message);
      } else {
        mgr_.events().Normal(*w, "Progressing", message);
      }
    }
    return w;
  }

  // The ReplicaSet of the Deployment's current template: its pods are the
  // ones a revision brought. Not the one with the highest revision number:
  // after a revert the controller gives the old template's ReplicaSet a new
  // number, and until this cache has seen that, the failing one it replaces
  // would look newest and judge the revert. nullptr when none yet.
  ObjectPtr NewReplicaSet(const Object& d) const {
    ObjectPtr newest;
    int64_t newest_rev = -1;
    const Json& want_template = Member(Member(d.json(), "spec"), "template");
    for (const ObjectPtr& rs : replicasets_.ListOwnedBy(d.uid())) {
      if (!apps::EqualIgnoreHash(Member(Member(rs->json(), "spec"), "template"), want_template)) continue;
      int64_t r = std::atoll(rs->annotation("deployment.kubernetes.io/revision").value_or("0").c_str());
      if (r > newest_rev) newest_rev = r, newest = rs;
    }
    return newest;
  }

  // A Deployment or Job the revision created or changed: its namespace/name
  // and what this member's cache has of it (null: nothing yet).
  struct TouchedObject {
    std::string key;
    ObjectPtr cached;
    int64_t cached_rv = 0;  // SharedInformer::ResourceVersionOf: the cached version's, or its delete's
  };

  // The Deployments and Jobs the revision created or changed, as its record
  // lists them; when the record's list was truncated, those in the cache that
  // carry its commit.
  std::vector<TouchedObject> Touched(const Object& rev, SharedInformer& informer, const std::string& kind) const {
    const std::string commit = rev.json().value("/spec/commit"_json_pointer, "");
    std::vector<TouchedObject> out;
    const Json& st = Member(rev.json(), "status");
    bool truncated = st.value("truncated", false);
    if (!truncated && st.contains("objects") && st["objects"].is_array()) {
      for (const Json& o : st["objects"]) {
        if (!o.is_object() || o.value("kind", "") != kind) continue;
        std::string action = o.value("action", "");
        if (action != "created" && action != "updated" && action != "replaced") continue;
        // Scaled or relabelled only: no rollout of this revision's (the
        // Deployment's pods keep their template, whose rollout is an earlier
        // revision's to judge).
        if (kind == "Deployment" && !StartsRollout(o)) continue;
        const std::string ns = o.value("namespace", ""), name = o.value("name", "");
        out.push_back({ns + "/" + name, informer.Get(ns, name), informer.ResourceVersionOf(ns, name)});
      }
      return out;
    }
    for (const ObjectPtr& o : informer.List()) {
      if (AtRevision(*o, commit)) out.push_back({Key(*o), o, 0});
    }
    return out;
  }

  // A record whose object list was cut: the cache may not have every object
  // of `kind` the revision wrote yet, and Touched (`found` of them, those
  // the cache has with the commit) would judge without the missing ones
  // ("nothing to roll out"). The record counts them (status.writtenByKind):
  // until this many carry the commit, or the watch has delivered everything
  // up to the revision's store write (then the rest were deleted or
  // rewritten since), wait. A kind the revision did not write is never
  // waited for.
  std::optional<std::string> CacheBehind(const Object& rev, const SharedInformer& informer, const std::string& kind,
                                         int64_t applied_rv, size_t found) const {
    const Json& st = Member(rev.json(), "status");
    if (!st.value("truncated", false)) return std::nullopt;
    const Json& written = Member(Member(st, "writtenByKind"), kind.c_str());
    if (!written.is_number_integer() || written.get<int64_t>() <= 0) return std::nullopt;
    if (applied_rv > 0 && informer.SeenThrough() >= applied_rv) return std::nullopt;
    if (static_cast<int64_t>(found) >= written.get<int64_t>()) return std::nullopt;
    return "waiting for the cache: " + std::to_string(found) + " of the " + std::to_string(written.get<int64_t>()) +
           " " + kind + "s this revision wrote are in it";
  }

  // The cached object carries the revision's own write: the sync marks every
  // object it creates or updates with the commit. One that does not is an
  // older version, not yet replaced in this cache (the Revision's and the
  // Deployment's watches are separate streams, so the record can arrive
  // first): its conditions, template and pods are the previous revision's,
  // and judging a revert by them found the very failure it undoes. (One the
  // revision created and the cache does not have yet made it "nothing to roll
  // out": Healthy, never judged again.) Judge waits for both.
  static bool AtRevision(const Object& o, const std::string& commit) {
    return o.annotation(kRevisionAnnotation).value_or("") == commit;
  }

  // Container trouble in these pods: crash loops and failed pulls.
  std::optional<Verdict> PodTrouble(const std::vector<ObjectPtr>& pods) const {
    for (const ObjectPtr& p : pods) {
      const Json& st = Member(p->json(), "status");
      for (const char* field : {"initContainerStatuses", "containerStatuses"}) {
        if (!st.contains(field) || !st[field].is_array()) continue;
        for (const Json& c : st[field]) {
          const Json waiting = c.contains("state") && c["state"].contains("waiting") ? c["state"]["waiting"] : Json();
          if (!waiting.is_object()) continue;
          const std::string reason = waiting.value("reason", "");
          const int64_t restarts = c.value("restartCount", int64_t{0});
          if (reason == "CrashLoopBackOff" && restarts >= opt_.crash_loop_restarts) {
            int64_t code = Int(Member(c, "lastState"), "terminated", "exitCode");
            // OOMKilled says more than its exit code (137); "Error" does not.
            const Json& last = Member(Member(c, "lastState"), "terminated");
            const std::string why = last.is_object() ? last.value("reason", "") : "";
            return Verdict{Verdict::State::kDegraded, "CrashLoopBackOff",
                           "container " + c.value("name", "") + " of pod " + Key(*p) + " is crash-looping (" +
                               (why.empty() || why == "Error" || why == "Completed" ? "" : why + ", ") + "exit code " +
                               std::to_string(code) + ", " + std::to_string(restarts) + " restarts)"};
          }
          if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "InvalidImageName") {
            std::string msg = waiting.value("message", "");
            return Verdict{Verdict::State::kDegraded, "ImagePullFailed",
                           "image pull failed for pod " + Key(*p) + " (container " + c.value("name", "") + ")" +
                               (msg.empty() ? "" : ": " + msg)};
          }
        }
      }
    }
    return std::nullopt;
  }

  // Why a new pod is not up, as its node said it (the first found): the
  // pod's reason (FailedMount: a ConfigMap that does not exist), else a
  // container's waiting reason with its message (CreateContainerConfigError).
  // "" when no pod says. The message of a rollout that waits, or that
  // exceeded its deadline, carries it: a person reading `bosun status` (and
  // the revert commit's Bosun-Reason) sees the cause, not only a count.
  static std::string PodHint(const std::vector<ObjectPtr>& pods) {
    for (const ObjectPtr& p : pods) {
      const Json& st = Member(p->json(), "status");
      if (st.contains("message") && st["message"].is_string() && !st["message"].get<std::string>().empty()) {
        return "pod " + Key(*p) + ": " + st.value("reason", "not started") + ": " + st.value("message", "");
      }
    }
    for (const ObjectPtr& p : pods) {
      const Json& st = Member(p->json(), "status");
      for (const char* field : {"initContainerStatuses", "containerStatuses"}) {
        if (!st.contains(field) || !st[field].is_array()) continue;
        for (const Json& c : st[field]) {
          const Json& waiting = Member(Member(c, "state"), "waiting");
          // A crash loop's message changes with every back-off (its verdict
          // is PodTrouble's): left out, or each restart rewrote the record.
          if (waiting.is_object() && waiting.value("reason", "") == "CrashLoopBackOff") continue;
          if (!c.is_object() || !waiting.is_object() || !waiting.contains("message") ||
              !waiting["message"].is_string() || waiting["message"].get<std::string>().empty()) {
            continue;
          }
          return "pod " + Key(*p) + ", container " + c.value("name", "") + ": " + waiting.value("reason", "waiting") +
                 ": " + waiting.value("message", "");
        }
      }
    }
    // Running, not ready: the node puts the readiness probe's failure in
    // the Ready condition ("…; web: Readiness probe failed: HTTP probe
    // failed with statuscode: 404").
    for (const ObjectPtr& p : pods) {
      const Json& conds = Member(Member(p->json(), "status"), "conditions");
      if (!conds.is_array()) continue;
      for (const Json& c : conds) {
        if (!c.is_object() || c.value("type", "") != "Ready" || c.value("status", "") != "False") continue;
        const std::string msg = c.value("message", "");
        const size_t at = msg.find("; ");
        if (at != std::string::npos && msg.find("probe failed", at) != std::string::npos) {
          return "pod " + Key(*p) + ", container " + msg.substr(at + 2);
        }
      }
    }
    return "";
  }

  // A container without a readiness probe is ready, and its pod available,
  // the moment it starts: one that crashes a second later (a crash loop)
  // looked rolled out between its restarts. Every container of the new pods
  // must be running, and have been for opt_.healthy_after as this
  // controller has seen it (its own clock: a node's clock may be off), each
  // run counted from when it was first seen running.
  std::optional<Verdict> NotUpLongEnough(const std::vector<ObjectPtr>& pods, const std::string& who) const {
    if (opt_.healthy_after.count() <= 0) return std::nullopt;
    const WallTime now = mgr_.clock().Now();
    if (first_running_.size() > 50000) first_running_.clear();
    // Every container is noted as seen running on each look (not only up
    // to the first still waiting: their times run side by side); the one
    // with the least time up is named.
    std::optional<Verdict> shortest;
    std::chrono::milliseconds least = opt_.healthy_after;
    for (const ObjectPtr& p : pods) {
      if (!p->json().value("/metadata/deletionTimestamp"_json_pointer, "").empty()) continue;
      const Json& st = Member(p->json(), "status");
      if (!st.contains("containerStatuses") || !st["containerStatuses"].is_array()) {
        return Verdict{Verdict::State::kWaiting, "", "waiting for " + who + ": pod " + Key(*p) + " has not started"};
      }
      for (const Json& c : st["containerStatuses"]) {
        const std::string name = c.value("name", "");
        const Json& state = Member(c, "state");
        if (!state.contains("running")) {
          const std::string why = state.contains("waiting")      ? state["waiting"].value("reason", "waiting")
                                  : state.contains("terminated") ? "exited"
                                                                 : "not started";
          return Verdict{
              Verdict::State::kWaiting, "",
              "waiting for " + who + ": container " + name + " of pod " + Key(*p) + " is not running (" + why + ")"};
        }
        // One run of the container: its id, or its restart count and start.
        std::string run = c.value("containerID", "");
        if (run.empty()) {
          run = std::to_string(c.value("restartCount", int64_t{0})) + "@" +
                c.value("/state/running/startedAt"_json_pointer, "");
        }
        const WallTime since = first_running_.emplace(p->uid() + "/" + name + "/" + run, now).first->second;
        const auto up = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
        if (up < least) {
          least = up;
          shortest = Verdict{Verdict::State::kWaiting, "",
                             "waiting for " + who + ": container " + name + " of pod " + Key(*p) + " has run " +
                                 FormatDuration(std::chrono::seconds(up.count() / 1000)) + " of the " +
                                 FormatDuration(opt_.healthy_after) + " it must stay up"};
        }
      }
    }
    return shortest;
  }

  // `applied`: when the revision being judged was applied (its
  // status.appliedAt), if known.
  Verdict JudgeDeployment(const Object& d, std::optional<WallTime> applied) const {
    const Json& j = d.json();
    const Json& st = Member(j, "status");
    const int64_t want = j.value("/spec/replicas"_json_pointer, int64_t{1});
    const int64_t updated = st.value("updatedReplicas", int64_t{0});
    const int64_t available = st.value("availableReplicas", int64_t{0});
    const int64_t total = st.value("replicas", int64_t{0});
    const std::string who = "deployment " + Key(d);
    // Nothing the Deployment controller says holds before it has seen this
    // generation: a condition from the previous template (a deadline it
    // exceeded before a revert) must not judge the new one.
    if (st.value("observedGeneration", int64_t{0}) < d.generation()) {
      return Verdict{Verdict::State::kWaiting, "",
                     "waiting for " + who + ": the deployment controller has not seen generation " +
                         std::to_string(d.generation()) + " yet"};
    }
    // The pods this revision brought.
    const ObjectPtr newest = NewReplicaSet(d);
    if (newest) {
      if (auto t = PodTrouble(pods_.ListOwnedBy(newest->uid()))) return *t;
    }
    // Available pods of the new template only (old ones keep serving).
    const int64_t new_available = newest ? Member(newest->json(), "status").value("availableReplicas", int64_t{0}) : 0;
    const std::string hint = newest ? PodHint(pods_.ListOwnedBy(newest->uid())) : "";
    if (const Json* c = Condition(d, "Progressing")) {
      if (c->value("status", "") == "False" && c->value("reason", "") == "ProgressDeadlineExceeded" &&
          !StaleDeadline(d, *c, applied)) {
        return Verdict{Verdict::State::kDegraded, "ProgressDeadlineExceeded",
                       "progress deadline exceeded for " + who + ": " + std::to_string(new_available) + "/" +
                           std::to_string(want) + " new replicas available" + (hint.empty() ? "" : "; " + hint)};
      }
    }
    if (updated >= want && available >= want && total <= want) {
      if (newest) {
        if (auto w = NotUpLongEnough(pods_.ListOwnedBy(newest->uid()), who)) return *w;
      }
      return Verdict{};
    }
    return Verdict{Verdict::State::kWaiting, "",
                   "waiting for " + who + ": " + std::to_string(updated) + "/" + std::to_string(want) + " updated, " +
                       std::to_string(available) + " available" + (hint.empty() ? "" : "; " + hint)};
  }

  // A deadline the template before this revision exceeded. Reverting to a
  // ReplicaSet that exists keeps the Deployment's Progressing condition at
  // ProgressDeadlineExceeded (as Kubernetes does) until the controller sees
  // progress, which can take a sync or two after observedGeneration moved:
  // a condition last updated before the revision was applied is not this
  // revision's verdict — until this revision has had the whole deadline too.
  // Both times are in whole seconds, and an automatic revert is applied
  // within a second of the deadline it answers: a condition of the same
  // second as the apply is the template's before (no deadline is shorter
  // than a second).
  bool StaleDeadline(const Object& d, const Json& cond, std::optional<WallTime> applied) const {
    if (!applied) return false;
    auto updated = ParseRfc3339(cond.value("lastUpdateTime", ""));
    if (!updated || *updated > *applied) return false;
    const int64_t deadline = d.json().value("/spec/progressDeadlineSeconds"_json_pointer, int64_t{600});
    return mgr_.clock().Now() < *applied + std::chrono::seconds(deadline);
  }

  // How a failed Job's pods ended, the first found: "; pod web/migrate-x,
  // container m exited with 1 (Error)"; "" when no pod says (they may be
  // gone). Exit codes and reasons only: a container's message can be
  // anything it wrote, and this goes into a revert's Bosun-Reason.
  static std::string FailedRun(const std::vector<ObjectPtr>& pods) {
    for (const ObjectPtr& p : pods) {
      const Json& st = Member(p->json(), "status");
      for (const char* field : {"initContainerStatuses", "containerStatuses"}) {
        if (!st.contains(field) || !st[field].is_array()) continue;
        for (const Json& c : st[field]) {
          for (const char* when : {"state", "lastState"}) {
            const Json& t = Member(Member(c, when), "terminated");
            if (!t.is_object()) continue;
            const int64_t code = t.value("exitCode", int64_t{0});
            if (code == 0) continue;
            const std::string reason = t.value("reason", "");
            return "; pod " + Key(*p) + ", container " + c.value("name", "") + " exited with " + std::to_string(code) +
                   (reason.empty() ? "" : " (" + reason + ")");
          }
        }
      }
    }
    return "";
  }

  Verdict JudgeJob(const Object& job) const {
    const std::string who = "job " + Key(job);
    if (const Json* c = Condition(job, "Failed"); c != nullptr && c->value("status", "") == "True") {
      return Verdict{Verdict::State::kDegraded, "JobFailed",
                     who + " failed: " + c->value("reason", "") + ": " + c->value("message", "") +
                         FailedRun(pods_.ListOwnedBy(job.uid()))};
    }
    if (const Json* c = Condition(job, "Complete"); c != nullptr && c->value("status", "") == "True") return Verdict{};
    if (auto t = PodTrouble(pods_.ListOwnedBy(job.uid()))) return *t;
    return Verdict{Verdict::State::kWaiting, "", "waiting for " + who + " to complete"};
  }

  // The GitRepository's status.syncConfig.autoRevert (SyncConfig.autoRevert,
  // default on).
  static bool AutoRevertOn(const Object& repo) {
    return repo.json().value("/status/syncConfig/autoRevert"_json_pointer, true);
  }

  // The GitRepository's status.liveResourceVersion: the store revision the
  // live revision's objects were written at (0 when not known).
  static int64_t LiveResourceVersion(const Object& repo) {
    const Json& rv = Member(Member(repo.json(), "status"), "liveResourceVersion");
    return rv.is_string() ? std::atoll(rv.get_ref<const std::string&>().c_str()) : 0;
  }

  // Whether a record's entry for a Deployment started a rollout of it:
  // created or replaced it, or changed its pod template or selector. An
  // update whose diff was cut (or is absent) is taken to have.
  static bool StartsRollout(const Json& entry) {
    const std::string action = entry.value("action", "");
    if (action != "updated") return action == "created" || action == "replaced";
    if (!entry.contains("diff") || !entry["diff"].is_array()) return true;
    for (const Json& d : entry["diff"]) {
      const std::string field = d.is_object() ? d.value("field", "") : "";
      if (field.rfind("spec.template", 0) == 0 || field.rfind("spec.selector", 0) == 0) return true;
    }
    return false;
  }

  // What the applied records after `rev` say of the Deployments they wrote:
  // those they started a rollout of (namespace/name), and the commits they
  // are of. A later record whose list was cut may have started any.
  struct LaterRollouts {
    std::set<std::string> deployments;
    std::set<std::string> commits;
    bool unknown = false;
  };
  LaterRollouts LaterRolloutsAfter(const Object& rev) const {
    LaterRollouts out;
    const std::string& name = rev.name();
    for (const ObjectPtr& r : revisions_.List()) {
      if (RecordKey(r->name()) <= RecordKey(name)) continue;
      const Json& st = Member(r->json(), "status");
      if (!IsAppliedPhase(st.value("phase", ""))) continue;
      out.commits.insert(r->json().value("/spec/commit"_json_pointer, ""));
      if (st.value("truncated", false)) out.unknown = true;
      if (!st.contains("objects") || !st["objects"].is_array()) continue;
      for (const Json& o : st["objects"]) {
        if (o.is_object() && o.value("kind", "") == "Deployment" && StartsRollout(o)) {
          out.deployments.insert(o.value("namespace", "") + "/" + o.value("name", ""));
        }
      }
    }
    return out;
  }

  // `applied_rv`: the store revision the live revision's objects were
  // written at (0 when not known); for a revision no longer `live`, its own
  // write came before. An object a later commit has written since is, for
  // the live revision, one to wait for (that commit is being applied); for
  // one no longer live, that commit's to judge: left out, and when that
  // leaves nothing, the revision is Superseded.
  Verdict Judge(const Object& rev, int64_t applied_rv, bool live) const {
    std::vector<std::string> waiting, deleted, rewritten;
    size_t deployments = 0, jobs = 0;
    std::optional<WallTime> applied;
    if (auto t = ParseRfc3339(rev.json().value("/status/appliedAt"_json_pointer, ""))) applied = *t;
    const std::string commit = rev.json().value("/spec/commit"_json_pointer, "");
    // What to judge the object by: its cached version when that is the
    // revision's own write, or a later one made by hand; null to wait for it
    // (not in the cache yet, or a later commit's write) or when it was
    // deleted since (then it is left out of the verdict and named).
    std::optional<LaterRollouts> later;  // for a revision no longer live, once
    auto judged = [&](const TouchedObject& t, const char* kind, const SharedInformer& informer) -> const Object* {
      if (t.cached && AtRevision(*t.cached, commit)) return t.cached.get();
      const std::string who = std::string(kind) + " " + t.key;
      // Has the cache seen past the revision's write? The write itself left
      // the object at applied_rv: anything newer, or an absence once the
      // watch has delivered everything up to it, came after.
      const bool past = applied_rv > 0 && (t.cached_rv > applied_rv || informer.SeenThrough() >= applied_rv);
      if (past && !t.cached) {
        deleted.push_back(who);
        return nullptr;
      }
      const std::string by = t.cached ? t.cached->annotation(kRevisionAnnotation).value_or("") : "";
      if (past && by.empty()) return t.cached.get();  // replaced by hand: judged as it is now
      if (past && !live) {
        // A later commit that changed its replicas or labels, not its pod
        // template, did not start a rollout of its own: the one under way
        // is still this revision's.
        // (Only when the commit that wrote it is an applied record here: one
        // this cache does not have as applied yet may be that rollout.)
        if (std::string_view(kind) == "deployment") {
          if (!later) later = LaterRolloutsAfter(rev);
          if (!later->unknown && later->commits.count(by) != 0 && later->deployments.count(t.key) == 0) {
            return t.cached.get();
          }
        }
        rewritten.push_back(who + " (by " + ShortSha(by) + ")");
        return nullptr;
      }
      waiting.push_back("waiting for " + who + ": " +
                        (past ? "commit " + ShortSha(by) + " has written it since"
                              : std::string("this revision's change to it is not in the cache yet")));
      return nullptr;
    };
    const std::vector<TouchedObject> touched_deployments = Touched(rev, deployments_, "Deployment");
    const std::vector<TouchedObject> touched_jobs = Touched(rev, jobs_, "Job");
    if (auto w = CacheBehind(rev, deployments_, "Deployment", applied_rv, touched_deployments.size())) {
      waiting.push_back(std::move(*w));
    }
    if (auto w = CacheBehind(rev, jobs_, "Job", applied_rv, touched_jobs.size())) waiting.push_back(std::move(*w));
    // A cut record no longer live: of what it wrote, the objects the cache
    // (seen past the live revision's write) no longer has with its commit
    // were written since by later commits (or deleted): theirs.
    if (!live && waiting.empty() && Member(rev.json(), "status").value("truncated", false)) {
      for (const auto& [kind, found] :
           {std::pair<std::string, size_t>{"Deployment", touched_deployments.size()}, {"Job", touched_jobs.size()}}) {
        const Json& written = Member(Member(rev.json(), "status"), "writtenByKind").value(kind, Json());
        if (written.is_number_integer() && written.get<int64_t>() > static_cast<int64_t>(found)) {
          rewritten.push_back(std::to_string(written.get<int64_t>() - static_cast<int64_t>(found)) + " " + kind +
                              "(s) of the " + std::to_string(written.get<int64_t>()) + " it wrote");
        }
      }
    }
    for (const TouchedObject& d : touched_deployments) {
      const Object* o = judged(d, "deployment", deployments_);
      if (o == nullptr) continue;
      ++deployments;
      Verdict v = JudgeDeployment(*o, applied);
      if (v.state == Verdict::State::kDegraded) return v;
      if (v.state == Verdict::State::kWaiting) waiting.push_back(v.message);
    }
    for (const TouchedObject& j : touched_jobs) {
      const Object* o = judged(j, "job", jobs_);
      if (o == nullptr) continue;
      ++jobs;
      Verdict v = JudgeJob(*o);
      if (v.state == Verdict::State::kDegraded) return v;
      if (v.state == Verdict::State::kWaiting) waiting.push_back(v.message);
    }
    if (!waiting.empty()) {
      std::string msg = waiting.front();
      if (waiting.size() > 1) msg += " (and " + std::to_string(waiting.size() - 1) + " more)";
      return Verdict{Verdict::State::kWaiting, "", msg};
    }
    std::string deleted_names, gone;
    if (!deleted.empty()) {
      deleted_names = deleted.front();
      for (size_t i = 1; i < deleted.size() && i < 5; ++i) deleted_names += ", " + deleted[i];
      if (deleted.size() > 5) deleted_names += " and " + std::to_string(deleted.size() - 5) + " more";
      gone = "; deleted after this revision wrote them, not judged: " + deleted_names;
    }
    if (!rewritten.empty()) {
      std::string by_later = rewritten.front();
      for (size_t i = 1; i < rewritten.size() && i < 5; ++i) by_later += ", " + rewritten[i];
      if (rewritten.size() > 5) by_later += " and " + std::to_string(rewritten.size() - 5) + " more";
      if (deployments == 0 && jobs == 0) {
        // A Degraded one had its verdict: those commits came after it.
        const bool judged = Member(rev.json(), "status").value("phase", "") == phase::kDegraded;
        return Verdict{Verdict::State::kSuperseded, "",
                       std::string("later commits changed all it rolled out") + (judged ? "" : " before its verdict") +
                           ": " + by_later + gone};
      }
      gone += "; changed by later commits since, theirs to judge: " + by_later;
    }
    if (deployments == 0 && jobs == 0 && deleted.empty()) {
      return Verdict{Verdict::State::kDone, "NothingToRollOut", "no pod template or Job changed: nothing to roll out"};
    }
    Verdict done{Verdict::State::kDone, "",
                 std::to_string(deployments) + " deployment(s) rolled out and available, " + std::to_string(jobs) +
                     " job(s) completed" + gone};
    done.judged = deployments + jobs;
    done.deleted = std::move(deleted_names);
    return done;
  }

  // A Degraded revision nothing was reverted for (Unsettled) is judged
  // again, as a person waiting on it would look:
  // - a later commit wrote everything it rolled out (the fix went forward):
  //   Superseded at once;
  // - its Deployments and Jobs are rolled out and available again (an image
  //   pushed late, a node back): Healthy, reason Recovered, once that has
  //   held for opt_.recover_after (a crash-looping container is up between
  //   its restarts).
  // What the Degraded verdict said, and the revert note that is then void,
  // stay in status.degraded. Null when it stays Degraded.
  Result<std::optional<Reconciled>> Resettle(const Object& rev, int64_t applied_rv, bool live) {
    const Json& st = Member(rev.json(), "status");
    if (!Unsettled(st)) return std::optional<Reconciled>();
    Verdict v = Judge(rev, applied_rv, live);
    const auto now = mgr_.clock().Now();
    // Nothing left to judge it by: what it rolled out was deleted since (a
    // later commit pruned it, or a person deleted it) settles it as the fix
    // going forward does; with nothing judged otherwise, it stays.
    if (v.state == Verdict::State::kDone && v.judged == 0) {
      if (v.deleted.empty()) {
        recovering_.erase(rev.name());
        return std::optional<Reconciled>();
      }
      v.state = Verdict::State::kSuperseded;
      v.message = "all it rolled out was deleted since: " + v.deleted;
    }
    if (v.state != Verdict::State::kDone) recovering_.erase(rev.name());
    if (v.state == Verdict::State::kDone) {
      auto it = recovering_.emplace(rev.name(), now).first;
      if (now - it->second < opt_.recover_after) return std::optional<Reconciled>();
    } else if (v.state != Verdict::State::kSuperseded) {
      return std::optional<Reconciled>();
    }
    recovering_.erase(rev.name());
    const bool recovered = v.state == Verdict::State::kDone;
    auto w = ChangeRecordStatus(rev.name(), [&](Json& s) {
      if (!Unsettled(s)) return false;  // reverted meanwhile
      Json was = {{"reason", s.value("reason", "")}, {"message", s.value("message", "")}};
      if (s.contains("degradedAt")) was["at"] = s["degradedAt"];
      if (s.contains("revert")) was["revert"] = s["revert"];
      s.erase("revert");
      s["degraded"] = std::move(was);
      s["phase"] = recovered ? phase::kHealthy : phase::kSuperseded;
      s["reason"] = recovered ? "Recovered" : "Superseded";
      s["message"] = (recovered ? "recovered after it was degraded (" : "superseded after it was degraded (") +
                     s["degraded"].value("reason", "") + "): " + v.message;
      if (recovered) s["healthyAt"] = FormatRfc3339(now);
      return true;
    });
    if (!w) {
      return Error(w.error().code(),
                   "cannot record that revision " + rev.name() + " is no longer degraded: " + w.error().message());
    }
    if (*w) {
      log::Info(kComponent, recovered ? "a degraded revision recovered" : "a degraded revision was superseded",
                {{"revision", rev.name()}});
      mgr_.events().Normal(**w, recovered ? "Recovered" : "Superseded", (*w)->status().value("message", ""));
    }
    return std::optional<Reconciled>(Reconciled::Done());
  }

  // A revision a later one went live over turned Degraded: bosun reverts
  // only the newest applied revision automatically (DESIGN.md §4: the later
  // one may be the fix, or may rely on it); the record says so, and how to
  // revert it by hand.
  // Written once (status.revert closes the record), also with autoRevert
  // off, so the record and `bosun status` say it is left to a person.
  Result<Reconciled> NotReverted(const Object& rev, const Object& repo, const std::string& live_name) {
    const Json& st = Member(rev.json(), "status");
    if (st.contains("revert") || st.contains("revertedBy")) return Reconciled::Done();
    const bool auto_revert = AutoRevertOn(repo);
    // Revisions by number, as `bosun history` shows them (not 00000003).
    const std::string why =
        "revision " + RevisionNumber(live_name) + " is live since; " +
        (auto_revert ? "bosun reverts only the newest applied revision automatically" : "autoRevert is off") +
        " (`bosun revert " + RevisionNumber(rev.name()) + "` reverts this one)";
    auto r = RecordRevert(rev, Json{{"needsHuman", true}, {"error", why}, {"automatic", false}});
    if (r) mgr_.events().Warning(rev, "NotReverted", why);
    return r;
  }

  Result<Reconciled> MaybeAutoRevert(const Object& rev, const Object& repo) {
    const Json& st = Member(rev.json(), "status");
    if (st.contains("revert") || st.contains("revertedBy")) return Reconciled::Done();  // at most once
    const bool auto_revert = AutoRevertOn(repo);
    // `bosun suspend`: bosun changes neither the cluster nor the repository
    // until `bosun resume`, which brings this back here (the GitRepository
    // changes) to revert then.
    // A newer commit is fetched (a fix pushed meanwhile, often while
    // suspended): the sync applies it instead, and a revert of this one on
    // top of it would undo what the fix relies on, or conflict.
    const std::string head = repo.json().value("/status/head"_json_pointer, "");
    if (!auto_revert || RepositorySuspended(repo) ||
        (!head.empty() && head != rev.json().value("/spec/commit"_json_pointer, ""))) {
      // A revert that was being retried is not any more: its note goes.
      if (st.contains("revertPending")) {
        pending_noted_.erase(rev.name());
        auto w = ChangeRecordStatus(rev.name(), [](Json& status) { return status.erase("revertPending") > 0; });
        if (!w) return w.error();
      }
      return Reconciled::Done();
    }
    if (!rev.json().value("/spec/reverts"_json_pointer, "").empty()) {
      log::Warn(kComponent, "a revert is degraded: not reverting it automatically (needs a human)",
                {{"revision", rev.name()}});
      return RecordRevert(rev, Json{{"needsHuman", true},
                                    {"error", "this revision is itself a revert; bosun never reverts a revert "
                                              "automatically"},
                                    {"automatic", true}});
    }
    const Json& parents = rev.json().value("/spec/parents"_json_pointer, Json::array());
    if (!parents.is_array() || parents.empty()) {
      return RecordRevert(rev, Json{{"needsHuman", true},
                                    {"error", "this is the repository's first commit: there is no earlier state to "
                                              "return to"},
                                    {"automatic", true}});
    }
    if (!opt_.revert) return Reconciled::Done();
    // The cache may be behind a sync that has just applied a newer commit:
    // read the repository's status again, from the API.
    auto fresh = mgr_.client()->Get(repos_.kind(), "", "default");
    if (!fresh) return fresh.error();
    const std::string fresh_head = fresh->json().value("/status/head"_json_pointer, "");
    if (fresh->json().value("/status/liveRevisionName"_json_pointer, "") != rev.name() ||
        (!fresh_head.empty() && fresh_head != rev.json().value("/spec/commit"_json_pointer, ""))) {
      return Reconciled::Done();
    }
    return DoRevert(rev, st.value("message", "degraded"), /*automatic=*/true, "", LastHealthyBefore(rev));
  }

  // The newest Healthy revision before `rev` (its name and commit): an
  // automatic revert goes back to it, undoing every commit since, not only
  // rev's own. Commits merged together are applied as one revision, and one
  // applied over another before its verdict carries it: reverting the
  // newest alone would leave the other's change, never judged healthy, live.
  // Empty when there is none in the history (the first revisions, or removed
  // by the history limit): the commit alone is reverted.
  struct BackTo {
    std::string name, commit;
    std::string what;  // what it is to `rev`, for the Event
  };
  BackTo LastHealthyBefore(const Object& rev) const {
    BackTo best;
    // Not across a force-push or a change of what the server follows: the
    // newest record that rewrote the branch (spec.rewrites) or was read from
    // a new source (spec.sourceChangedFrom) up to `rev` is as far back as
    // it goes.
    std::pair<size_t, std::string> barrier{0, ""};
    const auto records = revisions_.List();
    for (const ObjectPtr& r : records) {
      if (RecordKey(r->name()) <= RecordKey(rev.name()) &&
          (r->json().contains("/spec/rewrites"_json_pointer) ||
           r->json().contains("/spec/sourceChangedFrom"_json_pointer))) {
        barrier = std::max(barrier, RecordKey(r->name()));
      }
    }
    for (const ObjectPtr& r : records) {
      if (RecordKey(r->name()) >= RecordKey(rev.name()) || RecordKey(r->name()) < barrier) continue;
      if (Member(r->json(), "status").value("phase", "") != phase::kHealthy) continue;
      if (!best.name.empty() && RecordKey(r->name()) <= RecordKey(best.name)) continue;
      best = {r->name(), r->json().value("/spec/commit"_json_pointer, ""), "the last healthy one"};
    }
    return UnlessParent(rev, std::move(best));
  }

  // What was live when `rev` was applied (spec.liveBefore, and the record of
  // it when it is still in the history): a revert by hand undoes what the
  // revision applied, the commits it brought that were not applied on their
  // own (merged together, or refused) as well. Empty when rev was applied
  // over its own parent, or its record does not say.
  BackTo LiveBefore(const Object& rev) const {
    BackTo before{"", rev.json().value("/spec/liveBefore"_json_pointer, ""), "live before it"};
    if (before.commit.empty() || rev.json().contains("/spec/rewrites"_json_pointer) ||
        rev.json().contains("/spec/sourceChangedFrom"_json_pointer)) {
      return {};
    }
    for (const ObjectPtr& r : revisions_.List()) {
      if (RecordKey(r->name()) >= RecordKey(rev.name())) continue;
      if (r->json().value("/spec/commit"_json_pointer, "") != before.commit) continue;
      if (!IsAppliedPhase(Member(r->json(), "status").value("phase", ""))) continue;
      if (before.name.empty() || RecordKey(r->name()) > RecordKey(before.name)) before.name = r->name();
    }
    return UnlessParent(rev, std::move(before));
  }

  // Going back to the reverted commit's own parent is reverting it alone.
  static BackTo UnlessParent(const Object& rev, BackTo back_to) {
    if (back_to.commit.empty()) return {};
    const Json& parents = rev.json().value("/spec/parents"_json_pointer, Json::array());
    if (parents.is_array() && !parents.empty() && parents[0] == back_to.commit) return {};
    return back_to;
  }

  Result<Reconciled> DoRevert(const Object& rev, const std::string& reason, bool automatic,
                              const std::string& request_id, const BackTo& back_to) {
    const std::string commit = rev.json().value("/spec/commit"_json_pointer, "");
    log::Info(kComponent, automatic ? "reverting a degraded revision" : "reverting a revision on request",
              {{"revision", rev.name()},
               {"rev", ShortSha(commit)},
               {"back_to", back_to.commit.empty() ? "(its parent)" : ShortSha(back_to.commit)},
               {"reason", reason}});
    auto r = opt_.revert(commit, back_to.commit, reason);
    Json rec = {{"automatic", automatic}, {"reason", reason}, {"at", FormatRfc3339(mgr_.clock().Now())}};
    if (!request_id.empty()) rec["request"] = request_id;
    if (r) {
      rec["commit"] = r->commit;
      if (r->pushed_before) rec["pushedBefore"] = true;
      // The sync may have refused the revert already (it fetched and
      // applied it before this note was written): said here, as the sync
      // would have.
      for (const ObjectPtr& other : revisions_.List()) {
        const std::string p = Member(other->json(), "status").value("phase", "");
        if (other->json().value("/spec/commit"_json_pointer, "") == r->commit &&
            (p == phase::kRefused || p == phase::kFailed)) {
          rec["notApplied"] = {{"revision", other->name()},
                               {"reason", Member(other->json(), "status").value("reason", p)}};
          rec["needsHuman"] = true;
        }
      }
      std::string what = "reverting " + ShortSha(commit);
      if (!r->back_to.empty()) {
        // Back to the last healthy revision: every commit since.
        rec["backTo"] = {{"commit", r->back_to}, {"commits", r->commits}};
        if (r->back_to == back_to.commit && !back_to.name.empty()) rec["backTo"]["revision"] = back_to.name;
        const size_t earlier = r->commits - 1;
        what += " and " + std::to_string(earlier) + " earlier commit" + (earlier == 1 ? "" : "s") + ", back to " +
                ShortSha(r->back_to) +
                (r->back_to != back_to.commit ? ""
                 : back_to.name.empty()       ? " (" + back_to.what + ")"
                                              : " (revision " + back_to.name + ", " + back_to.what + ")");
      }
      mgr_.events().Normal(rev, "Reverted",
                           (r->pushed_before ? "found " + ShortSha(r->commit) + ", pushed before, "
                                             : "pushed " + ShortSha(r->commit) + " ") +
                               what + ": " + reason);
    } else if (r.error().code() == Code::kAlreadyExists) {
      // The branch head already undoes it (a fix pushed first): nothing to
      // push, and nothing for a person to do.
      rec["message"] = r.error().message();
      rec["notNeeded"] = true;
      mgr_.events().Normal(rev, "RevertNotNeeded",
                           "no revert of " + ShortSha(commit) + " needed: " + r.error().message());
    } else if (r.error().code() != Code::kUnavailable && r.error().code() != Code::kTimeout &&
               r.error().code() != Code::kIo) {
      rec["error"] = r.error().message();
      rec["needsHuman"] = true;
      mgr_.events().Warning(rev, "RevertFailed", "cannot revert " + ShortSha(commit) + ", needs a human: " +
                                                    r.error().message());
    } else {
      // Transient (the remote down): retried with back-off. Said in the
      // record meanwhile (status.revertPending; `bosun status` shows it), and
      // once per new error as an Event, so the on-call engineer does not
      // wait on a revert that cannot be pushed yet.
      const std::string error = r.error().message();
      const MonoTime now = mgr_.clock().Monotonic();
      auto last = pending_noted_.find(rev.name());
      if (last != pending_noted_.end() && now - last->second < std::chrono::minutes(1)) return r.error();
      pending_noted_[rev.name()] = now;
      auto noted = ChangeRecordStatus(rev.name(), [&](Json& status) {
        // An automatic revert is tried once; a request by hand may follow
        // an earlier note (needs a human), and is what is pending now.
        if (automatic && status.contains("revert")) return false;
        Json& pending = status["revertPending"];
        if (pending.is_object() && pending.value("error", "") == error) return false;
        if (!pending.is_object()) pending = {{"since", FormatRfc3339(mgr_.clock().Now())}};
        pending["error"] = error;
        pending["automatic"] = automatic;
        return true;
      });
      if (noted && *noted) {
        mgr_.events().Warning(rev, "RevertPending",
                              "cannot push the revert of " + ShortSha(commit) + " yet, retrying: " + error);
      }
      return r.error();
    }
    pending_noted_.erase(rev.name());
    auto w = RecordRevert(rev, rec);
    if (r && opt_.trigger_sync) opt_.trigger_sync();
    return w;
  }

  Result<Reconciled> RecordRevert(const Object& rev, const Json& rec) {
    auto w = ChangeRecordStatus(rev.name(), [&](Json& status) {
      status["revert"] = rec;
      status.erase("revertPending");
      return true;
    });
    if (!w)
      return Error(w.error().code(), "cannot record the revert on revision " + rev.name() + ": " + w.error().message());
    return Reconciled::Done();
  }

  // reconciler::ChangeRecordStatus (5 tries); the cache gets the result.
  Result<std::optional<Object>> ChangeRecordStatus(const std::string& name, const std::function<bool(Json&)>& change) {
    auto w = reconciler::ChangeRecordStatus(*mgr_.client(), name, change, 5);
    if (w && *w) revisions_.Store(**w);
    return w;
  }

  Result<Reconciled> HandleManualRevertImpl(const Object& rev) {
    auto ann = rev.annotation(kRevertRequestedAnnotation);
    if (!ann) return Reconciled::Done();
    Json req = Json::parse(*ann, nullptr, false);
    std::string id = req.is_object() ? req.value("id", "") : *ann;
    std::string reason = req.is_object() ? req.value("reason", "") : "";
    if (rev.json().value("/status/revert/request"_json_pointer, "") == id) return Reconciled::Done();  // answered
    if (reason.empty()) reason = "reverted by hand";
    if (!opt_.revert) {
      return RecordRevert(rev, Json{{"request", id},
                                    {"automatic", false},
                                    {"error", "this cluster follows no Git branch it can push to (no --repo)"},
                                    {"needsHuman", true}});
    }
    return DoRevert(rev, reason, /*automatic=*/false, id, LiveBefore(rev));
  }

  Status HandleManualRevert(const Object& rev) {
    auto r = HandleManualRevertImpl(rev);
    if (!r) return r.error();
    return Ok();
  }

  ControllerManager& mgr_;
  const RevisionHealthOptions opt_;
  SharedInformer& revisions_;
  SharedInformer& repos_;
  SharedInformer& deployments_;
  SharedInformer& replicasets_;
  SharedInformer& pods_;
  SharedInformer& jobs_;
  Controller* controller_ = nullptr;
  std::mutex open_mu_;
  std::set<std::string> open_;  // Open records, by name
  // Unsettled records that are not Open (Degraded, with a revert note but
  // none pushed), by name: looked at every recover_after, and when a
  // revision is applied.
  std::set<std::string> left_;
  // Degraded records whose rollout is available again, since when
  // (Resettle). Touched by Reconcile only (one worker).
  std::map<std::string, WallTime> recovering_;
  // When this controller first saw each run of a new pod's container running
  // (NotUpLongEnough), by pod uid/container/run. Touched by Reconcile only.
  mutable std::map<std::string, WallTime> first_running_;
  // When a revert that could not be pushed yet was last noted in its record
  // (status.revertPending), by record name: at most once a minute, as each
  // note wakes this controller again. Touched by Reconcile only.
  std::map<std::string, MonoTime> pending_noted_;
};

}  // namespace

Status AddRevisionHealthController(ControllerManager& mgr, RevisionHealthOptions options) {
  auto h = std::make_shared<HealthController>(mgr, std::move(options));
  h->Register(h);
  return Ok();
}

}  // namespace bosun::reconciler
