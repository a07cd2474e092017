#include "reconciler/events.h"

#include <algorithm>

#include "core/kinds.h"
#include "core/log.h"
#include "reconciler/controller.h"

namespace bosun::reconciler {

Status AddEventTtlController(ControllerManager& mgr, std::chrono::milliseconds ttl) {
  const KindInfo* kind = KindRegistry::Builtin().FindKind("Event");
  const auto period = std::max<std::chrono::milliseconds>(ttl / 12, std::chrono::seconds(1));
  state::Client* client = mgr.client();
  Clock* clock = &mgr.clock();
  if (client == nullptr) return Ok();
  Controller& c = mgr.Add(std::make_unique<Controller>(
      "event-ttl", 1, [=](const std::string&) -> Result<Reconciled> {
        const std::string cutoff = FormatRfc3339(clock->Now() - ttl);
        std::vector<state::BatchOp> ops;
        std::string cont;
        size_t deleted = 0;
        do {
          auto page = client->List(*kind, "", {}, 500, cont);
          if (!page) return page.error();
          for (const Object& e : page->items) {
            const Json& last = Object::Field(e.json(), "lastTimestamp");
            // RFC 3339 UTC stamps of one format order as strings.
            if (!last.is_string() || last.get<std::string>() >= cutoff) continue;
            state::BatchOp op;
            op.type = state::BatchOp::Type::kDelete;
            op.kind = kind;
            op.ns = e.namespace_();
            op.name = e.name();
            ops.push_back(std::move(op));
          }
          cont = page->continue_token;
          if (ops.size() >= 500 || (cont.empty() && !ops.empty())) {
            // Deleted meanwhile by someone else: the batch fails whole; the next round retries.
            if (auto r = client->Batch(ops); r) deleted += ops.size();
            ops.clear();
          }
        } while (!cont.empty());
        if (deleted > 0) log::Info("event-ttl", "deleted old Events", {{"count", std::to_string(deleted)}});
        return Reconciled::After(period);
      }));
  c.Enqueue("events");
  return Ok();
}

}  // namespace bosun::reconciler
