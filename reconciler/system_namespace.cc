#include "reconciler/system_namespace.h"

#include "core/kinds.h"
#include "core/object.h"

namespace bosun::reconciler {

Status EnsureSystemNamespace(state::Client& client) {
  auto got = client.Get(*KindRegistry::Builtin().FindKind("Namespace"), "", kBosunSystemNamespace);
  if (got) return Ok();
  if (got.error().code() != Code::kNotFound) return got.error();
  Object ns(GroupVersionKind{"", "v1", "Namespace"}, "", kBosunSystemNamespace);
  auto made = client.Create(ns);
  if (!made && made.error().code() != Code::kAlreadyExists) return made.error();
  return Ok();
}

}  // namespace bosun::reconciler
