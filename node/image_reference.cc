// Image references ("busybox", "127.0.0.1:5000/web:1", "name@sha256:…") as
// Docker normalizes them, and Kubernetes' imagePullPolicy.
#include <cctype>
#include <string>

#include "node/image_internal.h"

namespace bosun::node {
namespace image_internal {
namespace {

bool ValidRepository(const std::string& repo) {
  if (repo.empty() || repo.size() > 255) return false;
  size_t start = 0;
  while (start <= repo.size()) {
    size_t slash = repo.find('/', start);
    std::string comp = repo.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (comp.empty()) return false;
    if (!std::isalnum(static_cast<unsigned char>(comp.front())) ||
        !std::isalnum(static_cast<unsigned char>(comp.back())))
      return false;
    for (char c : comp) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

bool ValidTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 128) return false;
  if (!(std::isalnum(static_cast<unsigned char>(tag[0])) || tag[0] == '_')) return false;
  for (char c : tag) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool ValidRegistry(const std::string& host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
      return false;
  }
  return true;
}

}  // namespace

bool IsDigest(std::string_view s) {
  if (s.size() != 71 || s.substr(0, 7) != "sha256:") return false;
  for (char c : s.substr(7)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Reference::String() const {
  std::string s = Name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<Reference> ParseReference(const std::string& input) {
  auto bad = [&](const std::string& why) {
    return Error(Code::kInvalid, "image reference \"" + input + "\": " + why);
  };
  if (input.empty()) return bad("empty");
  Reference r;
  std::string name = input;
  size_t at = name.find('@');
  if (at != std::string::npos) {
    r.digest = name.substr(at + 1);
    name = name.substr(0, at);
    if (!IsDigest(r.digest)) return bad("the digest must be sha256: and 64 lowercase hex digits");
  }
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (!ValidTag(r.tag)) return bad("tag \"" + r.tag + "\" is not valid (letters, digits, '_', '.', '-')");
  }
  size_t first = name.find('/');
  std::string head = first == std::string::npos ? "" : name.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos || head.find(':') != std::string::npos ||
                        head == "localhost")) {
    r.registry = head;
    r.repository = name.substr(first + 1);
    if (!ValidRegistry(r.registry)) return bad("registry \"" + r.registry + "\" is not a host[:port]");
  } else {
    r.registry = "docker.io";
    r.repository = name;
  }
  if (r.registry == "index.docker.io" || r.registry == "registry-1.docker.io") r.registry = "docker.io";
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) {
    r.repository = "library/" + r.repository;
  }
  if (!ValidRepository(r.repository)) {
    return bad("repository \"" + r.repository +
               "\" is not valid (lowercase letters, digits and '.', '_', '-' between '/'-separated parts)");
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

std::string RegistryHost(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

}  // namespace image_internal

Result<std::string> NormalizeReference(const std::string& ref) {
  auto r = image_internal::ParseReference(ref);
  if (!r) return r.error();
  return r->String();
}

PullPolicy DefaultPullPolicy(const std::string& ref) {
  auto r = image_internal::ParseReference(ref);
  if (!r) return PullPolicy::kIfNotPresent;
  // Kubernetes: ":latest" or no tag means Always, unless a digest pins it.
  if (!r->digest.empty()) return PullPolicy::kIfNotPresent;
  return r->tag == "latest" ? PullPolicy::kAlways : PullPolicy::kIfNotPresent;
}

Result<PullPolicy> ParsePullPolicy(const std::string& s) {
  if (s == "Always") return PullPolicy::kAlways;
  if (s == "IfNotPresent") return PullPolicy::kIfNotPresent;
  if (s == "Never") return PullPolicy::kNever;
  return Error(Code::kInvalid, "imagePullPolicy \"" + s + "\": must be Always, IfNotPresent or Never");
}

}  // namespace bosun::node
