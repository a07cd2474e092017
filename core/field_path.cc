#include "core/field_path.h"

#include "core/field_steps.h"

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

Result<std::vector<FieldStep>> ParseFieldPath(std::string_view path) {
  std::vector<FieldStep> steps;
  auto fail = [&](size_t at, const std::string& why) {
    return Error(Code::kInvalid, "\"" + std::string(path) + "\" is not a field path: " + why + " at character " +
                                     std::to_string(at + 1));
  };
  if (path.empty()) return Error(Code::kInvalid, "a field path cannot be empty");
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[') {
      size_t close = path.find(']', i + 1);
      if (close == std::string_view::npos) return fail(i, "a '[' without its ']'");
      std::string_view inside = path.substr(i + 1, close - i - 1);
      if (inside.empty()) return fail(i, "an empty '[]'");
      FieldStep step;
      if (inside == "*") {
        step.kind = FieldStep::Kind::kEveryIndex;
      } else if (inside.find_first_not_of("0123456789") == std::string_view::npos) {
        if (inside.size() > 9) return fail(i + 1, "an index too large");
        step.kind = FieldStep::Kind::kIndex;
        step.index = static_cast<size_t>(std::stoul(std::string(inside)));
      } else {
        step.key = std::string(inside);
      }
      steps.push_back(std::move(step));
      i = close + 1;
      if (i < path.size() && path[i] != '.' && path[i] != '[') return fail(i, "a '.' or '[' expected after ']'");
      if (i < path.size() && path[i] == '.') {
        ++i;
        if (i == path.size()) return fail(i - 1, "a '.' at the end");
      }
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view key = path.substr(i, end - i);
    if (key.empty()) return fail(i, "an empty name");
    if (!IsPlainKey(key)) return fail(i, "\"" + std::string(key) + "\" needs brackets ([" + std::string(key) + "])");
    steps.push_back(FieldStep{FieldStep::Kind::kKey, std::string(key), 0});
    i = end;
    if (i < path.size() && path[i] == '.') {
      ++i;
      if (i == path.size()) return fail(i - 1, "a '.' at the end");
    }
  }
  return steps;
}

std::vector<std::string> SplitFieldList(std::string_view list) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= list.size()) {
    // A comma inside brackets is part of a map key (data[a,b]).
    size_t comma = i;
    for (int depth = 0; comma < list.size() && (list[comma] != ',' || depth > 0); ++comma) {
      if (list[comma] == '[') ++depth;
      if (list[comma] == ']' && depth > 0) --depth;
    }
    std::string_view item = list.substr(i, comma - i);
    const size_t first = item.find_first_not_of(" \t\r\n");
    item = first == std::string_view::npos ? std::string_view() : item.substr(first);
    item = item.substr(0, item.find_last_not_of(" \t\r\n") + 1);
    if (!item.empty()) out.emplace_back(item);
    i = comma + 1;
  }
  return out;
}

std::string OwnedFieldError(std::string_view path) {
  auto steps = ParseFieldPath(path);
  if (!steps) return steps.error().message();
  const FieldStep& top = steps->front();
  const std::string quoted = "\"" + std::string(path) + "\"";
  if (top.kind != FieldStep::Kind::kKey) return quoted + " must start with a field name, such as spec";
  for (const char* no : {"metadata", "status", "apiVersion", "kind"}) {
    if (top.key == no) {
      return quoted + ": " + no + " is not a field the cluster can own; name one under spec, data or the like";
    }
  }
  return "";
}

std::vector<std::string> OwnedFieldErrors(std::string_view list) {
  std::vector<std::string> out;
  std::vector<std::string> fields = SplitFieldList(list);
  if (fields.empty()) out.push_back("names no field: list field paths such as spec.replicas, separated by commas");
  for (const std::string& f : fields) {
    if (std::string why = OwnedFieldError(f); !why.empty()) out.push_back(std::move(why));
  }
  return out;
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
