#include "core/manifest_filter.h"

#include <functional>

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

// One name (no '/') against one pattern component. '*' and '?' stay within
// the name, so the classic single-backtrack match is exact and linear-ish:
// a pattern such as "*a*a*a*a*b" cannot make it explode (a crafted
// .bosunignore must not stall the sync).
bool MatchName(std::string_view glob, std::string_view text) {
  size_t g = 0, t = 0;
  size_t star_g = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (g < glob.size()) {
      const char c = glob[g];
      if (c == '*') {
        while (g < glob.size() && glob[g] == '*') ++g;
        star_g = g;
        star_t = t;
        continue;
      }
      size_t used = 1;
      bool ok = false;
      if (c == '?') {
        ok = true;
      } else if (c == '[') {
        size_t class_used = 0;
        ok = MatchClass(glob.substr(g), text[t], &class_used);
        if (class_used > 0) {
          used = class_used;
        } else {
          ok = text[t] == '[';  // not a class: a plain '['
        }
      } else if (c == '\\' && g + 1 < glob.size()) {
        ok = glob[g + 1] == text[t];
        used = 2;
      } else {
        ok = c == text[t];
      }
      if (ok) {
        g += used;
        ++t;
        continue;
      }
    }
    if (star_g == std::string_view::npos) return false;
    g = star_g;  // the last '*' takes one more character
    t = ++star_t;
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

std::vector<std::string_view> SplitPath(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

}  // namespace

bool GlobMatch(std::string_view glob, std::string_view text) {
  const std::vector<std::string_view> g = SplitPath(glob), t = SplitPath(text);
  // memo[i * (t.size() + 1) + j]: 0 unknown, 1 no, 2 yes — components i.. of
  // the glob against j.. of the text, so any number of "**" stays polynomial.
  std::vector<char> memo((g.size() + 1) * (t.size() + 1), 0);
  std::function<bool(size_t, size_t)> match = [&](size_t i, size_t j) -> bool {
    char& m = memo[i * (t.size() + 1) + j];
    if (m != 0) return m == 2;
    bool ok = false;
    if (i == g.size()) {
      ok = j == t.size();
    } else if (g[i] == "**") {
      // Any number of whole folders; a trailing "/**" at least one name
      // (everything inside, not the folder itself).
      const bool last = i + 1 == g.size();
      for (size_t k = j + (last && i > 0 ? 1 : 0); k <= t.size() && !ok; ++k) ok = match(i + 1, k);
    } else {
      ok = j < t.size() && MatchName(g[i], t[j]) && match(i + 1, j + 1);
    }
    m = ok ? 2 : 1;
    return ok;
  };
  return match(0, 0);
}

ManifestFilter::ManifestFilter(std::string_view ignore_file) {
  if (ignore_file.starts_with("\xEF\xBB\xBF")) ignore_file.remove_prefix(3);  // a UTF-8 BOM, as git skips it
  size_t start = 0;
  while (start < ignore_file.size()) {
    size_t end = ignore_file.find('\n', start);
    if (end == std::string_view::npos) end = ignore_file.size();
    std::string_view line = ignore_file.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Trailing spaces are not part of the pattern unless escaped ("\ ").
    while (!line.empty() && line.back() == ' ') {
      size_t backslashes = 0;
      for (size_t i = line.size() - 1; i > 0 && line[i - 1] == '\\'; --i) ++backslashes;
      if (backslashes % 2 == 1) break;
      line.remove_suffix(1);
    }
    if (line.empty() || line[0] == '#') continue;
    // A pattern ending in a lone backslash matches nothing, as in git.
    {
      size_t backslashes = 0;
      for (size_t i = line.size(); i > 0 && line[i - 1] == '\\'; --i) ++backslashes;
      if (backslashes % 2 == 1) continue;
    }
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

void ManifestFilter::AddNested(std::string_view folder, std::string_view ignore_file) {
  // The folder's name as a glob that matches only itself.
  std::string base;
  for (char c : folder) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') base += '\\';
    base += c;
  }
  for (Pattern& p : ManifestFilter(ignore_file).patterns_) {
    // "x" matches a name at any depth under the folder, "/x" and "a/x"
    // from the folder.
    p.glob = base + (p.anchored ? "/" : "/**/") + p.glob;
    p.anchored = true;
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
