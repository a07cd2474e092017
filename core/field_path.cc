#include "core/field_path.h"

namespace bosun {
namespace {
bool IsPlainKey(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '$';
    if (!ok) return false;
  }
  return true;
}
}  // namespace

FieldPath FieldPath::Child(std::string_view key) const {
  std::string s;
  s.reserve(s_.size() + key.size() + 2);
  s = s_;
  if (IsPlainKey(key)) {
    if (!s.empty()) s.push_back('.');
    s.append(key);
  } else {
    s.push_back('[');
    s.append(key);
    s.push_back(']');
  }
  return FieldPath(std::move(s));
}

FieldPath FieldPath::Index(size_t i) const {
  std::string s = s_;
  s.push_back('[');
  s += std::to_string(i);
  s.push_back(']');
  return FieldPath(std::move(s));
}

FieldPath FieldPath::Parent() const {
  if (s_.empty()) return *this;
  size_t cut;
  if (s_.back() == ']') {
    cut = s_.rfind('[');
  } else {
    cut = s_.find_last_of(".[");
    if (cut != std::string::npos && s_[cut] == '[') {
      // "a[x]b" cannot happen; '.' always separates a plain child.
      cut = std::string::npos;
    }
  }
  if (cut == std::string::npos) return FieldPath();
  return FieldPath(s_.substr(0, cut));
}

SourcePos SourceMap::Find(const FieldPath& path) const {
  FieldPath p = path;
  while (true) {
    auto it = map_.find(p.str());
    if (it != map_.end()) return it->second;
    if (p.empty()) return SourcePos{};
    p = p.Parent();
  }
}

}  // namespace bosun
