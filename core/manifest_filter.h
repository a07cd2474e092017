// core/manifest_filter.h — which files of a folder bosun reads as manifests
// (docs/GITOPS.md "Which files are read"). One rule for every reader: the
// sync reading a commit's tree, `bosun diff --revision` reading a local
// repository, and `bosun validate|diff|apply` reading a folder on disk.
//
// A file is read when its name ends in .yaml, .yml or .json, no part of its
// path starts with '.' (dot-files and dot-folders such as .github/ are never
// manifests), and the folder's `.bosunignore` does not exclude it.
//
// A `.bosunignore` may sit in the folder bosun follows (the sync's path, or
// the folder given to validate and diff) and in any folder under it, as a
// .gitignore may; each one's patterns are relative to its own folder, and a
// deeper one's take precedence. It uses gitignore's pattern syntax, as Flux's
// .sourceignore does:
//   - blank lines and lines starting with '#' are skipped ("\#" for a '#');
//   - "!" re-includes what an earlier pattern excluded (not inside an
//     excluded folder, as in git);
//   - a trailing "/" matches folders only;
//   - a pattern with a "/" at its start or middle is relative to the folder
//     of its .bosunignore, any other matches a name at any depth under it;
//   - "*" and "?" do not match "/"; "[a-z]" and "[!a-z]" match one character;
//     "**/" matches any number of folders, a trailing "/**" everything inside.
// The last pattern that matches a path decides.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bosun {

inline constexpr const char* kIgnoreFileName = ".bosunignore";

class ManifestFilter {
 public:
  // No ignore file: every manifest file that is not under a dot-name.
  ManifestFilter() = default;
  // The text of a .bosunignore.
  explicit ManifestFilter(std::string_view ignore_file);

  // Adds the .bosunignore of `folder` (relative to the followed folder,
  // "apps/web"): its patterns, taken relative to that folder, come after
  // (and so win over) those of the folders above it. Add a folder's file
  // after its parents'.
  void AddNested(std::string_view folder, std::string_view ignore_file);

  // `path` is relative to the followed folder, with '/' between names:
  // "apps/web/deploy.yaml".
  bool Includes(std::string_view path) const;
  // Whether the ignore file excludes `path` (a folder when `folder`); the
  // file-name and dot rules are not applied.
  bool Ignored(std::string_view path, bool folder) const;
  size_t patterns() const { return patterns_.size(); }

 private:
  struct Pattern {
    std::string glob;
    bool negate = false;
    bool folder_only = false;
    bool anchored = false;  // a path from the followed folder, not matched by name
  };
  std::vector<Pattern> patterns_;
};

// Shell-style matching of `text` against `glob` as .bosunignore defines it.
bool GlobMatch(std::string_view glob, std::string_view text);

}  // namespace bosun
