// core/field_path.h — field paths and source positions.
//
// A FieldPath names a value inside an object the way Kubernetes error messages
// do: `spec.template.spec.containers[0].image`, and map keys that are not plain
// identifiers in brackets: `metadata.labels[app.kubernetes.io/name]`. The same
// rendering is used by the YAML loader (to remember where each value came from)
// and by validation (to say which value is wrong), so a path is also the key
// into a SourceMap.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bosun {

class FieldPath {
 public:
  FieldPath() = default;
  explicit FieldPath(std::string rendered) : s_(std::move(rendered)) {}

  // `a` + "b" → `a.b`; `a` + "x/y" → `a[x/y]`.
  FieldPath Child(std::string_view key) const;
  // `a` + 3 → `a[3]`.
  FieldPath Index(size_t i) const;
  // `a.b[2]` → `a.b`; the root's parent is the root.
  FieldPath Parent() const;

  bool empty() const { return s_.empty(); }
  const std::string& str() const { return s_; }
  // The root renders as "<root>" in messages.
  std::string Display() const { return s_.empty() ? std::string("<root>") : s_; }

  bool operator==(const FieldPath& o) const { return s_ == o.s_; }

 private:
  std::string s_;
};

// A 1-based line and column in a source file; 0 means unknown.
struct SourcePos {
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
};

// Where each value of one document came from.
class SourceMap {
 public:
  void Record(const FieldPath& path, SourcePos pos) { map_.emplace(path.str(), pos); }
  // The position of the value at `path`; when that value is absent (a required
  // field that is missing), the position of its nearest present ancestor.
  SourcePos Find(const FieldPath& path) const;
  size_t size() const { return map_.size(); }

 private:
  std::unordered_map<std::string, SourcePos> map_;
};

}  // namespace bosun
