// gitsync/mirror.cc — opening a mirror, and reading commits and history from
// it. Fetching is in mirror_fetch.cc, trees and diffs in mirror_tree.cc.
#include "gitsync/mirror.h"

#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/ascii.h"
#include "core/log.h"
#include "crypto/tokens.h"
#include "gitsync/mirror_internal.h"

namespace bosun::gitsync {

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Only the mirror's own config counts: not the user's ~/.gitconfig, the
    // XDG one or /etc/gitconfig, whose url.<x>.insteadOf (or proxy, or
    // credential settings) would change where and how bosun fetches.
    for (int level :
         {GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_PROGRAMDATA}) {
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    }
    RegisterWatchedStream();
  });
}

Status ReadSecretFile(const std::string& path, const char* what, std::string* out) {
  if (path.empty()) return Ok();
  std::ifstream in(path);
  if (!in) return Error(Code::kInvalid, std::string("cannot read ") + what + " " + path + ": " + strerror(errno));
  std::getline(in, *out);
  while (!out->empty() && (out->back() == '\r' || out->back() == '\n')) out->pop_back();
  return Ok();
}

std::string LastGitMessage() {
  const git_error* e = git_error_last();
  if (e == nullptr || e->message == nullptr || e->message[0] == '\0') return "unknown libgit2 error";
  return e->message;
}

std::string OidHex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

namespace {

bool IsHex40(const std::string& s) {
  if (s.size() != GIT_OID_HEXSZ) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Result<git_oid> ParseOid(const std::string& hex, const char* what) {
  git_oid oid;
  if (!IsHex40(hex) || git_oid_fromstr(&oid, hex.c_str()) != 0) {
    return Error(Code::kInvalid, std::string(what) + " \"" + hex + "\" is not a 40-hex object id");
  }
  return oid;
}

// The URL rules of RemoteOptions: no password in it; a local path is made
// absolute so the mirror does not depend on the working directory.
Result<std::string> CheckUrl(const std::string& url) {
  if (url.empty()) return Error(Code::kInvalid, "no repository URL given");
  size_t scheme_end = url.find("://");
  std::string userinfo;
  if (scheme_end != std::string::npos) {
    std::string scheme = AsciiLower(url.substr(0, scheme_end));
    if (scheme != "file" && scheme != "http" && scheme != "https" && scheme != "ssh" && scheme != "git" &&
        scheme != "ssh+git" && scheme != "git+ssh") {
      return Error(Code::kInvalid, "repository URL scheme \"" + scheme +
                                       "\" is not supported (use a path, file://, http(s)://, ssh:// or git://)");
    }
    std::string authority = url.substr(scheme_end + 3);
    authority = authority.substr(0, authority.find('/'));
    size_t at = authority.rfind('@');
    if (at != std::string::npos) userinfo = authority.substr(0, at);
  } else {
    // scp-like "user@host:path" (the colon comes before any slash), else a
    // local path.
    size_t at = url.find('@');
    size_t slash = url.find('/');
    bool has_user = at != std::string::npos && (slash == std::string::npos || at < slash);
    std::string rest = has_user ? url.substr(at + 1) : url;
    size_t colon = rest.find(':');
    size_t rest_slash = rest.find('/');
    bool scp_like = colon != std::string::npos && colon > 1 && (rest_slash == std::string::npos || colon < rest_slash);
    if (!scp_like) return std::filesystem::absolute(url).lexically_normal().string();
    if (has_user) userinfo = url.substr(0, at);
  }
  if (userinfo.find(':') != std::string::npos) {
    // Not even the URL goes into this message: it holds the secret.
    return Error(Code::kInvalid,
                 "the repository URL carries a password; give the user name and a password file instead "
                 "(--repo-username, --repo-password-file)");
  }
  const std::string scheme = scheme_end == std::string::npos ? "" : AsciiLower(url.substr(0, scheme_end));
  if ((scheme == "http" || scheme == "https") && url.find_first_of("?#") != std::string::npos) {
    // https://host/x.git?token=… would be shown wherever the URL is.
    return Error(Code::kInvalid,
                 "the repository URL has a query string or fragment (not shown here: it may hold a token); give the "
                 "URL without it, and a token with --repo-username and --repo-password-file");
  }
  if (!userinfo.empty() && (scheme == "http" || scheme == "https")) {
    // https://TOKEN@host/… is how tokens are often written: it would be
    // shown (status, log, the mirror's config). Nor is it repeated here.
    return Error(Code::kInvalid,
                 "the repository URL has a user part before '@', which for HTTP(S) is often a token; give the URL "
                 "without it, the user with --repo-username and the password or token in a file with "
                 "--repo-password-file");
  }
  return url;
}

// ssh://, ssh+git://, git+ssh:// or scp-like user@host:path.
bool IsSshUrl(const std::string& url) {
  size_t sep = url.find("://");
  if (sep != std::string::npos) {
    const std::string scheme = AsciiLower(url.substr(0, sep));
    return scheme == "ssh" || scheme == "ssh+git" || scheme == "git+ssh";
  }
  auto checked = CheckUrl(url);
  return checked && *checked == url && !url.starts_with("/");
}

Status CheckReadable(const std::string& path, const char* flag) {
  if (path.empty()) return Ok();
  std::ifstream in(path);
  if (!in) return Error(Code::kInvalid, std::string("cannot read ") + flag + " " + path + ": " + strerror(errno));
  return Ok();
}

}  // namespace

Result<Followed> ParseFollowed(const std::string& ref) {
  Followed f;
  if (ref.empty()) return Error(Code::kInvalid, "no ref to follow given (a branch, refs/tags/X, or a commit id)");
  if (IsHex40(ref)) {
    f.kind = Followed::Kind::kCommit;
    f.commit = AsciiLower(ref);
    f.label = "commit " + f.commit;
    return f;
  }
  if (ref.starts_with("refs/heads/")) {
    f.kind = Followed::Kind::kBranch;
    f.refname = ref;
    f.label = "branch " + ref.substr(11);
  } else if (ref.starts_with("refs/tags/")) {
    f.kind = Followed::Kind::kTag;
    f.refname = ref;
    f.label = "tag " + ref.substr(10);
  } else if (ref.starts_with("refs/")) {
    f.kind = Followed::Kind::kRef;
    f.refname = ref;
    f.label = "ref " + ref;
  } else {
    f.kind = Followed::Kind::kBranch;
    f.refname = "refs/heads/" + ref;
    f.label = "branch " + ref;
  }
  int valid = 0;
  if (git_reference_name_is_valid(&valid, f.refname.c_str()) != 0 || !valid) {
    return Error(Code::kInvalid, "\"" + ref + "\" is not a valid branch, tag or ref name");
  }
  return f;
}

Mirror::Mirror(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Mirror::~Mirror() = default;

const RemoteOptions& Mirror::options() const {
  return impl_->options;
}

namespace {

// What a process killed in the middle of a fetch or a ref update leaves in
// the mirror: lock files (every later update of that ref or of the config
// would fail on them, across restarts) and half-written packs. Only bosun
// uses its mirror, and one process at a time (DATA/bosun.lock), so any
// there when it opens it are stale.
void RemoveLeftovers(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  auto remove = [&](const fs::path& p) {
    std::error_code rm_ec;
    if (fs::remove(p, rm_ec))
      log::Info("gitsync", "removed a stale file of an interrupted update", {{"file", p.string()}});
  };
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".lock") remove(entry.path());
  }
  for (auto it = fs::recursive_directory_iterator(fs::path(dir) / "refs", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".lock") remove(it->path());
  }
  for (const auto& entry : fs::directory_iterator(fs::path(dir) / "objects" / "pack", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("pack_git2_") || name.starts_with("tmp_")) remove(entry.path());
  }
}

}  // namespace

// A change of URL or followed ref forgets the last head.
Status Mirror::Impl::OpenRepository() {
  RemoveLeftovers(dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error(Code::kIo, "cannot create the mirror directory " + dir + ": " + ec.message());
  git_repository* raw = nullptr;
  if (git_repository_open_bare(&raw, dir.c_str()) != 0 && git_repository_init(&raw, dir.c_str(), 1) != 0) {
    return Error(Code::kIo, "cannot create a bare repository in " + dir + ": " + LastGitMessage());
  }
  repo.reset(raw);

  // The remote is stored as "origin" so a person can inspect the mirror
  // with git; the URL never carries credentials (checked above).
  bool moved = false;
  git_remote* remote = nullptr;
  int rc = git_remote_lookup(&remote, raw, "origin");
  if (rc == GIT_ENOTFOUND) {
    rc = git_remote_create(&remote, raw, "origin", fetch_url.c_str());
  } else if (rc == 0 && fetch_url != git_remote_url(remote)) {
    rc = git_remote_set_url(raw, "origin", fetch_url.c_str());
    moved = true;
  }
  RemotePtr remote_owner(remote);
  if (rc != 0) return Error(Code::kIo, "cannot record the remote in " + dir + ": " + LastGitMessage());

  // The last good commit belongs to one URL and one followed ref: after a
  // change of either, Head() knows nothing until the next Fetch.
  git_config* config_raw = nullptr;
  if (git_repository_config(&config_raw, raw) != 0) {
    return Error(Code::kIo, "cannot read the configuration of " + dir + ": " + LastGitMessage());
  }
  ConfigPtr config(config_raw);
  GitBuf followed_before;
  bool same_ref = git_config_get_string_buf(&followed_before.buf, config.get(), "bosun.followed") == 0 &&
                  followed_before.str() == options.ref;
  if (moved || !same_ref) {
    git_reference* head = nullptr;
    if (git_reference_lookup(&head, raw, kHeadRef) == 0) {
      git_reference_delete(head);
      git_reference_free(head);
    }
    if (git_config_set_string(config.get(), "bosun.followed", options.ref.c_str()) != 0) {
      return Error(Code::kIo, "cannot write the configuration of " + dir + ": " + LastGitMessage());
    }
  }
  return Ok();
}

namespace {
// The system's CAs, one file each (Debian's ca-certificates).
constexpr const char* kSystemCaDir = "/etc/ssl/certs";
}  // namespace

Result<std::unique_ptr<Mirror>> Mirror::Open(const std::string& dir, const RemoteOptions& options) {
  InitLibgit2();
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  auto url = CheckUrl(options.url);
  if (!url) return url.error();
  impl->fetch_url = *url;
  auto followed = ParseFollowed(options.ref);
  if (!followed) return followed.error();
  impl->followed = *followed;
  if (options.timeout.count() <= 0) return Error(Code::kInvalid, "the fetch timeout must be positive");
  if (IsSshUrl(options.url) && options.ssh_known_hosts_file.empty() && !options.ssh_accept_any_host_key) {
    return Error(Code::kInvalid,
                 "an SSH repository needs --repo-known-hosts-file, the host keys to trust (e.g. `ssh-keyscan -p PORT "
                 "HOST > known_hosts`, then compare the fingerprints with the Git host's): without it anyone on the "
                 "way to the Git server could serve the cluster's manifests (--repo-insecure-skip-host-key-check "
                 "accepts any host key)");
  }
  for (auto [path, flag] : {std::pair{options.password_file, "--repo-password-file"},
                            std::pair{options.ssh_key_file, "--repo-ssh-key-file"},
                            std::pair{options.ssh_passphrase_file, "--repo-ssh-key-passphrase-file"},
                            std::pair{options.ssh_known_hosts_file, "--repo-known-hosts-file"},
                            std::pair{options.ca_file, "--repo-ca-file"}}) {
    if (auto st = CheckReadable(path, flag); !st) return st.error();
  }
  if (!options.ca_file.empty()) {
    // libgit2 (mbedTLS here) reads the file and the system's folder of
    // CAs into one chain; a file without a certificate is refused.
    std::error_code exists_ec;
    const char* system_dir = std::filesystem::is_directory(kSystemCaDir, exists_ec) ? kSystemCaDir : nullptr;
    if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, options.ca_file.c_str(), system_dir) != 0) {
      return Error(Code::kInvalid, "--repo-ca-file " + options.ca_file +
                                       ": no CA certificate could be read from it (a PEM file of CA certificates, "
                                       "-----BEGIN CERTIFICATE-----): " +
                                       LastGitMessage());
    }
  }
  // An empty password would be sent at every fetch.
  if (!options.password_file.empty()) {
    std::string password;
    if (auto st = ReadSecretFile(options.password_file, "--repo-password-file", &password); !st) return st.error();
    const bool empty = password.empty();
    crypto::Wipe(password);
    if (empty) {
      return Error(Code::kInvalid, "--repo-password-file " + options.password_file +
                                       ": its first line is empty (write the password or token there)");
    }
  }

  if (auto st = impl->OpenRepository(); !st) return st.error();
  return std::unique_ptr<Mirror>(new Mirror(std::move(impl)));
}

Result<std::string> Mirror::Head() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  git_oid oid;
  if (git_reference_name_to_id(&oid, impl_->repo.get(), kHeadRef) != 0) {
    return Error(Code::kNotFound,
                 "no fetch of " + impl_->options.url + " (" + impl_->followed.label + ") has succeeded yet");
  }
  return OidHex(oid);
}

Result<RemotePtr> Mirror::Impl::Origin(const std::string& what) {
  git_remote* raw = nullptr;
  if (git_remote_lookup(&raw, repo.get(), "origin") != 0) {
    return Error(Code::kIo, what + "the mirror has no remote: " + LastGitMessage());
  }
  RemotePtr remote(raw);
  const char* on_disk = git_remote_url(remote.get());
  if (on_disk != nullptr && fetch_url == on_disk) return remote;
  log::Warn("gitsync", "the mirror's remote was changed on disk; using the URL bosun was started with",
            {{"url", options.url}, {"dir", dir}});
  if (git_remote_set_url(repo.get(), "origin", fetch_url.c_str()) != 0 ||
      git_remote_lookup(&raw, repo.get(), "origin") != 0) {
    return Error(Code::kIo, what + "cannot set the mirror's remote back to " + options.url + ": " + LastGitMessage());
  }
  return RemotePtr(raw);
}

Result<CommitPtr> Mirror::Impl::LookupCommit(const std::string& spec) const {
  if (spec.empty()) return Error(Code::kInvalid, "no commit given");
  git_object* raw = nullptr;
  int rc = git_revparse_single(&raw, repo.get(), spec.c_str());
  ObjectPtr obj(raw);
  if (rc == GIT_ENOTFOUND) return Error(Code::kNotFound, "no commit \"" + spec + "\" in the mirror of " + options.url);
  if (rc == GIT_EAMBIGUOUS) return Error(Code::kInvalid, "\"" + spec + "\" names more than one object");
  if (rc != 0) return Error(Code::kInvalid, "cannot resolve \"" + spec + "\": " + LastGitMessage());
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT) != 0) {
    return Error(Code::kInvalid, "\"" + spec + "\" is not a commit");
  }
  return CommitPtr(reinterpret_cast<git_commit*>(peeled));
}

Result<std::string> Mirror::Resolve(const std::string& spec) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto commit = impl_->LookupCommit(spec);
  if (!commit) return commit.error();
  return OidHex(*git_commit_id(commit->get()));
}

namespace {

Person ToPerson(const git_signature* sig) {
  Person p;
  if (sig == nullptr) return p;
  p.name = sig->name != nullptr ? sig->name : "";
  p.email = sig->email != nullptr ? sig->email : "";
  p.time = sig->when.time;
  p.offset_minutes = sig->when.offset;
  return p;
}

}  // namespace

Result<CommitInfo> Mirror::Commit(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto commit = impl_->LookupCommit(id);
  if (!commit) return commit.error();
  git_commit* c = commit->get();
  CommitInfo info;
  git_oid oid = *git_commit_id(c);
  info.id = OidHex(oid);
  info.tree = OidHex(*git_commit_tree_id(c));
  for (unsigned i = 0; i < git_commit_parentcount(c); i++) info.parents.push_back(OidHex(*git_commit_parent_id(c, i)));
  info.author = ToPerson(git_commit_author(c));
  info.committer = ToPerson(git_commit_committer(c));
  const char* message = git_commit_message(c);
  info.message = message != nullptr ? message : "";
  const char* summary = git_commit_summary(c);
  info.summary = summary != nullptr ? summary : "";
  GitBuf signature, payload;
  int rc = git_commit_extract_signature(&signature.buf, &payload.buf, impl_->repo.get(), &oid, nullptr);
  if (rc == 0) {
    info.signature = signature.str();
    info.signed_payload = payload.str();
  } else if (rc != GIT_ENOTFOUND) {
    return Error(Code::kIo, "cannot read the signature of commit " + info.id + ": " + LastGitMessage());
  }
  return info;
}

Result<std::string> Mirror::ReadBlob(const std::string& blob) const {
  auto oid = ParseOid(blob, "blob");
  if (!oid) return oid.error();
  std::lock_guard<std::mutex> lock(impl_->mu);
  git_blob* raw = nullptr;
  int rc = git_blob_lookup(&raw, impl_->repo.get(), &*oid);
  BlobPtr b(raw);
  if (rc == GIT_ENOTFOUND) return Error(Code::kNotFound, "no blob " + blob + " in the mirror of " + impl_->options.url);
  if (rc != 0) return Error(Code::kIo, "cannot read blob " + blob + ": " + LastGitMessage());
  return std::string(static_cast<const char*>(git_blob_rawcontent(b.get())),
                     static_cast<size_t>(git_blob_rawsize(b.get())));
}

Result<bool> Mirror::IsAncestor(const std::string& ancestor, const std::string& commit) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto a = impl_->LookupCommit(ancestor);
  if (!a) return a.error();
  auto c = impl_->LookupCommit(commit);
  if (!c) return c.error();
  const git_oid* a_id = git_commit_id(a->get());
  const git_oid* c_id = git_commit_id(c->get());
  if (git_oid_equal(a_id, c_id)) return true;
  int rc = git_graph_descendant_of(impl_->repo.get(), c_id, a_id);
  if (rc < 0) return Error(Code::kIo, "cannot walk the history of " + commit + ": " + LastGitMessage());
  return rc == 1;
}

Result<std::vector<std::string>> Mirror::CommitsBetween(const std::string& from, const std::string& to) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto to_commit = impl_->LookupCommit(to);
  if (!to_commit) return to_commit.error();
  git_revwalk* raw = nullptr;
  if (git_revwalk_new(&raw, impl_->repo.get()) != 0) {
    return Error(Code::kIo, "cannot walk the history of " + to + ": " + LastGitMessage());
  }
  RevwalkPtr walk(raw);
  // Topological and reversed: every commit after its parents, oldest first.
  git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  if (git_revwalk_push(walk.get(), git_commit_id(to_commit->get())) != 0) {
    return Error(Code::kIo, "cannot walk the history of " + to + ": " + LastGitMessage());
  }
  if (!from.empty()) {
    auto from_commit = impl_->LookupCommit(from);
    if (!from_commit) return from_commit.error();
    if (git_revwalk_hide(walk.get(), git_commit_id(from_commit->get())) != 0) {
      return Error(Code::kIo, "cannot walk the history of " + from + ": " + LastGitMessage());
    }
  }
  std::vector<std::string> out;
  git_oid oid;
  int rc;
  while ((rc = git_revwalk_next(&oid, walk.get())) == 0) out.push_back(OidHex(oid));
  if (rc != GIT_ITEROVER) return Error(Code::kIo, "cannot walk the history of " + to + ": " + LastGitMessage());
  return out;
}

std::string FullRefName(const std::string& ref) {
  if (ref.starts_with("refs/")) return ref;
  if (ref.size() == 40 && ref.find_first_not_of("0123456789abcdef") == std::string::npos) return ref;
  return "refs/heads/" + ref;
}

std::string CleanFolder(std::string folder) {
  while (folder.starts_with("./")) folder.erase(0, 2);
  while (folder.ends_with("/")) folder.pop_back();
  if (folder == ".") folder.clear();
  return folder;
}

bool InFolder(const std::string& path, const std::string& folder) {
  return folder.empty() || path == folder || (path.starts_with(folder) && path[folder.size()] == '/');
}

std::vector<SourceFile> ToSourceFiles(const std::vector<TreeFile>& files) {
  std::vector<SourceFile> out;
  out.reserve(files.size());
  for (const TreeFile& f : files) out.push_back(SourceFile{f.path, f.content});
  return out;
}

std::vector<SourceFile> ToSourceFiles(std::vector<TreeFile>&& files) {
  std::vector<SourceFile> out;
  out.reserve(files.size());
  for (TreeFile& f : files) out.push_back(SourceFile{std::move(f.path), std::move(f.content)});
  return out;
}

}  // namespace bosun::gitsync
