#include "reconciler/system_namespace.h"

#include "core/kinds.h"
#include "core/object.h"

namespace bosun::reconciler {

Status EnsureNamespace(state::Client& client, const std::string& name) {
  auto got = client.Get(*KindRegistry::Builtin().FindKind("Namespace"), "", name);
  if (got) return Ok();
  if (got.error().code() != Code::kNotFound) return got.error();
  Object ns(GroupVersionKind{"", "v1", "Namespace"}, "", name);
  auto made = client.Create(ns);
  if (!made && made.error().code() != Code::kAlreadyExists) return made.error();
  return Ok();
}

}  // namespace bosun::reconciler
