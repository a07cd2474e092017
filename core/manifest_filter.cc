#include "core/manifest_filter.h"

#include "core/manifests.h"

namespace bosun {
namespace {

// One "[...]" class at the start of `glob` against `c`. `used` gets the
// class's length; false with used 0 when the class is not closed (the '['
// is then an ordinary character).
bool MatchClass(std::string_view glob, char c, size_t* used) {
  *used = 0;
  size_t i = 1;
  bool negate = false;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  for (; i < glob.size(); ++i) {
    if (glob[i] == ']' && !first) {
      *used = i + 1;
      return matched != negate && c != '/';
    }
    first = false;
    char lo = glob[i];
    if (lo == '\\' && i + 1 < glob.size()) lo = glob[++i];
    char hi = lo;
    if (i + 2 < glob.size() && glob[i + 1] == '-' && glob[i + 2] != ']') {
      hi = glob[i + 2];
      i += 2;
    }
    if (c >= lo && c <= hi) matched = true;
  }
  return false;
}

}  // namespace

bool GlobMatch(std::string_view glob, std::string_view text) {
  while (!glob.empty()) {
    if (glob.starts_with("**")) {
      std::string_view rest = glob.substr(2);
      if (rest.empty()) return true;  // everything, across folders
      if (rest[0] == '/') {
        // Zero or more whole folders.
        rest.remove_prefix(1);
        for (size_t i = 0;;) {
          if (GlobMatch(rest, text.substr(i))) return true;
          size_t slash = text.find('/', i);
          if (slash == std::string_view::npos) return false;
          i = slash + 1;
        }
      }
      glob.remove_prefix(1);  // "**x" is "*x"
      continue;
    }
    const char c = glob[0];
    if (c == '*') {
      glob.remove_prefix(1);
      for (size_t i = 0; i <= text.size(); ++i) {
        if (GlobMatch(glob, text.substr(i))) return true;
        if (i < text.size() && text[i] == '/') return false;
      }
      return false;
    }
    if (text.empty()) return false;
    if (c == '?') {
      if (text[0] == '/') return false;
      glob.remove_prefix(1);
      text.remove_prefix(1);
      continue;
    }
    if (c == '[') {
      size_t used = 0;
      bool ok = MatchClass(glob, text[0], &used);
      if (used > 0) {
        if (!ok) return false;
        glob.remove_prefix(used);
        text.remove_prefix(1);
        continue;
      }
    }
    char want = c;
    if (c == '\\' && glob.size() > 1) {
      want = glob[1];
      glob.remove_prefix(1);
    }
    if (want != text[0]) return false;
    glob.remove_prefix(1);
    text.remove_prefix(1);
  }
  return text.empty();
}

ManifestFilter::ManifestFilter(std::string_view ignore_file) {
  size_t start = 0;
  while (start < ignore_file.size()) {
    size_t end = ignore_file.find('\n', start);
    if (end == std::string_view::npos) end = ignore_file.size();
    std::string_view line = ignore_file.substr(start, end - start);
    start = end + 1;
    // Trailing spaces (and a CR) are not part of the pattern unless escaped.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      if (line.back() == ' ' && line.size() >= 2 && line[line.size() - 2] == '\\') break;
      line.remove_suffix(1);
    }
    if (line.empty() || line[0] == '#') continue;
    Pattern p;
    if (line[0] == '!') {
      p.negate = true;
      line.remove_prefix(1);
    } else if (line[0] == '\\' && line.size() > 1 && (line[1] == '!' || line[1] == '#')) {
      line.remove_prefix(1);
    }
    if (!line.empty() && line.back() == '/') {
      p.folder_only = true;
      while (!line.empty() && line.back() == '/') line.remove_suffix(1);
    }
    if (line.empty()) continue;
    if (line.find('/') != std::string_view::npos) {
      p.anchored = true;
      while (line.starts_with("/")) line.remove_prefix(1);
    }
    if (line.empty()) continue;
    p.glob = std::string(line);
    patterns_.push_back(std::move(p));
  }
}

bool ManifestFilter::Ignored(std::string_view path, bool folder) const {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  bool ignored = false;
  for (const Pattern& p : patterns_) {
    if (p.folder_only && !folder) continue;
    if (p.negate != ignored) continue;  // cannot change the answer
    if (GlobMatch(p.glob, p.anchored ? path : name)) ignored = !p.negate;
  }
  return ignored;
}

bool ManifestFilter::Includes(std::string_view path) const {
  if (!IsManifestFile(std::string(path))) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    if (path.size() > start && path[start] == '.') return false;
    if (slash == std::string_view::npos) break;
    // A folder excluded excludes everything in it; nothing inside can be
    // re-included.
    if (!patterns_.empty() && Ignored(path.substr(0, slash), true)) return false;
    start = slash + 1;
  }
  return patterns_.empty() || !Ignored(path, false);
}

}  // namespace bosun
